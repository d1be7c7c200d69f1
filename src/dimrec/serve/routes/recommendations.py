"""Recommendations for shoppers: ``GET /make_recommendation`` and ``POST /recommendations``.

``GET /make_recommendation?browsed=a,b&basket=c&purchased=d&n=10`` is the original interface:
each listed item weighs count × action weight (``settings.weights``), score(j) = Σ_i w_i ·
sim(i, j). ``POST /recommendations`` answers several shoppers in one call, each with items and
actions (or explicit weights), ``n``, ``exclude`` and ``keep_input``.

Both are lean routes (:mod:`dimrec.serve.lean`): they validate with the models of
:func:`dimrec.serve.schemas.request_models`, which also document them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.errors import InvalidInputError
from dimrec.serve.deps import context_of, state_of
from dimrec.serve.lean import LeanEndpoint
from dimrec.serve.problems import input_problem, parse_query
from dimrec.serve.responses import json_response
from dimrec.serve.schemas import (
    ActionInteractionRequest,
    ProblemPublic,
    RecommendationPublic,
    RecommendationsPublic,
    RequestModels,
)
from dimrec.serve.scoring import Scored, recommend

INVALID = (ProblemPublic, "The request breaks a rule of the schema; the message says which.")
NOT_READY = (ProblemPublic, "No model version is loaded yet.")


def endpoints(settings: Settings, models: RequestModels) -> Sequence[LeanEndpoint]:
    action_weights = settings.weights.as_dict()
    max_items = settings.serve.max_input_items
    query_model = models.recommendation_query
    body_model = models.recommendations_body
    lists = (("browse", "browsed"), ("basket", "basket"), ("purchase", "purchased"))

    async def make_recommendation(request: Request) -> Response:
        started = time.perf_counter()
        query = parse_query(request, query_model)
        if isinstance(query, Response):
            return query
        weights: dict[str, float] = {}
        given = 0
        for action, name in lists:
            listed: str = getattr(query, name)
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
        context = context_of(request)
        state = state_of(context)
        found = recommend(state, weights, query.n, keep_input=query.keep_input)
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

    async def post_recommendations(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = body_model.model_validate_json(await request.body())
        except ValidationError as exc:
            return input_problem(exc, "body")
        context = context_of(request)
        state = state_of(context)
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
            found = recommend(
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

    return [
        LeanEndpoint(
            "GET",
            "/make_recommendation",
            make_recommendation,
            summary="Recommendations for one shopper (the original interface)",
            tag="recommendations",
            query=query_model,
            responses={
                200: (RecommendationPublic, "The top n items, best first."),
                422: INVALID,
                503: NOT_READY,
            },
        ),
        LeanEndpoint(
            "POST",
            "/recommendations",
            post_recommendations,
            summary="Recommendations for several shoppers at once",
            tag="recommendations",
            body=body_model,
            responses={
                200: (RecommendationsPublic, "One block per shopper, in request order."),
                422: INVALID,
                503: NOT_READY,
            },
        ),
    ]


def _scored(results: Scored) -> list[dict[str, object]]:
    return [{"item": item, "score": score} for item, score in results]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
