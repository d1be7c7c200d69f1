"""What routes get from the app: ``Annotated`` dependency aliases for FastAPI routes, and the
same as plain functions for the lean routes (:mod:`dimrec.serve.lean`).

Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread
pool, a hop that would cost more than scoring a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from dimrec.config import Settings
from dimrec.errors import StoreError
from dimrec.serve.follow import StoreFollower
from dimrec.serve.problems import query_problems
from dimrec.serve.scoring import ServingState
from dimrec.serve.telemetry import ServeMetrics


@dataclass(frozen=True)
class ServeContext:
    """The parts of one app, kept in ``app.state.context``."""

    settings: Settings
    follower: StoreFollower
    metrics: ServeMetrics


def context_of(request: Request) -> ServeContext:
    context: ServeContext = request.app.state.context
    return context


def state_of(context: ServeContext) -> ServingState:
    """The state a request answers from: take it once and keep it for the whole request.
    Raises StoreError (503) while no version is loaded."""
    state = context.follower.state
    if state is None:
        raise StoreError(
            "no model version is loaded yet: publish one (dimrec publish) and the server "
            f"loads it within {context.settings.serve.refresh_seconds:g} s; see /readyz"
        )
    return state


async def serve_context(request: Request) -> ServeContext:
    return context_of(request)


async def serving_state(request: Request) -> ServingState:
    return state_of(context_of(request))


Context = Annotated[ServeContext, Depends(serve_context)]
CurrentState = Annotated[ServingState, Depends(serving_state)]


async def known_query(request: Request) -> None:
    """Refuse (422) query parameters the route does not take or that are repeated: the
    FastAPI routes' twin of :func:`dimrec.serve.problems.parse_query`."""
    pairs = request.query_params.multi_items()
    if not pairs:
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    problems = query_problems(pairs, sorted(_query_names(dependant)))
    if problems:
        raise RequestValidationError(problems)


def _query_names(dependant: Any) -> set[str]:
    """The query parameter names of a FastAPI route's dependant and its dependencies."""
    if dependant is None:
        return set()
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
