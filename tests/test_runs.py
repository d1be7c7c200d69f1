"""The pipeline's run records (dimrec.runs): the last run of each step per day, its outcome and
the reason of a failure, as the web console's status shows them."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from dimrec import pipeline
from dimrec.config import Settings
from dimrec.errors import MissingDataError, PublishRefusedError
from dimrec.publish.stores import open_store
from dimrec.runs import Run, RunLog
from dimrec.synth import generate

START = dt.date(2026, 3, 2)
DAYS = [START + dt.timedelta(days=k) for k in range(3)]  # the shop has the first two


@pytest.fixture
def shop_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings exporting a two-day synthetic shop (GA360)."""
    generate(
        str(tmp_path / "warehouse"),
        start=START,
        days=2,
        sessions_per_day=300,
        n_items=120,
        n_users=300,
        seed=5,
        formats=("ga360",),
    )
    export = settings.export.model_copy(update={"input": str(tmp_path / "warehouse" / "ga360")})
    train = settings.train.model_copy(update={"top_k": 10})
    return settings.model_copy(update={"export": export, "train": train})


def status(settings: Settings) -> dict[dt.date, dict[str, Run]]:
    return dict(RunLog(settings.paths.runs_url()).recent())


def test_each_step_records_its_last_run_per_day(shop_settings: Settings) -> None:
    settings = shop_settings
    summary = pipeline.export_days(settings, DAYS)
    runs = status(settings)
    for day in summary.days:
        run = runs[day.day]["export"]
        assert run.outcome == "succeeded"
        assert f"{day.events:,} events" in run.message
    missing = runs[DAYS[2]]["export"]
    assert missing.outcome == "failed"
    assert missing.message == summary.missing[0].reason
    assert [m.day for m in summary.missing] == [DAYS[2]]

    with pytest.raises(MissingDataError) as no_events:
        pipeline.prepare_days(settings, DAYS)
    assert status(settings)[DAYS[2]]["prepare"].message == str(no_events.value)

    with pytest.raises(MissingDataError) as no_day:
        pipeline.train(settings, days_init=2, days_end=0, as_of=DAYS[2])
    train_run = status(settings)[DAYS[2]]["train"]
    assert (train_run.outcome, train_run.message) == ("failed", str(no_day.value))

    model = pipeline.train(settings, days_init=1, days_end=0, as_of=DAYS[1])
    runs = status(settings)
    assert runs[DAYS[1]]["train"].outcome == "succeeded"
    assert runs[DAYS[1]]["train"].version == model.version
    assert all(runs[day]["prepare"].outcome == "succeeded" for day in DAYS[:2])

    published = pipeline.publish(settings, model.version)
    run = status(settings)[DAYS[1]]["publish"]
    assert (run.outcome, run.version, run.message) == (
        "succeeded",
        model.version,
        published.message,
    )
    with open_store(settings.store.url) as store:
        assert store.current() == run.version


def test_a_refused_publish_is_recorded_with_its_reason(shop_settings: Settings) -> None:
    settings = shop_settings
    pipeline.export_days(settings, DAYS[:2])
    first = pipeline.train(settings, days_init=1, days_end=0, as_of=DAYS[1])
    pipeline.publish(settings, first.version)
    strict = settings.model_copy(
        update={"store": settings.store.model_copy(update={"min_item_fraction": 1.0})}
    )
    smaller = pipeline.train(
        strict, days_init=0, days_end=0, as_of=DAYS[0], params=settings.train_params(top_k=2)
    )
    assert smaller.manifest.counts.items < first.manifest.counts.items
    with pytest.raises(PublishRefusedError) as refused:
        pipeline.publish(strict, smaller.version)
    run = status(settings)[DAYS[0]]["publish"]
    assert (run.outcome, run.version) == ("failed", smaller.version)
    assert run.message == str(refused.value)
    assert status(settings)[DAYS[1]]["publish"].outcome == "succeeded"  # the day before stays


def test_the_last_run_replaces_the_one_before(tmp_path: Path) -> None:
    log = RunLog(str(tmp_path / "runs"))
    day = dt.date(2026, 1, 5)
    log.finished("export", day, "failed", "warehouse down", seconds=1.0)
    log.finished("export", day, "succeeded", "10 events", seconds=2.5)
    log.finished("export", day - dt.timedelta(days=1), "succeeded", "9 events", seconds=1)
    log.finished("train", day - dt.timedelta(days=9), "succeeded", "old", seconds=1)
    recent = log.recent(days=2)
    assert [d for d, _ in recent] == [day, day - dt.timedelta(days=1)]  # newest first, 2 days
    run = recent[0][1]["export"]
    assert (run.outcome, run.message, run.seconds) == ("succeeded", "10 events", 2.5)
    assert set(recent[0][1]) == {"export"}


def test_running_records_the_failure_and_lets_the_error_through(tmp_path: Path) -> None:
    log = RunLog(f"memory://{tmp_path.name}/runs")
    day = dt.date(2026, 1, 5)

    def divide(by: int) -> float:
        with log.running("train", day) as run:
            run.version = "v1"
            return 1 / by

    with pytest.raises(ZeroDivisionError):
        divide(0)
    failed = log.recent()[0][1]["train"]
    assert failed.outcome == "failed"
    assert failed.message == "unexpected ZeroDivisionError: division by zero"
    assert failed.version == "v1"


def test_a_record_that_cannot_be_written_does_not_fail_the_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the folder should be")
    log = RunLog(str(blocker))
    with caplog.at_level(logging.WARNING, logger="dimrec.runs"), log.running("publish") as run:
        run.message = "done"
    assert "could not record the publish run" in caplog.text
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "export").mkdir()
    (tmp_path / "other" / "export" / "2026-01-05.json").write_text("{not json")
    (tmp_path / "other" / "export" / ".2026-01-06.json.tmp-abc").write_text("")
    with caplog.at_level(logging.WARNING, logger="dimrec.runs"):
        assert RunLog(str(tmp_path / "other")).recent() == [(dt.date(2026, 1, 5), {})]
    assert "unreadable run record" in caplog.text
