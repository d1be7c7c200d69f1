"""Prometheus metrics: ``GET /metrics`` (text exposition format)."""

from fastapi import APIRouter
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.serve.deps import Context


def build_router(settings: Settings) -> APIRouter:  # noqa: ARG001 (every router factory takes them)
    router = APIRouter(tags=["operations"])

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics: requests by route and status, the served model version",
    )
    async def metrics(context: Context) -> Response:
        exposition = context.metrics
        return Response(exposition.render(), media_type=exposition.content_type)

    return router
