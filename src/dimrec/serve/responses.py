"""JSON responses serialised with orjson, straight from plain dicts.

Routes return these instead of letting FastAPI validate and serialise a response model: the
models in :mod:`dimrec.serve.schemas` still document every answer in the OpenAPI schema, and
the tests check the answers against them. NumPy float32 scores serialise to their shortest
decimal form.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class FastJSONResponse(Response):
    """``application/json`` rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


def json_response(content: Any, status_code: int = 200) -> FastJSONResponse:
    return FastJSONResponse(content, status_code=status_code)
