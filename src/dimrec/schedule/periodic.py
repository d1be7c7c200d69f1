"""The periodic jobs, from crontab strings in the settings (times are UTC).

- ``queue.export_crontab`` (default ``5 1 * * *``): export yesterday.
- ``queue.daily_crontab`` (default ``15 1 * * *``): the daily chain over the [train] window.
- every minute: take over jobs whose worker stopped renewing their lease (``sweep``).
- ``queue.tune_crontab`` (default ``30 2 * * 0``, weekly; "" turns it off): the re-tune.

Each fires by *submitting* a job, so it gets a record, the rate limit, the lock and retries
like any job. The clock is injectable so tests check firing times without waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from huey import crontab

from dimrec.errors import ConfigError
from dimrec.schedule.params import DailyParams, ExportParams, TuneParams
from dimrec.schedule.queue import JobQueue

Clock = Callable[[], dt.datetime]
CronTest = Callable[[dt.datetime], bool]


def parse_crontab(text: str, setting: str) -> CronTest:
    """``"5 1 * * *"`` (minute hour day month weekday) → a test on datetimes."""
    fields = text.split()
    if len(fields) != 5:
        raise ConfigError(
            f"{setting} = {text!r}: a crontab has 5 fields (minute hour day month weekday)"
        )
    try:
        test: CronTest = crontab(*fields, strict=True)
    except ValueError as exc:
        raise ConfigError(f"{setting} = {text!r}: {exc}") from None
    return test


def register_periodic(
    queue: JobQueue, clock: Clock, sweep: Callable[[], object] | None = None
) -> None:
    """Add the daily export, the daily chain, the re-tune and (given) the minutely ``sweep``
    of expired leases to the queue's periodic tasks."""
    settings = queue.settings.queue
    export_due = parse_crontab(settings.export_crontab, "queue.export_crontab")
    daily_due = parse_crontab(settings.daily_crontab, "queue.daily_crontab")

    def export_yesterday() -> None:
        yesterday = clock().date() - dt.timedelta(days=1)
        queue.submit("export", ExportParams(date=yesterday), today=clock().date())

    def daily_chain() -> None:
        queue.submit("daily", DailyParams(as_of=clock().date()), today=clock().date())

    queue.huey.periodic_task(export_due, name="periodic_export")(export_yesterday)
    queue.huey.periodic_task(daily_due, name="periodic_daily")(daily_chain)
    if sweep is not None:
        every_minute = parse_crontab("* * * * *", "lease sweep")

        def sweep_leases() -> None:
            sweep()

        queue.huey.periodic_task(every_minute, name="periodic_lease_sweep")(sweep_leases)
    if settings.tune_crontab.strip():
        tune_due = parse_crontab(settings.tune_crontab, "queue.tune_crontab")

        def retune() -> None:
            queue.submit("tune", TuneParams(as_of=clock().date()))

        queue.huey.periodic_task(tune_due, name="periodic_tune")(retune)
