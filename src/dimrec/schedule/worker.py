"""``dimrec worker``: the Huey consumer with dimrec's jobs and periodic tasks."""

from __future__ import annotations

import logging

from dimrec.config import Settings
from dimrec.schedule.periodic import register_periodic
from dimrec.schedule.tasks import Clock, JobRunner, utc_now

logger = logging.getLogger(__name__)


def recover(runner: JobRunner) -> None:
    """After a crash: take over jobs whose worker stopped renewing their lease; re-enqueue
    lost queued jobs.

    A job whose message was taken off the queue just before the worker died is still
    ``queued`` in its record; enqueuing it again is safe because claiming is atomic. A job
    a killed worker was running is taken over once its lease runs out (here if it already
    has, else by the sweep that runs every minute).
    """
    queue = runner.queue
    runner.take_over_expired()
    pending = queue.pending_job_ids()
    for record in queue.jobs.in_state("queued"):
        if record.id not in pending:
            logger.info("re-enqueuing job %s (%s) lost by a stopped worker", record.id, record.name)
            queue.enqueue(record.id)


def run_worker(settings: Settings, *, workers: int = 1, clock: Clock = utc_now) -> None:
    """Run jobs and the periodic tasks until interrupted (SIGINT/SIGTERM)."""
    runner = JobRunner(settings, clock=clock)
    register_periodic(runner.queue, clock, sweep=runner.take_over_expired)
    recover(runner)
    consumer = runner.queue.huey.create_consumer(
        workers=workers, worker_type="thread", periodic=True, check_worker_health=True
    )
    logger.info("worker started (%d thread(s)); queue %s", workers, runner.queue.huey.storage)
    consumer.run()
