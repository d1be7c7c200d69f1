"""Errors at the HTTP edge: every failure answers a :class:`~dimrec.serve.schemas.ProblemPublic`.

- a request that breaks the schema or a limit → 422, one line per problem with its location
  (``query.n``, ``body.shoppers.0.items``) and what is wrong; never the raw input echoed back;
- :class:`~dimrec.errors.InvalidInputError` → 422, :class:`~dimrec.errors.MissingDataError` →
  404, :class:`~dimrec.errors.StoreError` (store unreachable, no version loaded yet) → 503,
  any other :class:`~dimrec.errors.DimrecError` → 500 with its message;
- HTTP errors raised by routing (404, 405) keep their status with the same body shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dimrec.errors import DimrecError, InvalidInputError, MissingDataError, StoreError
from dimrec.items import ITEM_ID_RULE
from dimrec.serve.responses import json_response

MAX_LISTED = 20
QueryModel = TypeVar("QueryModel", bound=BaseModel)

_FRIENDLY = {
    "string_pattern_mismatch": ITEM_ID_RULE,
    "json_invalid": "the body is not valid JSON",
    "model_attributes_type": "expected a JSON object",
    "model_type": "expected a JSON object",
}


def problem(status: int, message: str, errors: Sequence[dict[str, str]] = ()) -> Response:
    return json_response({"message": _safe(message), "errors": list(errors)}, status)


def body_problem(exc: ValidationError) -> Response:
    """422 for a request body that failed its model."""
    return input_problem(exc, "body")


def input_problem(exc: ValidationError, where: str) -> Response:
    """422 for a request's ``where`` (query, path or body) that failed its model."""
    return validation_problem(exc.errors(include_url=False, include_input=False), (where,))


def validation_problem(errors: Iterable[Any], prefix: tuple[str, ...] = ()) -> Response:
    """422 listing pydantic/FastAPI validation errors (``loc``, ``type``, ``msg``)."""
    listed: list[dict[str, str]] = []
    total = 0
    for error in errors:
        total += 1
        if len(listed) < MAX_LISTED:
            location = ".".join(_safe(str(part)) for part in (*prefix, *error["loc"]))
            message = _FRIENDLY.get(error["type"], error["msg"])
            if error["type"] == "json_invalid":
                message = f"{message}: {error['ctx']['error']}" if "ctx" in error else message
            listed.append({"location": location or "request", "message": _safe(message)})
    first = listed[0] if listed else {"location": "request", "message": "invalid"}
    summary = f"{first['location']}: {first['message']}"
    if total > 1:
        summary += f" (and {total - 1} more problem{'s' if total > 2 else ''})"
    return problem(422, f"invalid request: {summary}", listed)


def query_problems(
    pairs: Sequence[tuple[str, str]], allowed: Collection[str]
) -> list[dict[str, Any]]:
    """Validation errors (``loc``, ``type``, ``msg``) for query parameters that the route does
    not take, or that are given more than once (the later one would silently win)."""
    counts = Counter(name for name, _ in pairs)
    errors = []
    for name, count in counts.items():
        if name not in allowed:
            takes = ", ".join(allowed) or "no parameters"
            message = f"unknown parameter; this route takes {takes}"
            errors.append({"loc": ("query", name), "type": "unknown_parameter", "msg": message})
        elif count > 1:
            message = (
                f"given {count} times; give each parameter once "
                "(several items go in one value, comma-separated: a,b)"
            )
            errors.append({"loc": ("query", name), "type": "repeated_parameter", "msg": message})
    return errors


def parse_query(request: Request, model: type[QueryModel]) -> QueryModel | Response:
    """The request's query read by ``model``, or the 422 answer naming what is wrong."""
    pairs = request.query_params.multi_items()
    problems = query_problems(pairs, model.model_fields)
    if problems:
        return validation_problem(problems)
    try:
        return model.model_validate(dict(pairs))
    except ValidationError as exc:
        return input_problem(exc, "query")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(DimrecError, _on_dimrec_error)
    app.add_exception_handler(HTTPException, _on_http_exception)


async def _on_request_validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(exc.errors())


async def _on_dimrec_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DimrecError)
    return problem(status_for(exc), str(exc))


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def status_for(exc: DimrecError) -> int:
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, MissingDataError):
        return 404
    if isinstance(exc, StoreError):
        return 503
    return 500


def _safe(text: str) -> str:
    """Text that always encodes as UTF-8 (lone surrogates become escapes)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
