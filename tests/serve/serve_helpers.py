"""Helpers of the serve tests: a real uvicorn server on loopback, versions written straight
through the store API or published from model folders, and waiting for the server to catch
up."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import uvicorn
from fastapi import FastAPI

from dimrec import model
from dimrec.config import ServeSettings, StoreSettings
from dimrec.publish import publisher
from dimrec.publish.base import Entry, Store
from dimrec.serve.limits import LimitConfig
from model_helpers import training
from ports import free_port

Lists = Mapping[str, Sequence[tuple[str, float]]]
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@contextmanager
def live_server(app: FastAPI, limits: ServeSettings | None = None) -> Iterator[str]:
    """Run ``app`` with uvicorn (httptools, with the request limits ``dimrec serve`` uses) in a
    thread on a free loopback port; yield its URL."""
    port = free_port()
    config = LimitConfig(
        app,
        limits=limits or ServeSettings(),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def put_version(
    store: Store,
    version: str,
    lists: Lists,
    popularity: Sequence[tuple[str, float]] = (),
    *,
    activate: bool = True,
) -> None:
    """Write a whole version through the store API (what the publisher does) and activate it."""
    store.stage(version, {"version": version, "items": len(lists)})
    store.put_entries(
        version,
        [
            Entry(item, tuple(n for n, _ in pairs), tuple(s for _, s in pairs))
            for item, pairs in lists.items()
        ],
    )
    store.put_popularity(version, [i for i, _ in popularity], [s for _, s in popularity])
    if activate:
        store.activate(version)


def wait_for(
    condition: Callable[[], Any], timeout: float = 10.0, what: str = "the condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def served_version(client: httpx.Client) -> str | None:
    answer = client.get("/readyz").json()
    version: str | None = answer["version"]
    return version


def publish_lists(
    store: Store,
    models: Path,
    lists: Lists,
    *,
    minute: int,
    popularity: Sequence[tuple[str, float]] = (),
    **settings: Any,
) -> str:
    """Write a model folder holding ``lists`` and publish it as the publisher does (entries
    and serving index); returns its version. A later minute makes a later version."""
    rows = [(item, n, s) for item, pairs in lists.items() for n, s in pairs]
    written = model.write_model(
        str(models),
        neighbours=pa.table(
            {
                "item": pa.array([r[0] for r in rows], pa.string()),
                "neighbour": pa.array([r[1] for r in rows], pa.string()),
                "similarity": pa.array([r[2] for r in rows], pa.float64()),
            }
        ),
        popularity=model.popularity_table(
            [i for i, _ in popularity], [s for _, s in popularity], [1] * len(popularity)
        ),
        training=training(items=len(lists)),
        version=model.new_version(T0 + dt.timedelta(minutes=minute)),
    )
    publisher.publish_model(store, written, StoreSettings(**settings))
    return written.version
