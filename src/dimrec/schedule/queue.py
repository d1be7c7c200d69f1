"""The durable job queue: Huey for delivery, job records for the truth.

``JobQueue(settings)`` is what the jobs API and the CLI use to submit jobs and read their
status; it never imports the pipeline, so the API stays light. The worker builds the same
queue with a *runner* — the function that actually runs a job (``dimrec.schedule.tasks``).

Storage: ``queue.url`` unset → a SQLite file ``queue.db`` beside the store (or under
``paths.data`` when the store is not SQLite); ``redis://...`` → Huey on Redis. Job records
live in ``queue.db`` in both cases (see dimrec.schedule.jobs).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from dimrec.config import Settings
from dimrec.errors import InvalidInputError
from dimrec.schedule.jobs import JobRecord, JobStore
from dimrec.schedule.params import JOB_PARAMS, JobParams

logger = logging.getLogger(__name__)

TASK_NAME = "run_job"
Runner = Callable[[str], None]


def queue_file(settings: Settings) -> Path:
    """Where the SQLite queue and the job records live."""
    store_url = settings.store.url
    if store_url.startswith("sqlite:///"):
        return Path(store_url.removeprefix("sqlite:///")).parent / "queue.db"
    return Path(settings.paths.data) / "queue.db"


def _not_here(job_id: str) -> None:
    raise RuntimeError(f"job {job_id} must run in `dimrec worker`, not in this process")


class JobQueue:
    """Submit jobs, read their records; with a runner, also execute them (the worker)."""

    def __init__(self, settings: Settings, runner: Runner = _not_here) -> None:
        self.settings = settings
        path = queue_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.huey: Huey
        if settings.queue.url:
            self.huey = RedisHuey("dimrec", url=settings.queue.url, results=False, utc=True)
        else:
            self.huey = SqliteHuey("dimrec", filename=str(path), results=False, utc=True)
        self.jobs = JobStore(path)

        def run_job(job_id: str) -> None:
            runner(job_id)

        # Huey names a task by the module of its function: defining it here gives the same
        # name in the worker (which runs it) and in the API and CLI (which only enqueue it).
        self._task = self.huey.task(name=TASK_NAME, context=False)(run_job)

    def validate(self, name: str, params: dict[str, Any]) -> JobParams:
        model = next((m for job, m in JOB_PARAMS.items() if job == name), None)
        if model is None:
            raise InvalidInputError(f"unknown job {name!r}; jobs are {', '.join(JOB_PARAMS)}")
        parsed: JobParams = model.model_validate(params)
        return parsed

    def submit(
        self, name: str, params: dict[str, Any] | JobParams, *, today: dt.date | None = None
    ) -> JobRecord:
        """Validate, resolve the window to its days (anchored on ``today``, default the UTC
        day), record as queued, then enqueue. Raises pydantic.ValidationError for malformed
        parameters, InvalidInputError for a window that cannot run (too long)."""
        parsed = params if isinstance(params, JobParams) else self.validate(name, params)
        resolved = parsed.resolved(self.settings, today or dt.datetime.now(dt.UTC).date())
        record = self.jobs.create(name, resolved.model_dump(mode="json"), resolved.lock_key(name))
        self.enqueue(record.id)
        logger.info("queued job %s (%s)", record.id, name)
        return record

    def enqueue(self, job_id: str, delay: float | None = None) -> None:
        if delay:
            self._task.schedule(args=(job_id,), delay=delay)
        else:
            self._task(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def recent(self, limit: int = 50) -> list[JobRecord]:
        return self.jobs.recent(limit)

    def pending_job_ids(self) -> set[str]:
        """Job ids whose message is waiting in the queue or its schedule."""
        found = set()
        for task in [*self.huey.pending(), *self.huey.scheduled()]:
            if task.name == TASK_NAME and task.args:
                found.add(str(task.args[0]))
        return found

    def close(self) -> None:
        self.jobs.close()
