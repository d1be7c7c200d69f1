"""The jobs API: ``POST /jobs/{name}``, ``GET /jobs/{id}``, ``GET /jobs``.

Enqueues pipeline jobs on the durable queue that ``dimrec worker`` runs. Guarded by the
bearer token ``queue.token`` (compared in constant time); with no token configured the
routes do not exist (404) — the jobs API is never open.

(No ``from __future__ import annotations`` here: FastAPI must see the dependencies defined
inside ``build_router`` as objects, not as strings it cannot resolve.)
"""

import hmac
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dimrec.config import Settings
from dimrec.schedule.jobs import JobRecord
from dimrec.schedule.params import JobName
from dimrec.schedule.queue import JobQueue
from dimrec.serve.problems import body_problem, problem
from dimrec.serve.responses import json_response

_BODY_DOC = (
    "The job's parameters. export/prepare: `date` or `days_init`/`days_end`/`as_of` (and "
    "`force` for prepare); train: the window plus any training parameter (`algorithm`, "
    "`threshold`, `top_k`, ... as in `[train]`), `engine`, `allow_missing`; publish: "
    "`version`, `force`; daily: the train parameters."
)


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/jobs", tags=["jobs"])
    token = settings.queue.token
    if token is None:
        return router  # disabled: every /jobs path is a 404

    bearer = HTTPBearer(auto_error=False, description="queue.token from the settings")
    expected = token.encode()

    async def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                401,
                "a valid bearer token is required (Authorization: Bearer <queue.token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    queue_holder: list[JobQueue] = []
    lock = threading.Lock()

    def queue() -> JobQueue:
        with lock:
            if not queue_holder:
                queue_holder.append(JobQueue(settings))
            return queue_holder[0]

    guard = [Depends(authorised)]

    @router.post("/{name}", status_code=202, dependencies=guard, summary="Queue a job")
    def submit(
        name: Annotated[JobName, Path(description="The job to run.")],
        params: Annotated[dict[str, Any] | None, Body(description=_BODY_DOC)] = None,
    ) -> Response:
        try:
            record = queue().submit(name, params or {})
        except ValidationError as exc:
            return body_problem(exc)
        return json_response(_public(record), 202)

    @router.get("/{job_id}", dependencies=guard, summary="One job's state")
    def status(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> Response:
        record = queue().get(job_id)
        if record is None:
            return problem(404, f"no job {job_id}")
        return json_response(_public(record))

    @router.get("", dependencies=guard, summary="Recent jobs, newest first")
    def recent(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
        return json_response({"jobs": [_public(r) for r in queue().recent(limit)]})

    return router


def _public(record: JobRecord) -> dict[str, Any]:
    return {**record.to_dict(), "status_url": f"/jobs/{record.id}"}
