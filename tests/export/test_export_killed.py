"""A `dimrec export` killed with SIGKILL halfway through writing a day leaves the day's
previous partition intact and readable; the next run replaces it.

To kill it at a known point, the subprocess gets a ``sitecustomize`` (on PYTHONPATH, so
nothing in dimrec itself is changed) that makes ``os.replace`` onto a ``part-0.parquet``
announce itself and wait: the new day is then fully written under its temporary name and
not yet renamed — the last moment a crash could catch it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dimrec import partitions, pipeline
from dimrec.config import Settings

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


def _dimrec() -> list[str]:
    """The installed ``dimrec`` script of this environment."""
    script = Path(sys.executable).with_name("dimrec")
    assert script.exists(), f"{script} is missing: run `make setup`"
    return [str(script)]


@pytest.mark.slow
def test_sigkill_while_writing_keeps_the_previous_partition(
    export_settings: Settings, shop: Path, tmp_path: Path, shop_days: list[dt.date]
) -> None:
    day = shop_days[0]
    pipeline.export_days(export_settings, [day])
    events = partitions.events(export_settings.paths.events_url())
    before = events.read(day)

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(PAUSE_HOOK)
    marker = tmp_path / "paused"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")},
        "PYTHONPATH": str(hooks),
        "DIMREC_TEST_PAUSE_MARKER": str(marker),
        "DIMREC_PATHS__DATA": export_settings.paths.data,
        "DIMREC_EXPORT__SKU_REGEX": "",  # the new partition would differ: variant SKUs kept
    }
    command = [*_dimrec(), "export", "--date", day.isoformat(), "--input", str(shop / "ga360")]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the export never reached the rename"
            time.sleep(0.05)
        temporary = Path(marker.read_text())
        assert temporary.exists()
        assert temporary.stat().st_size > 0
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()

    assert events.days() == [day]
    assert events.read(day).equals(before)  # the old day, whole and readable

    env.pop("DIMREC_TEST_PAUSE_MARKER")
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    after = events.read(day)
    assert after.num_rows == before.num_rows
    assert set(after["item"].to_pylist()) != set(before["item"].to_pylist())
