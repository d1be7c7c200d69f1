"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (a model version
is loaded: 200, else 503)."""

from fastapi import APIRouter
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.serve.deps import Context
from dimrec.serve.responses import json_response
from dimrec.serve.schemas import HealthPublic, ReadinessPublic


def build_router(settings: Settings) -> APIRouter:  # noqa: ARG001 (every router factory takes them)
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=HealthPublic, summary="The process is up")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @router.get(
        "/readyz",
        response_model=ReadinessPublic,
        responses={503: {"model": ReadinessPublic, "description": "No version loaded yet."}},
        summary="A model version is loaded and answering",
    )
    async def readyz(context: Context) -> Response:
        state = context.follower.state
        status = context.follower.status
        body = {
            "ready": state is not None,
            "version": None if state is None else state.version,
            "items": 0 if state is None else state.index.items_with_lists,
            "hidden": 0 if state is None else len(state.hidden),
            "loaded_at": None if state is None else state.index.loaded_at,
            "store_version": status.store_version,
            "last_error": status.last_error,
            "store_up": status.store_up,
            "retry_in_seconds": _rounded(status.retry_in()),
            "store_replaced": status.store_replaced,
            "store_replaced_at": status.store_replaced_at,
            "index": None if state is None else state.index.source,
            "load_seconds": _rounded(status.load_seconds),
        }
        return json_response(body, 200 if state is not None else 503)

    return router


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
