"""What the worker does with a job: claim it, run its pipeline function, record the outcome.

- A rate limit on job starts (``queue.rate_limit_per_minute``, like the original push
  queue's 1/min): a job over the limit waits for the next window.
- One job per lock key (name + day or window) at a time: a second one is skipped and says
  which job holds the key.
- Transient failures (warehouse or store unreachable) are retried with exponential backoff
  up to ``queue.retries`` times; bad data is not retried.
- The daily chain runs export (of the window's days not exported yet) → prepare → train →
  publish, each step only after the previous one succeeded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from dimrec import pipeline
from dimrec.config import Settings
from dimrec.errors import DimrecError
from dimrec.logs import log_context
from dimrec.model import Model
from dimrec.schedule.jobs import JobRecord, worker_name
from dimrec.schedule.params import (
    DailyParams,
    ExportParams,
    PrepareParams,
    PublishParams,
    TrainJobParams,
)
from dimrec.schedule.queue import JobQueue

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobRunner:
    """Runs jobs by id for a worker's queue."""

    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.worker = worker_name()
        self.queue = JobQueue(settings, runner=self.run)

    # --- the task body -----------------------------------------------------------------
    def run(self, job_id: str) -> None:
        queue = self.queue
        queue.huey.rate_limit(
            "job-starts", self.settings.queue.rate_limit_per_minute, 60, retry=True
        ).acquire()
        record, holder = queue.jobs.claim(job_id, self.worker)
        if holder is not None:
            message = (
                f"skipped: {holder.name} for {holder.lock_key.partition(':')[2] or 'this window'}"
                f" is already running as job {holder.id}"
            )
            logger.warning("job %s %s", job_id, message)
            queue.jobs.finish(job_id, "skipped", message)
            return
        if record is None:
            logger.info("job %s is not queued any more (already run); ignoring", job_id)
            return
        with log_context(job=record.id, name=record.name):
            self._execute(record)

    def _execute(self, record: JobRecord) -> None:
        jobs = self.queue.jobs
        retries = self.settings.queue.retries
        try:
            logger.info("job started (attempt %d)", record.attempts)
            result = self.dispatch(record)
        except DimrecError as exc:
            if getattr(exc, "transient", False) and record.attempts <= retries:
                delay = self.settings.queue.retry_delay_seconds * 2 ** (record.attempts - 1)
                message = f"attempt {record.attempts} failed ({exc}); retrying in {delay}s"
                logger.warning("job %s", message)
                jobs.requeue(record.id, message)
                self.queue.enqueue(record.id, delay=delay)
                return
            logger.error("job failed: %s", exc)
            jobs.finish(record.id, "failed", str(exc))
        except Exception as exc:
            logger.exception("job failed unexpectedly")
            jobs.finish(record.id, "failed", f"unexpected {type(exc).__name__}: {exc}")
        else:
            logger.info("job succeeded")
            jobs.finish(record.id, "succeeded", None, result)

    # --- one function per job ----------------------------------------------------------
    def dispatch(self, record: JobRecord) -> dict[str, Any]:
        today = self.clock().date()
        name, params = record.name, self.queue.validate(record.name, record.params)
        if name == "export":
            assert isinstance(params, ExportParams)
            return _plain(self._export(params.days(1, 1, today)))
        if name == "prepare":
            assert isinstance(params, PrepareParams)
            days = self._train_days(params, today)
            return _plain(pipeline.prepare_days(self.settings, days, force=params.force))
        if name == "train":
            assert isinstance(params, TrainJobParams)
            return _plain(self._train(params, today))
        if name == "publish":
            assert isinstance(params, PublishParams)
            return _plain(pipeline.publish(self.settings, params.version, force=params.force))
        assert isinstance(params, DailyParams)
        return self._daily(params, today)

    def _export(self, days: list[dt.date]) -> Any:
        summary = pipeline.export_days(self.settings, days)
        summary.raise_for_missing()  # a day without data fails the job, naming the day
        return summary

    def _train_days(self, params: PrepareParams | TrainJobParams, today: dt.date) -> list[dt.date]:
        train = self.settings.train
        return params.days(train.days_init, train.days_end, today)

    def _train(self, params: TrainJobParams, today: dt.date) -> Any:
        train = self.settings.train
        if params.date is not None:  # a one-day window
            days_init, days_end, as_of = 0, 0, params.date
        else:
            days_init = train.days_init if params.days_init is None else params.days_init
            days_end = train.days_end if params.days_end is None else params.days_end
            as_of = params.as_of or today
        train_params = self.settings.train_params(**params.overrides())
        return pipeline.train(
            self.settings,
            days_init=days_init,
            days_end=days_end,
            as_of=as_of,
            params=train_params,
            engine=params.engine,
            allow_missing=params.allow_missing or None,
        )

    def _daily(self, params: DailyParams, today: dt.date) -> dict[str, Any]:
        days = self._train_days(params, today)
        steps: dict[str, Any] = {}
        missing = pipeline.unexported_days(self.settings, days)
        if missing:
            steps["export"] = _plain(self._export(missing))
        steps["prepare"] = _plain(pipeline.prepare_days(self.settings, days, force=params.force))
        model = self._train(params, today)
        steps["train"] = _plain(model)
        steps["publish"] = _plain(pipeline.publish(self.settings, model.version))
        return steps


def _plain(value: Any) -> dict[str, Any]:
    """A JSON-able summary of a pipeline result for the job record."""
    if isinstance(value, Model):  # a trained model: its manifest, as written
        manifest: dict[str, Any] = value.manifest.model_dump(mode="json")
        return manifest
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain: dict[str, Any] = json_safe(dataclasses.asdict(value))
        return plain
    return {"value": json_safe(value)}


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
