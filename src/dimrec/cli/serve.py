"""CLI commands of the serve stage: ``dimrec serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from dimrec.cli.common import settings_of


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on [serve.host].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port to listen on [serve.port]."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes [serve.workers]."),
    ] = None,
) -> None:
    """Serve recommendations over HTTP from the store's current model version.

    Follows the store: a publish, rollback or hide takes effect within serve.refresh_seconds.
    API docs at /docs; readiness at /readyz; Prometheus metrics at /metrics.
    """
    from dimrec.serve.server import run  # FastAPI and uvicorn load only for this command

    run(settings_of(ctx), host=host, port=port, workers=workers)
