"""`dimrec doctor` on a real tree (events, profiles, a trained model, a SQLite store): all
sound on a healthy tree (exit 0); each kind of damage is named and makes it exit 5; left-overs
are a note for `dimrec gc`."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dimrec import model, partitions, pipeline
from dimrec.config import Settings
from train.train_helpers import events_table

DAY = dt.date(2026, 11, 20)
EVENTS = [("u1", "A", "browse"), ("u1", "B", "purchase"), ("u2", "A", "basket")]
EVENTS += [("u2", "B", "browse"), ("u3", "A", "purchase"), ("u3", "B", "basket")]
EVENTS += [("u3", "C", "browse"), ("u4", "C", "basket"), ("u4", "A", "purchase")]


def doctor(settings: Settings, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(
        DIMREC_PATHS__DATA=settings.paths.data,
        DIMREC_STORE__URL=settings.store.url,
        COLUMNS="400",
    )
    script = Path(sys.executable).with_name("dimrec")
    return subprocess.run(
        [str(script), "doctor"], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def tree(settings: Settings) -> tuple[Settings, model.Model]:
    """Two days exported and prepared, a model trained and published."""
    events = partitions.events(settings.paths.events_url())
    for day in (DAY - dt.timedelta(days=1), DAY):
        events.write(day, events_table(EVENTS))
    trained = pipeline.train(settings, days_init=1, days_end=0, as_of=DAY)
    pipeline.publish(settings)
    return settings, trained


def _store_path(settings: Settings) -> Path:
    return Path(settings.store.url.removeprefix("sqlite:///"))


def test_a_healthy_tree(tree: tuple[Settings, model.Model], tmp_path: Path) -> None:
    settings, trained = tree
    result = doctor(settings, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PROBLEM" not in result.stdout
    assert "2 of 2 day(s) readable" in result.stdout
    assert "1 of 1 version(s) sound" in result.stdout
    assert f"current version {trained.version}, 3 entries read back" in result.stdout
    assert "no left-overs" in result.stdout


def test_damaged_files_and_store_are_named(
    tree: tuple[Settings, model.Model], tmp_path: Path
) -> None:
    settings, trained = tree
    events = partitions.events(settings.paths.events_url())
    Path(events.path(DAY)).write_bytes(b"PAR1 this is not parquet PAR1")
    neighbours = Path(trained.url) / model.NEIGHBOURS
    data = bytearray(neighbours.read_bytes())
    data[len(data) // 2] ^= 0xFF
    neighbours.write_bytes(bytes(data))
    with sqlite3.connect(_store_path(settings)) as con:
        con.execute("DELETE FROM entries WHERE item = 'A'")

    result = doctor(settings, tmp_path)
    assert result.returncode == 5, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert f"events for {DAY}" in out
    assert "not a readable Parquet file" in out
    assert f"model {trained.version}: neighbours.parquet does not match its manifest" in out
    assert f"version {trained.version} holds 2 entries, 3 when it was published" in out
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "doctor found 3 problem(s)" in error


def test_a_corrupt_sqlite_store_is_a_problem(
    tree: tuple[Settings, model.Model], tmp_path: Path
) -> None:
    settings, _ = tree
    path = _store_path(settings)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
    data = bytearray(path.read_bytes())
    for n in range(1, pages):  # every page but the first: its b-tree page header garbled
        data[n * page : n * page + 12] = b"\x0d\xff" * 6
    path.write_bytes(bytes(data))
    result = doctor(settings, tmp_path)
    assert result.returncode == 5, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines() if "PROBLEM" in line]
    assert problems
    assert all("│ store " in line or "│            │" in line for line in problems), problems


def test_left_overs_and_stale_profiles_are_notes(
    tree: tuple[Settings, model.Model], tmp_path: Path
) -> None:
    settings, _ = tree
    incomplete = Path(settings.paths.models_url()) / model.new_version()
    incomplete.mkdir()
    (incomplete / model.NEIGHBOURS).write_bytes(b"half written")
    partitions.events(settings.paths.events_url()).write(DAY, events_table(EVENTS[:3]))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dimrec")), "doctor", "--min-age", "0"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")},
            "DIMREC_PATHS__DATA": settings.paths.data,
            "DIMREC_STORE__URL": settings.store.url,
            "COLUMNS": "400",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "1 left-over(s) of interrupted writes (incomplete model" in out
    assert "`dimrec gc` removes them" in out
    assert f"1 day(s) are older than their events ({DAY})" in out
