"""Recommendations for shoppers: ``GET /make_recommendation`` and ``POST /recommendations``.

``GET /make_recommendation?browsed=a,b&basket=c&purchased=d&n=10`` is the original interface:
each listed item weighs count × action weight (``settings.weights``), score(j) = Σ_i w_i ·
sim(i, j). ``POST /recommendations`` answers several shoppers in one call, each with items and
actions (or explicit weights), ``n``, ``exclude`` and ``keep_input``.

No ``from __future__ import annotations`` here: FastAPI reads the parameter annotations at
runtime, and their bounds come from the settings given to :func:`build_router`.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.errors import InvalidInputError
from dimrec.serve.deps import Context, CurrentState
from dimrec.serve.problems import body_problem
from dimrec.serve.responses import json_response
from dimrec.serve.schemas import (
    ITEM_ID_MAX_LENGTH,
    ITEM_ID_RULE,
    ITEM_LIST_PATTERN,
    ActionInteractionRequest,
    ProblemPublic,
    RecommendationPublic,
    RecommendationsPublic,
    bounded_recommendations_request,
    inline_schema,
)
from dimrec.serve.scoring import Recommendation, Scored, recommend

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemPublic, "description": "The request breaks a rule of the schema."},
    503: {"model": ProblemPublic, "description": "No model version is loaded yet."},
}


def build_router(settings: Settings) -> APIRouter:
    limits = settings.serve
    action_weights = settings.weights.as_dict()
    max_items = limits.max_input_items
    router = APIRouter(tags=["recommendations"])

    def item_list(verb: str, action: str) -> Any:
        return Query(
            pattern=ITEM_LIST_PATTERN,
            max_length=max_items * (ITEM_ID_MAX_LENGTH + 1),
            description=(
                f"Comma-separated items the shopper {verb}; each mention weighs "
                f"{action_weights[action]:g}. {ITEM_ID_RULE}. "
                f"At most {max_items} items in browsed, basket and purchased together."
            ),
        )

    @router.get(
        "/make_recommendation",
        response_model=RecommendationPublic,
        responses=ERRORS,
        summary="Recommendations for one shopper (the original interface)",
    )
    async def make_recommendation(
        context: Context,
        state: CurrentState,
        browsed: Annotated[str, item_list("browsed", "browse")] = "",
        basket: Annotated[str, item_list("put in the basket", "basket")] = "",
        purchased: Annotated[str, item_list("purchased", "purchase")] = "",
        n: Annotated[
            int, Query(ge=1, le=limits.max_n, description="How many recommendations.")
        ] = min(limits.default_n, limits.max_n),
        keep_input: Annotated[
            bool, Query(description="Also return the items given as input.")
        ] = False,
    ) -> Response:
        started = time.perf_counter()
        weights: dict[str, float] = {}
        given = 0
        for listed, action in ((browsed, "browse"), (basket, "basket"), (purchased, "purchase")):
            if listed:
                items = listed.split(",")
                given += len(items)
                weight = action_weights[action]
                for item in items:
                    weights[item] = weights.get(item, 0.0) + weight
        if given > max_items:
            raise InvalidInputError(
                f"{given} input items given in browsed, basket and purchased; "
                f"at most {max_items} are allowed"
            )
        found = recommend(state, weights, n, keep_input=keep_input)
        if found.fallback:
            context.metrics.fallbacks.inc()
        return json_response(
            {
                "results": _scored(found.results),
                "version": state.version,
                "elapsed_ms": _ms_since(started),
                "fallback": found.fallback,
            }
        )

    request_model = bounded_recommendations_request(limits)

    @router.post(
        "/recommendations",
        response_model=RecommendationsPublic,
        responses=ERRORS,
        summary="Recommendations for several shoppers at once",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline_schema(request_model)}},
            }
        },
    )
    async def post_recommendations(
        request: Request, context: Context, state: CurrentState
    ) -> Response:
        started = time.perf_counter()
        try:
            body = request_model.model_validate_json(await request.body())
        except ValidationError as exc:
            return body_problem(exc)
        answers = []
        fallbacks = 0
        for shopper in body.shoppers:
            weights: dict[str, float] = {}
            for given in shopper.items:
                weight = (
                    action_weights[given.action]
                    if isinstance(given, ActionInteractionRequest)
                    else given.weight
                )
                weights[given.item] = weights.get(given.item, 0.0) + weight
            found: Recommendation = recommend(
                state, weights, shopper.n, exclude=shopper.exclude, keep_input=shopper.keep_input
            )
            fallbacks += found.fallback
            answers.append(
                {"id": shopper.id, "results": _scored(found.results), "fallback": found.fallback}
            )
        if fallbacks:
            context.metrics.fallbacks.inc(fallbacks)
        return json_response(
            {"shoppers": answers, "version": state.version, "elapsed_ms": _ms_since(started)}
        )

    return router


def _scored(results: Scored) -> list[dict[str, object]]:
    return [{"item": item, "score": score} for item, score in results]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
