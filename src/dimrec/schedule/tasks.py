"""What the worker does with a job: claim it, run its pipeline function, record the outcome.

- A rate limit on job starts (``queue.rate_limit_per_minute``, like the original push
  queue's 1/min): a job over the limit waits for the next window.
- One job per lock key (name + its days) at a time: a second one is skipped and says which
  job holds the key.
- A running job holds a lease that a thread of its worker renews every quarter of
  ``queue.lease_seconds``; a job whose lease ran out (its worker was killed) is taken over
  by the next worker that looks — before each job and once a minute: retried like a
  transient failure while retries are left, else failed as interrupted.
- Transient failures (warehouse or store unreachable) are retried with exponential backoff
  up to ``queue.retries`` times; bad data is not retried.
- The daily chain runs export (of the window's days not exported yet) → prepare → train →
  publish, each step only after the previous one succeeded.
- The re-tune (``tune``) tunes on the training window and switches the applied tune only
  when the choice is significantly better (:func:`dimrec.evaluate.flow.retune`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from dimrec import pipeline
from dimrec.config import Settings
from dimrec.errors import DimrecError
from dimrec.logs import log_context
from dimrec.model import Model
from dimrec.schedule.jobs import JobRecord, JobState, worker_name
from dimrec.schedule.params import (
    DailyParams,
    ExportParams,
    PrepareParams,
    PublishParams,
    TrainJobParams,
    TuneParams,
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
        self.take_over_expired()
        record, holder = queue.jobs.claim(job_id, self.worker, self.settings.queue.lease_seconds)
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
        with log_context(job=record.id, name=record.name), self._leased(record):
            self._execute(record)

    def take_over_expired(self) -> list[JobRecord]:
        """Take over the running jobs whose lease ran out (their worker stopped): retry each
        while retries are left, else fail it as interrupted. Returns them."""
        taken = []
        for record in self.queue.jobs.expired():
            reason = (
                f"interrupted: worker {record.worker} stopped renewing the job's lease "
                f"(it ran out at {record.lease_until})"
            )
            if self._retry(record, reason):
                taken.append(record)
            elif self.queue.jobs.finish(
                record.id, "failed", f"{reason}; submit it again", attempt=record.attempts
            ):
                logger.warning("job %s (%s) %s", record.id, record.name, reason)
                taken.append(record)
        return taken

    def _retry(self, record: JobRecord, reason: str) -> bool:
        """Queue the job again after a transient failure while retries are left (with
        exponential backoff); False when none are left or the attempt lost the job."""
        if record.attempts > self.settings.queue.retries:
            return False
        delay = self.settings.queue.retry_delay_seconds * 2 ** (record.attempts - 1)
        message = f"attempt {record.attempts} failed ({reason}); retrying in {delay}s"
        if not self.queue.jobs.requeue(record.id, message, record.attempts):
            return False
        logger.warning("job %s %s", record.id, message)
        self.queue.enqueue(record.id, delay=delay)
        return True

    @contextlib.contextmanager
    def _leased(self, record: JobRecord) -> Iterator[None]:
        """Renew the job's lease from a thread of its own while the block runs."""
        lease = self.settings.queue.lease_seconds
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(lease / 4):
                if not self.queue.jobs.renew(record.id, record.attempts, lease):
                    logger.warning("job %s lost its lease: another worker took it over", record.id)
                    return

        thread = threading.Thread(target=renew, name=f"lease-{record.id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _execute(self, record: JobRecord) -> None:
        try:
            logger.info("job started (attempt %d)", record.attempts)
            result = self.dispatch(record)
        except DimrecError as exc:
            if getattr(exc, "transient", False) and self._retry(record, str(exc)):
                return
            logger.error("job failed: %s", exc)
            self._finish(record, "failed", str(exc))
        except Exception as exc:
            logger.exception("job failed unexpectedly")
            self._finish(record, "failed", f"unexpected {type(exc).__name__}: {exc}")
        else:
            logger.info("job succeeded")
            self._finish(record, "succeeded", None, result)

    def _finish(
        self,
        record: JobRecord,
        state: JobState,
        message: str | None,
        result: dict[str, Any] | None = None,
    ) -> None:
        if not self.queue.jobs.finish(record.id, state, message, result, attempt=record.attempts):
            logger.warning(
                "job %s %s, but its lease had run out and another worker took it over; this "
                "outcome is not recorded",
                record.id,
                state,
            )

    # --- one function per job ----------------------------------------------------------
    def dispatch(self, record: JobRecord) -> dict[str, Any]:
        today = self.clock().date()
        name, params = record.name, self.queue.validate(record.name, record.params)
        if name == "export":
            assert isinstance(params, ExportParams)
            days = params.days(self.settings, today)
            return _plain(self._export(days, allow_empty=params.allow_empty))
        if name == "prepare":
            assert isinstance(params, PrepareParams)
            days = params.days(self.settings, today)
            return _plain(pipeline.prepare_days(self.settings, days, force=params.force))
        if name == "train":
            assert isinstance(params, TrainJobParams)
            return _plain(self._train(params, today))
        if name == "publish":
            assert isinstance(params, PublishParams)
            return _plain(pipeline.publish(self.settings, params.version, force=params.force))
        if name == "tune":
            assert isinstance(params, TuneParams)
            return self._retune(params.as_of or today)
        assert isinstance(params, DailyParams)
        return self._daily(params, today)

    def _retune(self, as_of: dt.date) -> dict[str, Any]:
        from dimrec.evaluate import flow  # the evaluation stack loads only for this job

        summary = flow.retune(self.settings, as_of=as_of)
        return {
            "run": summary.tune.config.run,
            "report": summary.tune.report_url,
            "chosen": summary.tune.result.best.label(),
            "current": summary.current,
            "switched": summary.switched,
            "reason": summary.reason,
        }

    def _export(self, days: list[dt.date], *, allow_empty: bool = False) -> Any:
        summary = pipeline.export_days(self.settings, days, allow_empty=allow_empty)
        summary.raise_for_missing()  # a day without data fails the job, naming the day
        return summary

    def _train(self, params: TrainJobParams, today: dt.date) -> Any:
        if params.date is not None:  # a one-day window
            days_init, days_end, as_of = 0, 0, params.date
        else:
            days_init, days_end = params.bounds(self.settings)  # the applied tune's window
            as_of = params.as_of or today
        return pipeline.train(
            self.settings,
            days_init=days_init,
            days_end=days_end,
            as_of=as_of,
            overrides=params.overrides(),
            engine=params.engine,
            allow_missing=params.allow_missing or None,
        )

    def _daily(self, params: DailyParams, today: dt.date) -> dict[str, Any]:
        days = params.days(self.settings, today)
        steps: dict[str, Any] = {}
        missing = pipeline.unexported_days(self.settings, days)
        if missing:
            steps["export"] = _plain(self._export(missing))
        weights = pipeline.training_params(self.settings, params.overrides())[0].weights
        steps["prepare"] = _plain(
            pipeline.prepare_days(self.settings, days, force=params.force, weights=weights)
        )
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
