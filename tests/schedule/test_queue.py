"""The job records, parameters and periodic firing — without a worker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydantic
import pytest

from dimrec.config import Settings
from dimrec.errors import ConfigError, InvalidInputError
from dimrec.schedule.periodic import parse_crontab, register_periodic
from dimrec.schedule.queue import JobQueue, queue_file


def test_queue_file_sits_beside_the_sqlite_store(settings: Settings) -> None:
    store_path = Path(settings.store.url.removeprefix("sqlite:///"))
    assert queue_file(settings) == store_path.parent / "queue.db"


def test_claim_is_once_only_and_locks_by_key(settings: Settings) -> None:
    queue = JobQueue(settings)
    first = queue.submit("export", {"date": "2026-11-20"})
    second = queue.submit("export", {"date": "2026-11-20"})
    other_day = queue.submit("export", {"date": "2026-11-21"})

    claimed, holder = queue.jobs.claim(first.id, "host:1")
    assert claimed is not None
    assert claimed.state == "running"
    assert holder is None
    again, holder = queue.jobs.claim(first.id, "host:2")
    assert again is None
    assert holder is None

    blocked, holder = queue.jobs.claim(second.id, "host:2")
    assert blocked is None
    assert holder is not None
    assert holder.id == first.id
    record = queue.get(second.id)
    assert record is not None
    assert record.state == "queued"

    parallel, holder = queue.jobs.claim(other_day.id, "host:2")
    assert parallel is not None
    assert holder is None

    queue.jobs.finish(first.id, "succeeded", None, {"rows": 3})
    done = queue.get(first.id)
    assert done is not None
    assert done.state == "succeeded"
    assert done.result == {"rows": 3}
    assert done.finished_at is not None
    assert done.started_at is not None
    unblocked, _ = queue.jobs.claim(second.id, "host:2")
    assert unblocked is not None


def test_interrupted_jobs_of_dead_workers_fail(settings: Settings) -> None:
    queue = JobQueue(settings)
    job = queue.submit("publish", {})
    queue.jobs.claim(job.id, "thishost:999999999")  # a pid that cannot exist
    stale = queue.jobs.fail_interrupted("thishost")
    assert [r.id for r in stale] == [job.id]
    record = queue.get(job.id)
    assert record is not None
    assert record.state == "failed"
    assert "interrupted" in (record.message or "")


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("export", {"date": "2026-02-30"}, "date"),
        ("train", {"algorithm": "magic"}, "algorithm"),
        ("train", {"days_init": 1, "days_end": 3}, "days_end"),
        ("train", {"threshold": 2}, "threshold"),
        ("publish", {"version": "latest; drop table"}, "version"),
        ("export", {"date": "2026-11-20", "days_init": 3}, "either"),
        ("export", {"dates": "2026-11-20"}, "dates"),
    ],
)
def test_bad_parameters_are_named(
    settings: Settings, name: str, params: dict[str, object], field: str
) -> None:
    queue = JobQueue(settings)
    with pytest.raises((pydantic.ValidationError, InvalidInputError), match=field):
        queue.submit(name, params)
    assert queue.recent() == []


def test_unknown_job_is_refused(settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="unknown job"):
        JobQueue(settings).submit("reboot", {})


def test_periodic_jobs_fire_at_their_crontab_times(settings: Settings) -> None:
    queue = JobQueue(settings)
    clock_now = dt.datetime(2026, 11, 26, 1, 5, tzinfo=dt.UTC)
    register_periodic(queue, lambda: clock_now)

    def fired(at: dt.datetime) -> list[str]:
        return sorted(task.name for task in queue.huey.read_periodic(at))

    assert fired(dt.datetime(2026, 11, 26, 1, 5)) == ["periodic_export"]
    assert fired(dt.datetime(2026, 11, 27, 1, 15)) == ["periodic_daily"]
    for quiet in (dt.datetime(2026, 11, 26, 1, 4), dt.datetime(2026, 11, 26, 13, 5)):
        assert fired(quiet) == []

    for task in queue.huey.read_periodic(dt.datetime(2026, 11, 26, 1, 5)):
        task.execute()
    (export,) = queue.recent()
    assert export.name == "export"
    assert export.params["date"] == "2026-11-25"
    assert export.id in queue.pending_job_ids()


def test_crontab_settings_are_validated(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="5 fields"):
        parse_crontab("5 1 * *", "queue.export_crontab")
    with pytest.raises(ConfigError, match="daily_crontab"):
        parse_crontab("61 1 * * *", "queue.daily_crontab")
    custom = settings.model_copy(
        update={"queue": settings.queue.model_copy(update={"export_crontab": "30 */6 * * 1-5"})}
    )
    queue = JobQueue(custom)
    register_periodic(queue, lambda: dt.datetime(2026, 11, 26, tzinfo=dt.UTC))
    monday_noon = dt.datetime(2026, 11, 23, 12, 30)
    sunday_noon = dt.datetime(2026, 11, 29, 12, 30)
    assert [t.name for t in queue.huey.read_periodic(monday_noon)] == ["periodic_export"]
    assert queue.huey.read_periodic(sunday_noon) == []
