"""Request size limits, enforced before anything is parsed or read whole.

- The head (request line and headers): :class:`LimitedHttpToolsProtocol`, uvicorn's httptools
  protocol counting the bytes it is fed while a request's head is incomplete. A head larger
  than ``serve.max_header_bytes``, or with more than ``serve.max_headers`` fields, is answered
  431 and the connection closed; the parser never holds more than one read beyond the limit.
- The body: :class:`BodyLimit`, the outermost ASGI middleware, answers 413 to a request whose
  ``Content-Length`` exceeds ``serve.max_body_bytes`` without reading it, and stops a chunked
  body at the first read past the limit. Both answers close the connection, so the rest of an
  oversized body is never read.

Both answer with the API's problem body (``{"message", "errors"}``) and apply to every route:
the fast lane and the FastAPI routes alike.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dimrec.config import ServeSettings
from dimrec.serve.telemetry import ServeMetrics

REFUSED = "<refused>"
"""Route label of requests refused for their size."""


def _problem_body(message: str) -> bytes:
    return orjson.dumps({"message": message, "errors": []})


async def _refuse(send: Send, status: int, message: str) -> None:
    body = _problem_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes (see the module docstring)."""

    def __init__(self, app: ASGIApp, limit: int, metrics: ServeMetrics) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        limit = self.limit
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
                if declared > limit:
                    await self._too_large(scope, send, started, f"is {declared:,} bytes, more")
                    return
                break
        response_started = False
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def noted(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, noted)
        except _BodyTooLarge:
            if response_started:
                raise
            await self._too_large(scope, send, started, "is longer")

    async def _too_large(self, scope: Scope, send: Send, started: float, size: str) -> None:
        await _refuse(
            send,
            413,
            f"the request body {size} than the {self.limit:,} bytes accepted "
            "(serve.max_body_bytes)",
        )
        self.metrics.observe(scope["method"], REFUSED, 413, time.perf_counter() - started)


class LimitConfig(Config):
    """uvicorn's configuration with the head limits of :class:`LimitedHttpToolsProtocol`
    (it travels, pickled, to each worker process)."""

    def __init__(self, app: Any, *, limits: ServeSettings, **options: Any) -> None:
        super().__init__(app, http=LimitedHttpToolsProtocol, **options)
        self.max_header_bytes = limits.header_bytes_limit()
        self.max_headers = limits.max_headers


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on a request's head (see the module
    docstring); the limits come from a :class:`LimitConfig`."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._max_head = int(getattr(config, "max_header_bytes", 64 * 1024))
        self._max_fields = int(getattr(config, "max_headers", 100))
        self._head_open = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._head_open
            and self._head_bytes > self._max_head
            and not self.transport.is_closing()
        ):
            # the head is still incomplete and already too long: never read the rest of it
            self._send_raw_refusal(self._head_message(self._head_bytes, "more than"))

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        problem = None
        if size > self._max_head:
            problem = self._head_message(size, "")
        elif len(self.headers) > self._max_fields:
            problem = (
                f"the request has {len(self.headers)} header fields; at most "
                f"{self._max_fields} are accepted (serve.max_headers)"
            )
        if problem is None:
            super().on_headers_complete()
            return
        app, self.app = self.app, _Refusal(431, problem)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True

    def _head_message(self, size: int, qualifier: str) -> str:
        return (
            f"the request line and headers are {qualifier}{' ' if qualifier else ''}{size:,} "
            f"bytes; at most {self._max_head:,} are accepted (serve.max_header_bytes)"
        )

    def _send_raw_refusal(self, message: str) -> None:
        body = _problem_body(message)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()


class _Refusal:
    """An ASGI app that answers every request with one problem."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        await _refuse(send, self.status, self.message)
