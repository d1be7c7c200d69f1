"""An item's neighbours: ``GET /items/{item}/similar?n=10``.

No ``from __future__ import annotations`` here: FastAPI reads the parameter annotations at
runtime, and their bounds come from the settings given to :func:`build_router`.
"""

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.errors import MissingDataError
from dimrec.serve.deps import CurrentState
from dimrec.serve.responses import json_response
from dimrec.serve.schemas import (
    ITEM_ID_MAX_LENGTH,
    ITEM_ID_PATTERN,
    ITEM_ID_RULE,
    ProblemPublic,
    SimilarItemsPublic,
)
from dimrec.serve.scoring import similar


def build_router(settings: Settings) -> APIRouter:
    limits = settings.serve
    router = APIRouter(tags=["items"])

    @router.get(
        "/items/{item}/similar",
        response_model=SimilarItemsPublic,
        responses={
            404: {"model": ProblemPublic, "description": "The model has no list for the item."},
            422: {"model": ProblemPublic, "description": "The request breaks a rule."},
            503: {"model": ProblemPublic, "description": "No model version is loaded yet."},
        },
        summary="The item's most similar items, best first (hidden items left out)",
    )
    async def similar_items(
        state: CurrentState,
        item: Annotated[
            str,
            Path(pattern=ITEM_ID_PATTERN, max_length=ITEM_ID_MAX_LENGTH, description=ITEM_ID_RULE),
        ],
        n: Annotated[int, Query(ge=1, le=limits.max_n, description="How many neighbours.")] = min(
            limits.default_n, limits.max_n
        ),
    ) -> Response:
        started = time.perf_counter()
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

    return router
