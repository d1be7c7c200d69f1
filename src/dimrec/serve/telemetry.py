"""Prometheus metrics of one server: requests by route template and status, the loaded model.

Each app owns a :class:`ServeMetrics` with its own registry, so several apps can live in one
process (tests). With several worker processes (``dimrec serve --workers N``) the CLI points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start; prometheus_client then
keeps every value in files there and ``/metrics`` sums the request counters and histograms of
all workers and shows each model gauge at its highest live value (``livemax``): during a switch
both versions read 1, afterwards only the new one.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dimrec.serve.follow import FollowStatus
from dimrec.serve.scoring import ServingState

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "<unmatched>"


class ServeMetrics:
    """The metrics of one app; :meth:`render` is the body of ``/metrics``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry(auto_describe=True)
        if self.multiprocess_dir is None:
            ProcessCollector(registry=self.registry)
        registry = self.registry
        labels = ("method", "route", "status")
        self.requests = Counter(
            "dimrec_http_requests", "HTTP requests answered.", labels, registry=registry
        )
        self.latency = Histogram(
            "dimrec_http_request_duration_seconds",
            "Time to answer an HTTP request, from the first byte read to the last sent.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fallbacks = Counter(
            "dimrec_fallback_answers",
            "Shoppers answered from the popularity list because no input item was known.",
            registry=registry,
        )
        self.model_info = Gauge(
            "dimrec_model_version_info",
            "1 for the model version being served.",
            ("version",),
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.model_items = Gauge(
            "dimrec_model_items",
            "Items with a neighbour list in the served version.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.hidden_items = Gauge(
            "dimrec_hidden_items",
            "Items hidden from every answer.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.loaded_at = Gauge(
            "dimrec_model_loaded_timestamp_seconds",
            "When the served version was loaded (Unix time).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.load_failures = Counter(
            "dimrec_model_load_failures",
            "Failed attempts to load a model version from the store.",
            registry=registry,
        )
        self.load_seconds = Gauge(
            "dimrec_model_load_seconds",
            "Time the served version took to load (map its index file, or read its entries).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.index_bytes = Gauge(
            "dimrec_model_index_bytes",
            "Size of the served version's index (mapped and shared by the workers of a host).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.retry_seconds = Gauge(
            "dimrec_model_retry_seconds",
            "Seconds until a version that failed to load is tried again (0: none waits).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.store_up = Gauge(
            "dimrec_store_up",
            "1 when the last poll of the store succeeded, 0 when it is unreachable or broken.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.store_replaced = Gauge(
            "dimrec_store_replaced",
            "Times the store was found replaced (its file deleted and made again) and re-read.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.worker_requests = Gauge(
            "dimrec_worker_requests",
            "HTTP requests answered by this worker process (one series per worker).",
            registry=registry,
            multiprocess_mode="all",
        )
        self._served: str | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        self.worker_requests.inc()

    def serving(self, state: ServingState) -> None:
        """Record the state now served (a new version or new hidden items)."""
        version = state.version
        if version != self._served:
            if self._served is not None:
                self.model_info.labels(self._served).set(0)
            self.model_info.labels(version).set(1)
            self._served = version
            self.loaded_at.set(time.time())
        self.model_items.set(state.index.items_with_lists)
        self.hidden_items.set(len(state.hidden))
        self.index_bytes.set(state.index.nbytes)

    def following(self, status: FollowStatus) -> None:
        """Record what the store follower last saw."""
        self.store_up.set(1 if status.store_up else 0)
        self.store_replaced.set(status.store_replaced)
        self.retry_seconds.set(status.retry_in() or 0)
        if status.load_seconds is not None:
            self.load_seconds.set(status.load_seconds)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template (``/items/{item}/...``)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - start)
