"""The status page: the pipeline's runs per day, the version being served, the jobs queue."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import Response

from dimrec.errors import InvalidInputError, describe_validation
from dimrec.runs import STEPS, RunLog
from dimrec.schedule.params import JOB_NAMES
from dimrec.serve.console.common import console_of, page, refusal, served_state
from dimrec.serve.deps import context_of

log = logging.getLogger(__name__)
router = APIRouter()
#: Days of runs the status shows.
DAYS = 14
#: Jobs the queue table shows.
JOBS = 15


@router.get("")
def status(request: Request) -> Response:
    console = console_of(request)
    runs = RunLog(console.settings.paths.runs_url()).recent(DAYS)
    context = context_of(request)
    return page(
        request,
        "status.html",
        runs=runs,
        steps=STEPS,
        state=served_state(request),
        follow=context.follower.status,
        job_names=JOB_NAMES,
    )


@router.get("/jobs")
def jobs(request: Request) -> Response:
    """The recent jobs (a fragment the status page refreshes while any is unfinished)."""
    return refusal(request) or _jobs(request)


@router.post("/jobs")
def submit(
    request: Request,
    name: Annotated[str, Form()],
    date: Annotated[str, Form()] = "",
    days_init: Annotated[str, Form()] = "",
    days_end: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Queue a job (``dimrec worker`` runs it) and answer the jobs table."""
    if (denied := refusal(request)) is not None:
        return denied
    given: dict[str, Any] = {
        "date": date.strip(),
        "days_init": days_init.strip(),
        "days_end": days_end.strip(),
        "version": version.strip(),
    }
    params = {key: value for key, value in given.items() if value}
    if force:
        params["force"] = True
    queue = console_of(request).queue()
    try:
        record = queue.submit(name, params)
    except pydantic.ValidationError as exc:
        problem = f"invalid parameters for job {name}: {describe_validation(exc)}"
        return _jobs(request, message=problem, status_code=422)
    except InvalidInputError as exc:
        return _jobs(request, message=str(exc), status_code=422)
    log.info("console: queued %s job %s with %s", record.name, record.id, params)
    return _jobs(request, highlight=record.id)


def _jobs(
    request: Request, *, message: str = "", highlight: str = "", status_code: int = 200
) -> Response:
    records = console_of(request).queue().recent(JOBS)
    active = any(r.state in ("queued", "running") for r in records)
    return page(
        request,
        "_jobs.html",
        status_code,
        jobs=records,
        active=active,
        message=message,
        highlight=highlight,
    )
