"""prepare: one day of events → that day's profiles, cached, recomputed when stale or forced."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from train_helpers import events_table, write_events

from dimrec import partitions, pipeline
from dimrec.config import Settings
from dimrec.errors import DataError, MissingDataError, StorageError
from dimrec.train.profiles import (
    DESCRIPTION_KEY,
    LEGACY_SIDECAR,
    profile_scores,
    read_description,
)

DAY = dt.date(2026, 11, 20)

#: A handful of events and their profiles worked by hand (browse 0.5, basket 2, purchase 6).
EVENTS = [
    ("u1", "A", "browse"),
    ("u1", "A", "browse"),
    ("u1", "A", "basket"),  # u1 A: 0.5 + 0.5 + 2 = 3
    ("u1", "B", "purchase"),  # u1 B: 6
    ("u2", "A", "browse"),  # u2 A: 0.5
    ("u2", "C", "basket"),
    ("u2", "C", "purchase"),  # u2 C: 8
    ("u3", "B", "browse"),
    ("u3", "B", "basket"),
    ("u3", "B", "purchase"),  # u3 B: 8.5
]
PROFILES = [
    {"user": "u1", "item": "A", "score": 3.0},
    {"user": "u1", "item": "B", "score": 6.0},
    {"user": "u2", "item": "A", "score": 0.5},
    {"user": "u2", "item": "C", "score": 8.0},
    {"user": "u3", "item": "B", "score": 8.5},
]


def _profiles(settings: Settings) -> partitions.DayPartitions:
    return partitions.profiles(settings.paths.profiles_url())


def test_known_answer(settings: Settings) -> None:
    write_events(settings, {DAY: EVENTS})
    summary = pipeline.prepare_days(settings, [DAY])
    assert summary.prepared == [DAY]
    assert summary.cached == []
    assert summary.days[0].events == len(EVENTS)
    assert summary.days[0].profiles == len(PROFILES)
    assert _profiles(settings).read(DAY).to_pylist() == PROFILES


def test_configured_weights_and_zero_scores_left_out() -> None:
    weights = {"browse": 0.0, "basket": 1.0, "purchase": 10.0}
    table = profile_scores(events_table(EVENTS), weights, day=DAY)
    # u2 A was only browsed: score 0, no signal, not listed.
    assert table.to_pylist() == [
        {"user": "u1", "item": "A", "score": 1.0},
        {"user": "u1", "item": "B", "score": 10.0},
        {"user": "u2", "item": "C", "score": 11.0},
        {"user": "u3", "item": "B", "score": 11.0},
    ]


def test_unknown_action_is_named() -> None:
    rows = [*EVENTS, ("u4", "D", "wishlist"), ("u5", "D", "wishlist")]
    with pytest.raises(DataError, match=r"'wishlist' \(2 rows\)"):
        profile_scores(events_table(rows), {"browse": 0.5, "basket": 2.0, "purchase": 6.0}, day=DAY)


def test_null_user_is_an_error() -> None:
    table = events_table(EVENTS)
    users = pa.array([None, *table.column("user").to_pylist()[1:]], pa.string())
    table = table.set_column(0, pa.field("user", pa.string()), users)
    with pytest.raises(DataError, match="null user"):
        profile_scores(table, {"browse": 0.5, "basket": 2.0, "purchase": 6.0}, day=DAY)


def test_cached_until_forced(settings: Settings) -> None:
    write_events(settings, {DAY: EVENTS})
    pipeline.prepare_days(settings, [DAY])
    store = _profiles(settings)
    # Put a marker in place of the profiles, with their description: only a recomputation
    # replaces it.
    marker = [{"user": "marker", "item": "X", "score": 1.0}]
    description = {DESCRIPTION_KEY: store.metadata(DAY)[DESCRIPTION_KEY]}
    store.write(DAY, pa.Table.from_pylist(marker, schema=partitions.PROFILES_SCHEMA), description)
    again = pipeline.prepare_days(settings, [DAY])
    assert again.cached == [DAY]
    assert again.prepared == []
    assert store.read(DAY).to_pylist() == marker
    forced = pipeline.prepare_days(settings, [DAY], force=True)
    assert forced.prepared == [DAY]
    assert store.read(DAY).to_pylist() == PROFILES


def test_reexported_events_make_profiles_stale(settings: Settings) -> None:
    write_events(settings, {DAY: EVENTS})
    pipeline.prepare_days(settings, [DAY])
    write_events(settings, {DAY: [*EVENTS, ("u9", "Z", "purchase")]})
    summary = pipeline.prepare_days(settings, [DAY])
    assert summary.prepared == [DAY]
    assert {"user": "u9", "item": "Z", "score": 6.0} in _profiles(settings).read(DAY).to_pylist()


def test_other_weights_make_profiles_stale(settings: Settings) -> None:
    write_events(settings, {DAY: EVENTS})
    pipeline.prepare_days(settings, [DAY])
    weights = {"browse": 1.0, "basket": 2.0, "purchase": 6.0}
    summary = pipeline.prepare_days(settings, [DAY], weights=weights)
    assert summary.prepared == [DAY]
    rows = _profiles(settings).read(DAY).to_pylist()
    assert rows[0] == {"user": "u1", "item": "A", "score": 4.0}  # 1 + 1 + 2


def test_profiles_kept_when_events_were_pruned(settings: Settings) -> None:
    write_events(settings, {DAY: EVENTS})
    pipeline.prepare_days(settings, [DAY])
    os.remove(partitions.events(settings.paths.events_url()).path(DAY))
    assert pipeline.prepare_days(settings, [DAY]).cached == [DAY]
    with pytest.raises(DataError, match="events are gone"):
        pipeline.prepare_days(settings, [DAY], weights={"browse": 1.0})
    with pytest.raises(MissingDataError, match="2026-11-20"):
        pipeline.prepare_days(settings, [DAY], force=True)


def test_missing_events_days_are_named_and_nothing_is_written(settings: Settings) -> None:
    other = DAY - dt.timedelta(days=3)
    write_events(settings, {DAY: EVENTS})
    days = [other - dt.timedelta(days=1), other, DAY]
    with pytest.raises(MissingDataError, match="2026-11-16, 2026-11-17") as error:
        pipeline.prepare_days(settings, days)
    assert "dimrec export" in str(error.value)
    assert _profiles(settings).days() == []


def test_failed_write_keeps_the_previous_day(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(settings, {DAY: EVENTS})
    pipeline.prepare_days(settings, [DAY])
    write_events(settings, {DAY: EVENTS[:3]})  # re-exported: the profiles are stale

    def crash(_src: str, _dst: str) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        with pytest.raises(StorageError, match=r"part-0\.parquet failed: No space left"):
            pipeline.prepare_days(settings, [DAY])
    store = _profiles(settings)
    assert store.read(DAY).to_pylist() == PROFILES  # the old day, whole
    folder = Path(store.path(DAY)).parent
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.parquet"]
    # Still stale, so the next run recomputes it.
    assert pipeline.prepare_days(settings, [DAY]).prepared == [DAY]
    assert store.read(DAY).to_pylist() == [{"user": "u1", "item": "A", "score": 3.0}]


def test_works_on_memory_urls(settings: Settings) -> None:
    root = f"memory://dimrec-test-{uuid.uuid4().hex}"
    memory = settings.model_copy(update={"paths": settings.paths.model_copy(update={"data": root})})
    write_events(memory, {DAY: EVENTS})
    assert pipeline.prepare_days(memory, [DAY]).prepared == [DAY]
    assert pipeline.prepare_days(memory, [DAY]).cached == [DAY]
    assert _profiles(memory).read(DAY).to_pylist() == PROFILES


def test_the_description_lives_in_the_profiles_file(settings: Settings) -> None:
    """What a day's profiles were computed from is inside their own file, so the two are
    replaced together; a record left beside them by an earlier version is removed."""
    write_events(settings, {DAY: EVENTS})
    store = _profiles(settings)
    legacy = Path(store.path(DAY)).parent / LEGACY_SIDECAR
    legacy.parent.mkdir(parents=True)
    legacy.write_text('{"weights": {"browse": 0.5, "basket": 2.0, "purchase": 6.0}}')
    pipeline.prepare_days(settings, [DAY])
    assert not legacy.exists()
    assert sorted(p.name for p in legacy.parent.iterdir()) == ["part-0.parquet"]
    description = read_description(store, DAY)
    assert description is not None
    assert description["weights"] == {"basket": 2.0, "browse": 0.5, "purchase": 6.0}
    assert description["rows"] == {"events": len(EVENTS), "profiles": len(PROFILES)}
    events_file = Path(partitions.events(settings.paths.events_url()).path(DAY))
    assert description["events"]["size"] == events_file.stat().st_size


def test_unreadable_profiles_are_prepared_again(settings: Settings) -> None:
    write_events(settings, {DAY: EVENTS})
    pipeline.prepare_days(settings, [DAY])
    path = Path(_profiles(settings).path(DAY))
    path.write_bytes(b"not parquet at all")
    assert pipeline.prepare_days(settings, [DAY]).prepared == [DAY]
    assert _profiles(settings).read(DAY).to_pylist() == PROFILES
    path.write_bytes(b"PAR1 truncated")
    os.remove(partitions.events(settings.paths.events_url()).path(DAY))  # nothing to redo from
    with pytest.raises(DataError, match=r"profiles for 2026-11-20: .* not a readable Parquet"):
        pipeline.prepare_days(settings, [DAY])
