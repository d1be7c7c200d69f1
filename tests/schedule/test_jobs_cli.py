"""`dimrec jobs run` as a user runs it: a window that cannot run is refused before it is
queued, and `--wait` with no worker running says so instead of waiting forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dimrec.config import Settings
from dimrec.schedule.queue import JobQueue


def _dimrec(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(DIMREC_PATHS__DATA=settings.paths.data, DIMREC_STORE__URL=settings.store.url)
    script = Path(sys.executable).with_name("dimrec")
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_window_too_long_is_refused_and_not_queued(settings: Settings) -> None:
    result = _dimrec(settings, "jobs", "run", "export", "--days-init", "1000000000")
    assert result.returncode == 2, result.stderr
    assert "max_window_days" in _one_error_line(result)
    assert JobQueue(settings).recent() == []


def test_wait_without_a_worker_gives_up_after_the_timeout(settings: Settings) -> None:
    result = _dimrec(settings, "jobs", "run", "publish", "--wait", "--wait-timeout", "1")
    assert result.returncode == 4, result.stderr
    line = _one_error_line(result)
    assert "still queued after 1s" in line
    assert "dimrec worker" in line
    (record,) = JobQueue(settings).recent()
    assert record.state == "queued"  # kept: a worker started later runs it


def test_param_reaches_the_queued_job_and_a_bad_one_is_refused(settings: Settings) -> None:
    """`--param NAME=VALUE` takes any training parameter (the job's model is derived from the
    parameter model); an unknown name is refused in one line and nothing is queued."""
    result = _dimrec(
        settings, "jobs", "run", "train", "--algorithm", "rp3beta", "--param", "rp3_alpha=0.7"
    )
    assert result.returncode == 0, result.stderr
    (record,) = JobQueue(settings).recent()
    assert record.params["algorithm"] == "rp3beta"
    assert record.params["rp3_alpha"] == 0.7
    refused = _dimrec(settings, "jobs", "run", "train", "--param", "rp3_gamma=1")
    assert refused.returncode == 2, refused.stderr
    assert "rp3_gamma" in _one_error_line(refused)
    assert len(JobQueue(settings).recent()) == 1
