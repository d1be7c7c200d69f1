"""An item's neighbours: ``GET /items/{item}/similar?n=10`` (a lean route, see
:mod:`dimrec.serve.lean`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.errors import MissingDataError
from dimrec.serve.deps import context_of, state_of
from dimrec.serve.lean import LeanEndpoint
from dimrec.serve.problems import input_problem, parse_query
from dimrec.serve.responses import json_response
from dimrec.serve.schemas import ItemPath, ProblemPublic, RequestModels, SimilarItemsPublic
from dimrec.serve.scoring import similar


def endpoints(settings: Settings, models: RequestModels) -> Sequence[LeanEndpoint]:  # noqa: ARG001
    query_model = models.similar_items_query

    async def similar_items(request: Request) -> Response:
        started = time.perf_counter()
        try:
            item = ItemPath.model_validate(request.path_params).item
        except ValidationError as exc:
            return input_problem(exc, "path")
        query = parse_query(request, query_model)
        if isinstance(query, Response):
            return query
        n = query.n
        state = state_of(context_of(request))
        found = similar(state, item, n)
        if found is None:
            raise MissingDataError(
                f"item {item!r} has no neighbour list in model version {state.version}"
            )
        return json_response(
            {
                "item": item,
                "results": [{"item": other, "score": score} for other, score in found],
                "version": state.version,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )

    return [
        LeanEndpoint(
            "GET",
            "/items/{item}/similar",
            similar_items,
            summary="The item's most similar items, best first (hidden items left out)",
            tag="items",
            path_params=ItemPath,
            query=query_model,
            responses={
                200: (SimilarItemsPublic, "The item's neighbours, best first."),
                404: (ProblemPublic, "The model version has no neighbour list for the item."),
                422: (ProblemPublic, "The request breaks a rule of the schema."),
                503: (ProblemPublic, "No model version is loaded yet."),
            },
        )
    ]
