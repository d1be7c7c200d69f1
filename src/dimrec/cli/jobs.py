"""CLI commands of the scheduler: ``dimrec worker`` and ``dimrec jobs run|status|list``.

Jobs submitted here go through the same durable queue as the periodic jobs and the jobs
API; ``dimrec worker`` runs them.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dimrec.cli.common import ParamOption, parse_params, settings_of, stdout
from dimrec.errors import InvalidInputError, MissingDataError, QueueError, describe_validation

if TYPE_CHECKING:
    from dimrec.schedule.jobs import JobRecord
    from dimrec.schedule.queue import JobQueue

jobs_app = typer.Typer(help="Submit jobs to the queue and follow them.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")


def worker(
    ctx: typer.Context,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Jobs run at once.")] = 1,
) -> None:
    """Run queued jobs and the periodic ones (daily export, daily train + publish)."""
    from dimrec.schedule.worker import run_worker  # loads the whole pipeline

    run_worker(settings_of(ctx), workers=threads)


@jobs_app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="export, prepare, train, publish, daily or tune.")],
    date: Annotated[str | None, typer.Option("--date", help="One day, YYYY-MM-DD.")] = None,
    days_init: Annotated[int | None, typer.Option("--days-init", help="Window start.")] = None,
    days_end: Annotated[int | None, typer.Option("--days-end", help="Window end.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Window anchor day.")] = None,
    algorithm: Annotated[str | None, typer.Option("--algorithm", help="train/daily.")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="DIMSUM.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Neighbours kept.")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="local or spark.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="publish.")] = None,
    force: Annotated[bool, typer.Option("--force", help="prepare/publish/daily.")] = False,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="train/daily: skip missing days.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job ends.")] = False,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout",
            min=0,
            help="With --wait: give up (exit 4) when no worker has started the job after this "
            "many seconds, or its worker stopped renewing its lease that long ago.",
        ),
    ] = 120.0,
    param: ParamOption = None,
) -> None:
    """Queue a job; prints its id (``dimrec jobs status ID`` follows it)."""
    given: dict[str, Any] = {
        "date": date,
        "days_init": days_init,
        "days_end": days_end,
        "as_of": as_of,
        "algorithm": algorithm,
        "threshold": threshold,
        "top_k": top_k,
        "engine": engine,
        "version": version,
        "force": force or None,
        "allow_missing": allow_missing or None,
    }
    params = {key: value for key, value in given.items() if value is not None}
    import pydantic

    params.update(parse_params(param))
    queue = _queue(ctx)
    try:
        record = queue.submit(name, params)
    except pydantic.ValidationError as exc:
        problems = describe_validation(exc)
        raise InvalidInputError(f"invalid parameters for job {name}: {problems}") from None
    stdout().print(f"queued {record.name} job [bold]{record.id}[/]")
    if wait:
        record = _wait(queue, record, wait_timeout)
        _show(record)
        if record.state != "succeeded":
            raise typer.Exit(1)


def _wait(queue: JobQueue, record: JobRecord, timeout: float) -> JobRecord:
    """Poll until the job ends; QueueError when no worker takes it up within ``timeout``
    seconds (it stays queued: a worker started later runs it) or its worker died and no
    other took it over within ``timeout`` seconds of the end of its lease."""
    from dimrec.schedule.jobs import FINAL_STATES

    start = time.monotonic()
    while record.state not in FINAL_STATES:
        if record.state == "queued" and record.attempts == 0:
            if time.monotonic() - start > timeout:
                raise QueueError(
                    f"job {record.id} is still queued after {timeout:g}s: no worker has "
                    "started it; is `dimrec worker` running? (the job stays queued and runs "
                    "when a worker starts)"
                )
        elif record.state == "running" and record.lease_until is not None:
            lapsed = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(record.lease_until)
            if lapsed.total_seconds() > timeout:
                raise QueueError(
                    f"job {record.id}: its worker {record.worker} stopped renewing the job's "
                    f"lease at {record.lease_until} and no worker has taken it over; is "
                    "`dimrec worker` running?"
                )
        time.sleep(0.2)
        record = _get(queue, record.id)
    return record


@jobs_app.command("status")
def status(ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Show one job: state, timings, outcome."""
    _show(_get(_queue(ctx), job_id))


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many.")] = 20,
) -> None:
    """List recent jobs, newest first."""
    from rich.table import Table

    table = Table("id", "job", "state", "created", "finished", "message")
    for record in _queue(ctx).recent(limit):
        table.add_row(
            record.id,
            record.name,
            record.state,
            record.created_at,
            record.finished_at or "",
            record.message or "",
        )
    stdout().print(table)


def _queue(ctx: typer.Context) -> JobQueue:
    from dimrec.schedule.queue import JobQueue  # Huey and redis-py load only when used

    return JobQueue(settings_of(ctx))


def _get(queue: JobQueue, job_id: str) -> JobRecord:
    record = queue.get(job_id)
    if record is None:
        raise MissingDataError(f"no job {job_id!r}; `dimrec jobs list` shows recent ones")
    return record


def _show(record: JobRecord) -> None:
    from rich.table import Table

    table = Table(show_header=False, title=f"job {record.id}")
    for key, value in record.to_dict().items():
        if value not in (None, {}, ""):
            table.add_row(key, str(value))
    stdout().print(table)
