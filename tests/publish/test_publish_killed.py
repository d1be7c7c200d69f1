"""A publish killed midway (SIGKILL) leaves the previous version current and complete, and
the next publish cleans up and succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from publish_helpers import band_of, write_banded

from dimrec.config import StoreSettings
from dimrec.model import load_model
from dimrec.publish import admin, publisher
from dimrec.publish.stores import open_store

ITEMS = 5000  # three write batches of at most 2000
NEIGHBOURS = 10
BIN = Path(sys.executable).parent

# Runs the real `dimrec publish`, with the store's batch write instrumented to announce the
# second batch is committed and then wait to be killed: the kill lands between two batches,
# deterministically, instead of racing the publish.
PAUSED_PUBLISH = """
import pathlib, sys, time
from dimrec.publish.redis import RedisStore
from dimrec.publish.sqlite import SqliteStore

marker = pathlib.Path(sys.argv[1])
cls = {"sqlite": SqliteStore, "redis": RedisStore}[sys.argv[2]]
original = cls.put_packed
calls = []

def put_packed(self, version, rows):
    original(self, version, rows)
    calls.append(len(rows))
    if len(calls) == 2:
        marker.write_text(version)
        time.sleep(600)

cls.put_packed = put_packed
from dimrec.cli import main
sys.argv = ["dimrec", "publish"]
main()
"""


def _env(tmp_path: Path, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(DIMREC_PATHS__DATA=str(tmp_path / "var"), DIMREC_STORE__URL=store_url, NO_COLOR="1")
    return env


def _publish_killed_when_paused(
    tmp_path: Path, url: str, backend: str
) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run PAUSED_PUBLISH in a child; SIGKILL it once it pauses (marker written). The ended
    child (its output in ``stdout``) and whether it was killed paused."""
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_PUBLISH, str(marker), backend],
        env=_env(tmp_path, url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with proc:
        try:
            deadline = time.monotonic() + 120
            while not marker.exists() and proc.poll() is None:
                assert time.monotonic() < deadline, "the publish neither paused nor ended"
                time.sleep(0.05)
            paused = marker.exists()
            if paused:
                proc.send_signal(signal.SIGKILL)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        output = proc.stdout.read() if proc.stdout is not None else ""
    if paused:
        assert proc.returncode == -signal.SIGKILL, output
    return subprocess.CompletedProcess(proc.args, proc.returncode, output), paused


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_killed_publish_leaves_the_previous_version_whole(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path / 'var' / 'store.db'}"
    models = str(tmp_path / "var" / "models")
    old = write_banded(models, ITEMS, NEIGHBOURS, 1, minute=1)
    store = open_store(url)
    publisher.publish_model(store, load_model(models), StoreSettings())
    new = write_banded(models, ITEMS, NEIGHBOURS, 2, minute=2)

    proc, paused = _publish_killed_when_paused(tmp_path, url, backend)
    assert paused, proc.stdout
    assert proc.returncode == -signal.SIGKILL

    # the old version is current and complete; the new one is a staged, partial leftover
    assert store.current() == old.version
    entries = list(store.entries(old.version))
    assert len(entries) == ITEMS
    assert {band_of(s) for e in entries for s in e.scores} == {1}
    assert {len(e.neighbours) for e in entries} == {NEIGHBOURS}
    staged = {i.version: i for i in store.versions() if i.staged}
    assert list(staged) == [new.version]
    assert staged[new.version].items == 4000

    # the real command, uninstrumented, cleans up and publishes
    done = subprocess.run(
        [str(BIN / "dimrec"), "publish"],
        env=_env(tmp_path, url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"removed {new.version}, left staged" in done.stdout
    assert f"published {new.version}: 5,000 items" in done.stdout
    assert store.current() == new.version
    assert [(i.version, i.staged, i.items) for i in store.versions()] == [
        (old.version, False, ITEMS),
        (new.version, False, ITEMS),
    ]
    scores = {band_of(s) for e in store.entries(new.version) for s in e.scores}
    assert scores == {2}
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_killed_republish_keeps_the_rollback_copy(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Roll back past a version, then `dimrec publish` it again and SIGKILL the publish at
    its second batch: the version must still be in the store, whole, to roll forward to."""
    if backend == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path / 'var' / 'store.db'}"
    models = str(tmp_path / "var" / "models")
    old = write_banded(models, ITEMS, NEIGHBOURS, 1, minute=1)
    new = write_banded(models, ITEMS, NEIGHBOURS, 2, minute=2)
    store = open_store(url)
    for version in (old.version, new.version):
        publisher.publish_model(store, load_model(models, version), StoreSettings())
    assert admin.rollback(store) == old.version

    proc, _ = _publish_killed_when_paused(tmp_path, url, backend)
    output = proc.stdout  # it may have finished the rewrite before pausing: either way
    infos = {i.version: i for i in store.versions()}
    assert new.version in infos, output
    assert not infos[new.version].staged, output
    assert infos[new.version].items == ITEMS
    entries = list(store.entries(new.version))
    assert len(entries) == ITEMS
    assert {band_of(s) for e in entries for s in e.scores} == {2}
    assert proc.returncode == 0, output  # nothing to rewrite: it made the copy current
    assert store.current() == new.version
    store.close()
