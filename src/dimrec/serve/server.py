"""Run the API with uvicorn: what ``dimrec serve`` does.

One worker runs the app object in this process. Several workers are separate processes that
uvicorn spawns from the import string :data:`~dimrec.serve.app.FACTORY`; they get the exact
settings of this process as JSON in ``$DIMREC_SERVE_SETTINGS_JSON`` and share Prometheus
metrics through a fresh ``$PROMETHEUS_MULTIPROC_DIR`` removed at exit. Each worker loads the
model version itself and follows the store on its own.

uvicorn runs with httptools and uvloop and without the access log: the request metrics say
what the access log would, at a fraction of the cost.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import uvicorn

from dimrec.config import Settings
from dimrec.errors import StoreError
from dimrec.logs import SERVICE_LEVEL
from dimrec.publish.stores import open_store
from dimrec.serve.app import FACTORY, SETTINGS_ENV, create_app
from dimrec.serve.telemetry import MULTIPROC_ENV

log = logging.getLogger(__name__)


def run(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Serve until interrupted; ``None`` takes the value from ``settings.serve``."""
    host = host or settings.serve.host
    port = settings.serve.port if port is None else port
    workers = workers or settings.serve.workers
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": "httptools",
        "loop": "uvloop",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "log_level": (settings.log_level or SERVICE_LEVEL).lower(),
        "timeout_graceful_shutdown": 10,
        # a spawned worker re-imports the CLI and loads the model version before it answers
        # uvicorn's health pings; on a busy machine that exceeds uvicorn's default 5 s
        "timeout_worker_healthcheck": 60,
    }
    _check_store(settings.store.url)
    log.info("serving on http://%s:%d with %d worker(s)", host, port, workers)
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    with tempfile.TemporaryDirectory(prefix="dimrec-metrics-") as metrics_dir:
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        os.environ[MULTIPROC_ENV] = metrics_dir
        try:
            uvicorn.run(FACTORY, factory=True, workers=workers, **options)
        finally:
            os.environ.pop(SETTINGS_ENV, None)
            os.environ.pop(MULTIPROC_ENV, None)


def _check_store(url: str) -> None:
    """Fail now on a store URL that can never work; a store that is down may come back."""
    try:
        open_store(url).close()
    except StoreError as exc:
        log.warning("the store is not reachable yet (%s); serving once it is", exc)
