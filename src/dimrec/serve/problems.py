"""Errors at the HTTP edge: every failure answers a :class:`~dimrec.serve.schemas.ProblemPublic`.

- a request that breaks the schema or a limit → 422, one line per problem with its location
  (``query.n``, ``body.shoppers.0.items``) and what is wrong; never the raw input echoed back;
- :class:`~dimrec.errors.InvalidInputError` → 422, :class:`~dimrec.errors.MissingDataError` →
  404, :class:`~dimrec.errors.StoreError` (store unreachable, no version loaded yet) → 503,
  any other :class:`~dimrec.errors.DimrecError` → 500 with its message;
- HTTP errors raised by routing (404, 405) keep their status with the same body shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dimrec.errors import DimrecError, InvalidInputError, MissingDataError, StoreError
from dimrec.items import ITEM_ID_RULE
from dimrec.serve.responses import json_response

MAX_LISTED = 20

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
