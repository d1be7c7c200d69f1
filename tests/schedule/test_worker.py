"""A real `dimrec worker` process on SQLite storage: jobs, the daily chain, crashes, failures."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dimrec import pipeline, tuned
from dimrec.config import Settings, load_settings
from dimrec.model import load_model
from dimrec.publish.stores import open_store
from dimrec.schedule.jobs import FINAL_STATES, JobRecord
from dimrec.schedule.queue import JobQueue
from dimrec.serve.app import create_app
from dimrec.synth import generate
from serve.serve_helpers import live_server

AS_OF = dt.date(2026, 11, 21)
DAYS = 6  # 2026-11-15 .. 2026-11-20: the window 6..1 days before AS_OF


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Settings]:
    """A synthetic shop on disk and a dimrec.toml whose window covers its days."""
    for name in list(os.environ):
        if name.startswith("DIMREC_") and name != "DIMREC_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    generate(
        str(tmp_path / "warehouse"),
        start=AS_OF - dt.timedelta(days=DAYS),
        days=DAYS,
        sessions_per_day=400,
        n_items=150,
        n_users=300,
        seed=3,
        formats=("ga360",),
    )
    config = tmp_path / "dimrec.toml"
    config.write_text(
        f"""
[paths]
data = "{tmp_path / "var"}"
[export]
input = "{tmp_path / "warehouse" / "ga360"}"
[train]
days_init = {DAYS}
days_end = 1
top_k = 20
[store]
url = "sqlite:///{tmp_path / "var" / "store.db"}"
[queue]
rate_limit_per_minute = 1000
retries = 0
"""
    )
    return config, load_settings(config)


@pytest.fixture
def start_worker(shop: tuple[Path, Settings]) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    config, _ = shop
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as logs:

        def start() -> subprocess.Popen[bytes]:
            log = logs.enter_context((config.parent / f"worker-{len(procs)}.log").open("wb"))
            proc = subprocess.Popen(
                [sys.executable, "-m", "dimrec", "--config", str(config), "worker"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            procs.append(proc)
            return proc

        yield start
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_final(queue: JobQueue, job_id: str, timeout: float = 120) -> tuple[JobRecord, list[str]]:
    """Poll a job until it ends; return its record and every state seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = queue.get(job_id)
        assert record is not None
        if not seen or seen[-1] != record.state:
            seen.append(record.state)
        if record.state in FINAL_STATES:
            return record, seen
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s (states seen: {seen})")


def test_daily_chain_runs_and_the_api_serves_the_new_version(
    shop: tuple[Path, Settings], start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:

    _, settings = shop
    start_worker()
    queue = JobQueue(settings)
    job = queue.submit("daily", {"as_of": AS_OF.isoformat()})
    record, seen = wait_final(queue, job.id)
    assert record.state == "succeeded", record.message
    assert seen[0] == "queued"
    assert "running" in seen
    assert record.started_at
    assert record.finished_at
    assert record.result is not None
    assert set(record.result) == {"export", "prepare", "train", "publish"}
    version = record.result["train"]["version"]

    with open_store(settings.store.url) as store:
        assert store.current() == version
    with live_server(create_app(settings)) as url:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200
        with open_store(settings.store.url) as store:
            assert [info.version for info in store.versions()] == [version]
        popular = httpx.get(f"{url}/make_recommendation", params={"n": 3}, timeout=10).json()
        assert popular["version"] == version


def test_tune_apply_then_the_daily_chain_publishes_the_tuned_model(
    shop: tuple[Path, Settings], start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    config, settings = shop
    days = [AS_OF - dt.timedelta(days=n) for n in range(DAYS, 0, -1)]
    pipeline.export_days(settings, days).raise_for_missing()
    grid = config.parent / "grid.toml"
    grid.write_text('algorithms = ["rp3beta"]\nrp3_beta = [0.0, 0.5]\nhalf_life_days = [7.0]\n')
    command = [sys.executable, "-m", "dimrec", "-c", str(config), "tune", "--grid", str(grid)]
    tuned_run = subprocess.run(
        [*command, "--no-baselines", "--apply"], capture_output=True, text=True, check=False
    )
    assert tuned_run.returncode == 0, tuned_run.stderr
    applied = tuned.applied(settings.paths.models_url())
    assert applied is not None
    assert applied.params["algorithm"] == "rp3beta"
    assert f"applied ({tuned.applied_url(settings.paths.models_url())})" in tuned_run.stdout

    start_worker()
    queue = JobQueue(settings)
    job = queue.submit("daily", {"as_of": AS_OF.isoformat()})
    record, _ = wait_final(queue, job.id)
    assert record.state == "succeeded", record.message
    assert record.result is not None
    version = record.result["train"]["version"]
    with open_store(settings.store.url) as store:
        assert store.current() == version
    manifest = load_model(settings.paths.models_url(), version).manifest
    assert manifest.tuned_by == applied.run
    assert manifest.params.algorithm == "rp3beta"
    assert manifest.params.rp3_beta == applied.params["rp3_beta"]
    assert manifest.params.half_life_days == 7.0  # the tune's, not the settings' (none)
    assert manifest.params.top_k == applied.params["top_k"] == 20  # [train] top_k, kept


def test_a_job_queued_when_the_worker_is_killed_runs_once_after_restart(
    shop: tuple[Path, Settings], start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    _, settings = shop
    queue = JobQueue(settings)
    worker = start_worker()
    long_job = queue.submit("daily", {"as_of": AS_OF.isoformat()})
    deadline = time.monotonic() + 60
    while (record := queue.get(long_job.id)) is not None and record.state == "queued":
        assert time.monotonic() < deadline, "the worker never started the first job"
        time.sleep(0.01)
    waiting = queue.submit("export", {"date": (AS_OF - dt.timedelta(days=1)).isoformat()})
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    queued = queue.get(waiting.id)
    assert queued is not None
    assert queued.state == "queued"

    start_worker()
    record, _ = wait_final(queue, waiting.id)
    assert record.state == "succeeded", record.message
    assert record.attempts == 1  # claimed once: it ran once, not zero or two times
    interrupted = queue.get(long_job.id)
    assert interrupted is not None
    if interrupted.state == "failed":  # killed mid-run: reported, not silently lost
        assert "interrupted" in (interrupted.message or "")
    time.sleep(1.5)  # give a duplicate delivery the chance to show itself
    again = queue.get(waiting.id)
    assert again is not None
    assert again.attempts == 1
    assert again.state == "succeeded"


def test_a_failing_step_stops_the_chain_and_keeps_the_published_version(
    shop: tuple[Path, Settings], start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    _, settings = shop
    queue = JobQueue(settings)
    start_worker()
    first = queue.submit("daily", {"as_of": AS_OF.isoformat()})
    record, _ = wait_final(queue, first.id)
    assert record.state == "succeeded", record.message
    with open_store(settings.store.url) as store:
        published = store.current()
        items = store.count(published) if published else 0
    assert published
    assert items > 0

    gone = AS_OF - dt.timedelta(days=2)
    table = Path(settings.export.input) / f"ga_sessions_{gone:%Y%m%d}.json.gz"
    table.unlink()
    events_day = Path(settings.paths.events_url()) / f"date={gone.isoformat()}"
    for part in events_day.iterdir():
        part.unlink()
    events_day.rmdir()

    failing = queue.submit("daily", {"as_of": AS_OF.isoformat(), "force": True})
    record, _ = wait_final(queue, failing.id)
    assert record.state == "failed"
    assert gone.isoformat() in (record.message or "")
    with open_store(settings.store.url) as store:
        assert store.current() == published
        assert store.count(published) == items


# Makes the export of a worker started with DIMREC_TEST_PAUSE_MARKER stop just before it
# renames a day's file into place, and say so: the job is then running, mid-write.
PAUSE_HOOK = """
import os, time
_replace = os.replace
def _paused_replace(src, dst, *args, **kwargs):
    marker = os.environ.get("DIMREC_TEST_PAUSE_MARKER")
    if marker and str(dst).endswith("part-0.parquet"):
        with open(marker, "w") as handle:
            handle.write(str(src))
        time.sleep(600)
    return _replace(src, dst, *args, **kwargs)
os.replace = _paused_replace
"""
LEASE_SECONDS = 2


def _pid_namespaces() -> bool:
    """Whether this machine lets us start a process as PID 1 of a new PID namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-fp", "--mount-proc", "true"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _pid_namespaces(), reason="needs PID namespaces (unshare, as root)")
def test_a_killed_workers_job_is_taken_over_by_a_worker_with_the_same_pid(
    shop: tuple[Path, Settings], tmp_path: Path
) -> None:
    """Two workers, one after the other, each PID 1 of its own PID namespace (as in two
    containers): the same host:pid. The first is SIGKILLed while running a job; the second
    takes the job over once its lease runs out and runs the next job of the same day, which
    a liveness check by PID would skip forever (PID 1 is alive: it is the new worker)."""
    config, settings = shop
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(PAUSE_HOOK)
    marker = tmp_path / "paused"
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    base["DIMREC_QUEUE__LEASE_SECONDS"] = str(LEASE_SECONDS)
    command = ["unshare", "-fp", "--mount-proc", sys.executable, "-m", "dimrec"]
    command += ["--config", str(config), "worker"]
    queue = JobQueue(settings)
    day = (AS_OF - dt.timedelta(days=1)).isoformat()

    with (tmp_path / "worker-a.log").open("wb") as log_a:
        first_worker = subprocess.Popen(
            command,
            env={**base, "PYTHONPATH": _with_hooks(hooks), "DIMREC_TEST_PAUSE_MARKER": str(marker)},
            stdout=subprocess.DEVNULL,
            stderr=log_a,
        )
        try:
            first = queue.submit("export", {"date": day})
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert first_worker.poll() is None, (tmp_path / "worker-a.log").read_text()
                assert time.monotonic() < deadline, "the first worker never started the job"
                time.sleep(0.05)
            running = queue.get(first.id)
            assert running is not None
            assert running.state == "running"
            assert running.worker is not None
            assert running.worker.endswith(":1")  # PID 1 of its namespace
            os.kill(_inner_pid(first_worker), signal.SIGKILL)  # the worker, not unshare
            first_worker.wait(30)
        finally:
            if first_worker.poll() is None:
                first_worker.kill()
                first_worker.wait(30)
    time.sleep(LEASE_SECONDS * 1.5)  # past the lease the killed worker can no longer renew

    with (tmp_path / "worker-b.log").open("wb") as log_b:
        second_worker = subprocess.Popen(command, env=base, stdout=subprocess.DEVNULL, stderr=log_b)
        try:
            second = queue.submit("export", {"date": day})
            record, _ = wait_final(queue, second.id)
            assert record.state == "succeeded", (record.message, log_b.name)
            assert record.worker == running.worker  # the very same host:pid name
            interrupted = queue.get(first.id)
            assert interrupted is not None
            assert interrupted.state == "failed"
            assert "stopped renewing the job's lease" in (interrupted.message or "")
        finally:
            os.kill(_inner_pid(second_worker), signal.SIGINT)  # unshare exits with it
            try:
                second_worker.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(_inner_pid(second_worker), signal.SIGKILL)
                second_worker.wait(30)


def _inner_pid(unshare: subprocess.Popen[bytes]) -> int:
    """The host PID of the process `unshare -f` started (PID 1 of its namespace)."""
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children")
    (pid,) = map(int, children.read_text().split())
    return pid


def _with_hooks(hooks: Path) -> str:
    """PYTHONPATH with ``hooks`` (its sitecustomize) first."""
    return os.pathsep.join([str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])])
