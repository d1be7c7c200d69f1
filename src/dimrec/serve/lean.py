"""The hot routes, answered in a fast lane in front of the FastAPI router and documented in the
app's OpenAPI schema from the same models that validate them.

Why: on every request, this FastAPI's routing, exception and exit-stack layers and its
per-parameter dependency solving cost several times what scoring a shopper does (measured with
bench/serve_load.py; see bench/README.md). So the recommendation and item routes are
:class:`LeanEndpoint`\\ s — an ``async`` handler taking the Starlette ``Request`` and validating
its query, path and body with one pydantic model each — and :class:`FastLane`, a plain ASGI
middleware at the front of the app's middleware stack, answers them directly:

- a request whose path and method match an endpoint goes to its handler; a known path with
  another method gets 405 (with ``Allow``); anything else passes on to FastAPI;
- a :class:`~dimrec.errors.DimrecError` becomes its problem answer
  (:func:`dimrec.serve.problems.status_for`), as the app's exception handlers would do;
- the request is counted and timed in the same Prometheus metrics as every other route.

The fast lane sits in front of the framework's middleware stack (FastAPI's own layers each wrap
``send`` and add awaits to every request), behind only what the app puts in front of it: the
request limits (:mod:`dimrec.serve.limits`) and an error layer answering 500 to an unexpected
exception. With the scorer's changes of the same commit this took one worker from about 2,700
to 3,300 answers a second at 10 input items (``dimrec serve --workers 1``, wrk, 8 connections).

:func:`install` adds the fast lane and merges one OpenAPI operation per endpoint — generated
from its query, path and body models and its response models — into the app's schema.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from dimrec.errors import DimrecError
from dimrec.serve.problems import problem, status_for
from dimrec.serve.telemetry import ServeMetrics

REF = "#/components/schemas/{model}"
Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class LeanEndpoint:
    """One route answered by ``handler`` and documented from the models."""

    method: Literal["GET", "POST"]
    path: str
    """Path template, e.g. ``/items/{item}/similar`` (Starlette syntax)."""
    handler: Handler
    summary: str
    tag: str
    responses: Mapping[int, tuple[type[BaseModel], str]]
    """Status → (body model, description); the first is the success answer."""
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    body: type[BaseModel] | None = None


@dataclass(frozen=True)
class _Path:
    template: str
    pattern: re.Pattern[str]
    handlers: dict[str, Handler]


class FastLane:
    """ASGI middleware answering the lean endpoints; see the module docstring."""

    def __init__(
        self, app: ASGIApp, endpoints: Sequence[LeanEndpoint], metrics: ServeMetrics
    ) -> None:
        self.app = app
        self.metrics = metrics
        paths: dict[str, _Path] = {}
        for endpoint in endpoints:
            if endpoint.path not in paths:
                pattern = compile_path(endpoint.path)[0]
                paths[endpoint.path] = _Path(endpoint.path, pattern, {})
            handlers = paths[endpoint.path].handlers
            handlers[endpoint.method] = endpoint.handler
            if endpoint.method == "GET":
                handlers["HEAD"] = endpoint.handler
        self.static = {p.template: p for p in paths.values() if "{" not in p.template}
        self.templated = [p for p in paths.values() if "{" in p.template]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        found = self.static.get(path)
        if found is None:
            for candidate in self.templated:
                match = candidate.pattern.match(path)
                if match is not None:
                    found = candidate
                    scope["path_params"] = match.groupdict()
                    break
            else:
                await self.app(scope, receive, send)
                return
        started = time.perf_counter()
        status = 500
        try:
            handler = found.handlers.get(scope["method"])
            if handler is None:
                response = problem(405, "Method Not Allowed")
                response.headers["Allow"] = ", ".join(sorted(found.handlers))
            else:
                try:
                    response = await handler(Request(scope, receive))
                except DimrecError as exc:
                    response = problem(status_for(exc), str(exc))
            status = response.status_code
            await response(scope, receive, send)
        finally:
            self.metrics.observe(
                scope["method"], found.template, status, time.perf_counter() - started
            )


def install(
    app: FastAPI,
    endpoints: Sequence[LeanEndpoint],
    metrics: ServeMetrics,
    front: Callable[[ASGIApp], ASGIApp],
) -> None:
    """Answer ``endpoints`` in front of ``app``'s middleware stack, behind only ``front``
    (which wraps the fast lane), and document them in its schema."""
    build_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return front(FastLane(build_stack(), endpoints, metrics))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _document(schema, endpoints)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(schema: dict[str, Any], endpoints: Sequence[LeanEndpoint]) -> None:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for endpoint in endpoints:
        models += [(model, "serialization") for model, _ in endpoint.responses.values()]
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definitions.get("$defs", {}))
    paths = schema.setdefault("paths", {})
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "tags": [endpoint.tag],
            "summary": endpoint.summary,
            "operationId": f"{endpoint.handler.__name__}_{endpoint.method.lower()}",
            "parameters": [
                *_parameters(endpoint.path_params, "path"),
                *_parameters(endpoint.query, "query"),
            ],
            "responses": {
                str(status): {
                    "description": description,
                    "content": {"application/json": {"schema": refs[(model, "serialization")]}},
                }
                for status, (model, description) in endpoint.responses.items()
            },
        }
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
            }
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    """OpenAPI parameters, one per field of ``model`` (flat models of plain fields)."""
    if model is None:
        return []
    definition = model.model_json_schema(ref_template=REF)
    required = set(definition.get("required", ()))
    parameters = []
    for name, prop in definition["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
