"""The README's main command, end to end: `dimrec demo --exit` on a tiny shop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dimrec.model import list_versions
from dimrec.publish.stores import open_store


@pytest.mark.slow
def test_demo_runs_the_whole_flow_and_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-m", "dimrec", "demo", "--size", "tiny", "--port", "0", "--exit"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    versions = list_versions(str(tmp_path / "var" / "models"))
    assert len(versions) == 1
    with open_store(f"sqlite:///{tmp_path / 'var' / 'store.db'}") as store:
        assert store.current() == versions[0]
        assert store.count(versions[0]) > 0
    # the summaries on stdout, one line a step, and by default no log record anywhere
    steps = [line.split()[0] for line in done.stdout.splitlines()[:5]]
    assert steps == ["synth", "export", "train", "publish", "serve"]
    assert done.stderr == ""
    # the samples were answered over HTTP: real shoppers and the popularity fallback
    assert done.stdout.count("GET /make_recommendation") >= 2
    assert "similar items" in done.stdout
    assert "popularity fallback" in done.stdout


def test_demo_refuses_a_port_that_cannot_be(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dimrec", "demo", "--port", "99999999", "--exit"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--port" in done.stderr
    assert "65535" in done.stderr
    assert not (tmp_path / "var").exists()  # refused before anything ran
