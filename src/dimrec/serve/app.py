"""Build the HTTP app: :func:`create_app` (tests, one process) and
:func:`create_app_from_environment` (each worker process of ``dimrec serve --workers N``).

The app only answers from memory. A :class:`~dimrec.serve.follow.StoreFollower`, started with
the app and stopped with it, keeps the loaded model version in step with the store; the app
loads the store's current version (if any) before it accepts its first connection.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.middleware.errors import ServerErrorMiddleware

from dimrec import __version__
from dimrec.config import Settings, load_settings
from dimrec.logs import setup_logging
from dimrec.publish.base import Store
from dimrec.publish.stores import open_store
from dimrec.serve import console, lean
from dimrec.serve.deps import ServeContext, known_query
from dimrec.serve.follow import StoreFollower
from dimrec.serve.limits import BodyLimit
from dimrec.serve.problems import install_error_handlers
from dimrec.serve.routes import health, items, jobs, metrics, recommendations
from dimrec.serve.schemas import request_models
from dimrec.serve.telemetry import MetricsMiddleware, ServeMetrics

#: Environment variable carrying the settings (JSON) from ``dimrec serve`` to its workers.
SETTINGS_ENV = "DIMREC_SERVE_SETTINGS_JSON"
#: Import string of the worker factory, for uvicorn.
FACTORY = "dimrec.serve.app:create_app_from_environment"

DESCRIPTION = """\
Item-to-item recommendations from the published model version held in memory.

Item ids are 1 to 128 characters without control characters, spaces or commas. Input items are
left out of the answers unless `keep_input`; unknown items are ignored; when no input item is
known the most popular items answer and the answer says `fallback`. Hidden items never appear.
"""


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The API over ``store`` (default: open ``settings.store.url``).

    A store given here stays the caller's (the app does not close it); one opened here is
    opened and closed by the app's follower thread.
    """
    open_: Callable[[], Store] = (lambda: store) if store is not None else _opener(settings)
    telemetry = ServeMetrics()
    follower = StoreFollower(
        open_,
        refresh_seconds=settings.serve.refresh_seconds,
        popularity_depth=settings.serve.max_n + settings.serve.max_input_items,
        index_cache=index_cache(settings),
        max_backoff_seconds=settings.serve.retry_max_seconds,
        on_change=telemetry.serving,
        on_load_failure=telemetry.load_failures.inc,
        on_status=telemetry.following,
        owns_store=store is None,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # load the current version before accepting connections: with several workers, no
        # request reaches a worker that has not loaded it (one published later loads behind)
        await asyncio.to_thread(follower.refresh)
        follower.start()
        try:
            yield
        finally:
            follower.stop()

    app = FastAPI(
        title="dimrec",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # dimrec exports Prometheus metrics itself (/metrics); FastAPI's OpenTelemetry hooks
        # would only cost a check per request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = ServeContext(settings=settings, follower=follower, metrics=telemetry)
    install_error_handlers(app)
    for routes in (health, metrics, jobs):
        # the API refuses query parameters a route does not take (the console reads its own)
        app.include_router(routes.build_router(settings), dependencies=[Depends(known_query)])
    if settings.serve.console:
        console.install(app, settings, store)  # the web console at /ui, off the hot path
    app.add_middleware(MetricsMiddleware, metrics=telemetry)
    models = request_models(settings.serve, settings.weights)
    hot = [*recommendations.endpoints(settings, models), *items.endpoints(settings, models)]
    # the fast lane in front of the framework's layers, behind only an unexpected error's 500
    # and the body limit
    limit = settings.serve.max_body_bytes
    lean.install(
        app, hot, telemetry, lambda inner: ServerErrorMiddleware(BodyLimit(inner, limit, telemetry))
    )
    return app


def create_app_from_environment() -> FastAPI:
    """Worker factory: the settings ``dimrec serve`` put in ``$DIMREC_SERVE_SETTINGS_JSON``
    (else the usual settings file and environment)."""
    payload = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate_json(payload) if payload else load_settings()
    setup_logging(settings.log_level, service=True)
    return create_app(settings)


def index_cache(settings: Settings) -> Path:
    """Where this host keeps its copies of serving index files (``serve.index_cache``, else
    ``<paths.data>/index-cache`` on a local data folder, else the temporary folder)."""
    if settings.serve.index_cache:
        return Path(settings.serve.index_cache)
    data = settings.paths.data
    if "://" not in data:
        return Path(data) / "index-cache"
    return Path(tempfile.gettempdir()) / "dimrec-index-cache"


def _opener(settings: Settings) -> Callable[[], Store]:
    url = settings.store.url
    return lambda: open_store(url)
