"""The job records, parameters and periodic firing — without a worker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydantic
import pytest

from dimrec.config import Settings
from dimrec.errors import ConfigError, InvalidInputError
from dimrec.schedule.jobs import MESSAGE_LIMIT
from dimrec.schedule.periodic import parse_crontab, register_periodic
from dimrec.schedule.queue import JobQueue, queue_file
from dimrec.schedule.tasks import JobRunner

LEASE = 60.0


def test_queue_file_sits_beside_the_sqlite_store(settings: Settings) -> None:
    store_path = Path(settings.store.url.removeprefix("sqlite:///"))
    assert queue_file(settings) == store_path.parent / "queue.db"


def test_claim_is_once_only_and_locks_by_key(settings: Settings) -> None:
    queue = JobQueue(settings)
    first = queue.submit("export", {"date": "2026-11-20"})
    second = queue.submit("export", {"date": "2026-11-20"})
    other_day = queue.submit("export", {"date": "2026-11-21"})

    claimed, holder = queue.jobs.claim(first.id, "host:1", LEASE)
    assert claimed is not None
    assert claimed.state == "running"
    assert holder is None
    again, holder = queue.jobs.claim(first.id, "host:2", LEASE)
    assert again is None
    assert holder is None

    blocked, holder = queue.jobs.claim(second.id, "host:2", LEASE)
    assert blocked is None
    assert holder is not None
    assert holder.id == first.id
    record = queue.get(second.id)
    assert record is not None
    assert record.state == "queued"

    parallel, holder = queue.jobs.claim(other_day.id, "host:2", LEASE)
    assert parallel is not None
    assert holder is None

    assert queue.jobs.finish(first.id, "succeeded", None, {"rows": 3}, attempt=1)
    done = queue.get(first.id)
    assert done is not None
    assert done.state == "succeeded"
    assert done.result == {"rows": 3}
    assert done.finished_at is not None
    assert done.started_at is not None
    unblocked, _ = queue.jobs.claim(second.id, "host:2", LEASE)
    assert unblocked is not None


class FakeClock:
    """Seconds since the epoch that move only when told."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("retries", [0, 2])
def test_a_job_whose_lease_ran_out_is_taken_over(settings: Settings, retries: int) -> None:
    """The worker that claimed a job is gone (it stops renewing): once the lease is past its
    deadline the job is taken over — retried or failed — and its lock key is free again,
    although the next worker has the very same host:pid name (a worker as PID 1 in a
    container). The old worker, were it only stalled, can no longer change the record."""
    settings = settings.model_copy(
        update={"queue": settings.queue.model_copy(update={"retries": retries})}
    )
    runner = JobRunner(settings)
    clock = FakeClock(1_000_000.0)
    runner.queue.jobs.clock = clock
    jobs = runner.queue.jobs
    first = runner.queue.submit("export", {"date": "2026-11-20"})
    claimed, _ = jobs.claim(first.id, "box:1", LEASE)
    assert claimed is not None
    clock.now += LEASE - 1
    assert jobs.renew(first.id, claimed.attempts, LEASE)  # alive: the deadline moves on
    clock.now += LEASE - 1
    assert jobs.expired() == []
    assert runner.take_over_expired() == []

    second = runner.queue.submit("export", {"date": "2026-11-20"})
    blocked, holder = jobs.claim(second.id, "box:1", LEASE)
    assert blocked is None
    assert holder is not None
    assert holder.id == first.id

    clock.now += 2  # past the deadline: the worker stopped renewing
    assert [r.id for r in jobs.expired()] == [first.id]
    assert [r.id for r in runner.take_over_expired()] == [first.id]
    record = runner.queue.get(first.id)
    assert record is not None
    if retries:
        assert record.state == "queued"
        assert "attempt 1 failed (interrupted: worker box:1" in (record.message or "")
        assert first.id in runner.queue.pending_job_ids()
    else:
        assert record.state == "failed"
        assert "interrupted: worker box:1 stopped renewing" in (record.message or "")
    # the stalled worker wakes up: its renewal and its outcome are refused
    assert not jobs.renew(first.id, claimed.attempts, LEASE)
    assert not jobs.finish(first.id, "succeeded", None, {"late": True}, attempt=claimed.attempts)
    again = runner.queue.get(first.id)
    assert again is not None
    assert again.state == record.state
    assert again.result is None
    # the lock key is free: the next job of the same days runs
    unblocked, holder = jobs.claim(second.id, "box:1", LEASE)
    assert holder is None
    assert unblocked is not None
    runner.queue.close()


def test_a_window_is_resolved_to_its_days_before_its_lock_key(settings: Settings) -> None:
    """A job's record and lock key name the days it covers, not the day it will run."""
    queue = JobQueue(settings)
    today = dt.date(2026, 11, 21)
    train = queue.submit("train", {}, today=today)
    assert train.lock_key == "train:2026-10-22..2026-11-20"  # [train] 30..1 days back
    assert train.params["as_of"] == "2026-11-21"
    assert (train.params["days_init"], train.params["days_end"]) == (30, 1)
    export = queue.submit("export", {}, today=today)
    assert export.lock_key == "export:2026-11-20..2026-11-20"
    later = queue.submit("train", {}, today=today + dt.timedelta(days=1))
    assert later.lock_key == "train:2026-10-23..2026-11-21"
    given = queue.submit("train", {"days_init": 3, "as_of": "2026-01-10"}, today=today)
    assert given.lock_key == "train:2026-01-07..2026-01-09"
    assert queue.submit("publish", {}).lock_key == "publish"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"days_init": 1_000_000_000}, "max_window_days"),
        ({"days_init": 3661, "days_end": 1}, "3,661 days"),
        ({"days_init": 10**30, "days_end": 10**30}, "year 1"),
    ],
)
def test_a_window_that_cannot_run_is_refused_before_it_is_queued(
    settings: Settings, params: dict[str, object], problem: str
) -> None:
    queue = JobQueue(settings)
    with pytest.raises(InvalidInputError, match=problem):
        queue.submit("export", params)
    assert queue.recent() == []


def test_stored_messages_are_capped(settings: Settings) -> None:
    queue = JobQueue(settings)
    job = queue.submit("publish", {})
    claimed, _ = queue.jobs.claim(job.id, "box:1", LEASE)
    assert claimed is not None
    assert queue.jobs.finish(job.id, "failed", "x" * 1_200_000, attempt=1)
    record = queue.get(job.id)
    assert record is not None
    message = record.message or ""
    assert len(message) <= MESSAGE_LIMIT
    assert message.startswith("xxxx")
    assert message.endswith("more characters)")


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


def test_the_retune_fires_weekly_and_can_be_turned_off(settings: Settings) -> None:
    queue = JobQueue(settings)
    register_periodic(queue, lambda: dt.datetime(2026, 11, 29, 2, 30, tzinfo=dt.UTC))
    sunday = dt.datetime(2026, 11, 29, 2, 30)  # the default: Sundays 02:30 UTC
    assert [t.name for t in queue.huey.read_periodic(sunday)] == ["periodic_tune"]
    assert queue.huey.read_periodic(dt.datetime(2026, 11, 30, 2, 30)) == []  # a Monday
    for task in queue.huey.read_periodic(sunday):
        task.execute()
    (retune,) = queue.recent()
    assert (retune.name, retune.params, retune.lock_key) == (
        "tune",
        {"as_of": "2026-11-29"},
        "tune",
    )

    off = settings.model_copy(
        update={"queue": settings.queue.model_copy(update={"tune_crontab": ""})}
    )
    quiet = JobQueue(off)
    register_periodic(quiet, lambda: dt.datetime(2026, 11, 29, tzinfo=dt.UTC))
    assert quiet.huey.read_periodic(sunday) == []
    bad = off.model_copy(update={"queue": off.queue.model_copy(update={"tune_crontab": "x"})})
    with pytest.raises(ConfigError, match="tune_crontab"):
        register_periodic(JobQueue(bad), lambda: dt.datetime(2026, 11, 29, tzinfo=dt.UTC))


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


def test_a_tune_job_retunes_and_records_its_decision(settings: Settings) -> None:
    from dimrec import partitions, tuned
    from dimrec.schedule.tasks import JobRunner
    from evaluate.evaluate_helpers import day, decoy_shop, table

    rows = decoy_shop(days=6)
    events = partitions.events(settings.paths.events_url())
    for d in range(6):
        events.write(day(d), table([r for r in rows if r[3] == d]))
    window = settings.train.model_copy(
        update={"algorithm": "exact", "top_k": 1, "days_init": 6, "days_end": 0}
    )
    in_use = settings.model_copy(update={"train": window})
    runner = JobRunner(in_use)
    job = runner.queue.submit("tune", {"as_of": day(5).isoformat()})
    runner.run(job.id)
    record = runner.queue.get(job.id)
    assert record is not None
    assert record.state == "succeeded", record.message
    assert record.result is not None
    assert record.result["current"].endswith("K=1 (settings)")
    assert Path(record.result["report"]).is_file()
    # Every K=1 model misses b{k} alike (the decoy d{k} comes first): exact wins the ties,
    # which is what is in use, so nothing switches (flow.retune's own test switches).
    assert record.result["chosen"] == "exact w=0.5/2/6 users 2–100 K=1"
    assert record.result["switched"] is False
    assert "nothing to switch" in record.result["reason"]
    assert tuned.applied(settings.paths.models_url()) is None
