"""`dimrec gc` removes the left-overs of writes that were really killed (SIGKILL) — the
temporary file of an export, a model folder without its manifest — but never anything
written in the last --min-age seconds, which may be being written right now."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dimrec import model, partitions, pipeline
from dimrec.config import Settings
from train.train_helpers import events_table

DAY = dt.date(2026, 11, 20)
EVENTS = [("u1", "A", "browse"), ("u1", "B", "purchase"), ("u2", "A", "basket")]
EVENTS += [("u2", "B", "browse"), ("u3", "A", "purchase"), ("u3", "B", "basket")]

# Stops a write just before the temporary file named by $DIMREC_TEST_PAUSE_AT is renamed
# into place, says so, and waits to be killed.
PAUSE_HOOK = """
import os, time
_replace = os.replace
def _paused_replace(src, dst, *args, **kwargs):
    if str(dst).endswith(os.environ["DIMREC_TEST_PAUSE_AT"]):
        with open(os.environ["DIMREC_TEST_PAUSE_MARKER"], "w") as handle:
            handle.write(str(src))
        time.sleep(600)
    return _replace(src, dst, *args, **kwargs)
os.replace = _paused_replace
"""


def dimrec(settings: Settings, cwd: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    hooks = cwd / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(PAUSE_HOOK)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    paths = [str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])]
    clean.update(
        PYTHONPATH=os.pathsep.join(paths),
        DIMREC_PATHS__DATA=settings.paths.data,
        DIMREC_STORE__URL=settings.store.url,
        DIMREC_TEST_PAUSE_AT=env.pop("pause_at", "never"),
        DIMREC_TEST_PAUSE_MARKER=str(cwd / "paused"),
        COLUMNS="250",
        **env,
    )
    script = Path(sys.executable).with_name("dimrec")
    return subprocess.Popen(
        [str(script), *args], env=clean, cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = dimrec(settings, cwd, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def killed_while_writing(settings: Settings, cwd: Path, pause_at: str, *args: str) -> Path:
    """Run `dimrec ARGS`, SIGKILL it just before it renames its file ending in ``pause_at``
    into place; return the temporary file it left."""
    marker = cwd / "paused"
    marker.unlink(missing_ok=True)
    proc = dimrec(settings, cwd, *args, pause_at=pause_at)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, f"dimrec {args} never reached {pause_at}"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    return Path(marker.read_text())


def _age(path: Path, hours: float) -> None:
    """Make ``path`` (and what a folder holds) last written ``hours`` ago."""
    then = time.time() - hours * 3600
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.utime(item, (then, then))


@pytest.mark.slow
def test_gc_removes_what_killed_writes_left_and_nothing_young(
    settings: Settings, tmp_path: Path
) -> None:
    events = partitions.events(settings.paths.events_url())
    events.write(DAY, events_table(EVENTS))
    kept_model = pipeline.train(settings, days_init=0, days_end=0, as_of=DAY)
    before = Path(events.path(DAY)).read_bytes()

    csv = tmp_path / "log.csv"
    noon = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp())
    csv.write_text("timestamp,visitorid,event,itemid\n" + f"{noon},u9,view,Z\n" * 3)
    export_tmp = killed_while_writing(
        settings, tmp_path, "part-0.parquet",
        "export", "--date", DAY.isoformat(), "--source", "flat", "--input", str(csv),
    )  # fmt: skip
    manifest_tmp = killed_while_writing(
        settings, tmp_path, model.MANIFEST,
        "train", "--days-init", "0", "--days-end", "0", "--as-of", DAY.isoformat(),
    )  # fmt: skip
    incomplete = manifest_tmp.parent
    assert export_tmp.is_file()
    assert manifest_tmp.is_file()
    assert sorted(p.name for p in incomplete.iterdir() if not p.name.startswith(".")) == [
        model.NEIGHBOURS,
        model.POPULARITY,
    ]

    fresh = run(settings, tmp_path, "gc")  # default --min-age: an hour
    assert fresh.returncode == 0, fresh.stderr
    assert "0 left-over(s)" in fresh.stdout
    assert export_tmp.exists()
    assert incomplete.exists()

    listed = run(settings, tmp_path, "gc", "--dry-run", "--min-age", "0")
    assert listed.returncode == 0, listed.stderr
    assert f"would remove temporary file {export_tmp}" in listed.stdout
    assert f"would remove incomplete model {incomplete}" in listed.stdout
    assert "2 left-over(s)" in listed.stdout
    assert export_tmp.exists()
    assert incomplete.exists()

    _age(export_tmp, 2)
    _age(incomplete, 2)
    young = tmp_path / "var" / "models" / model.new_version()  # being written right now
    (young / "sub").mkdir(parents=True)
    (young / model.NEIGHBOURS).write_bytes(b"half")
    swept = run(settings, tmp_path, "gc")
    assert swept.returncode == 0, swept.stderr
    assert "2 left-over(s)" in swept.stdout
    assert not export_tmp.exists()
    assert not incomplete.exists()
    assert young.exists()
    assert Path(events.path(DAY)).read_bytes() == before  # the day, untouched
    assert model.list_versions(settings.paths.models_url()) == [kept_model.version]
    model.load_model(settings.paths.models_url(), kept_model.version)  # still whole


def test_the_commands_default_age_is_the_sweeps() -> None:
    from dimrec.cli import upkeep
    from dimrec.upkeep import leftovers

    assert upkeep.MIN_AGE_SECONDS == leftovers.MIN_AGE_SECONDS


def test_gc_in_process_finds_legacy_records_on_any_file_system(settings: Settings) -> None:
    """The same sweep through pipeline.gc on a memory:// tree (no local paths): a legacy
    _prepared.json is a left-over; a complete day and model are not."""
    root = "memory://gc-test"
    memory = settings.model_copy(update={"paths": settings.paths.model_copy(update={"data": root})})
    events = partitions.events(memory.paths.events_url())
    events.write(DAY, events_table(EVENTS))
    pipeline.prepare_days(memory, [DAY])
    profiles = partitions.profiles(memory.paths.profiles_url())
    legacy = profiles.path(DAY).rpartition("/")[0] + "/_prepared.json"
    profiles.fs.pipe(legacy, b"{}")
    found = pipeline.gc(memory, min_age=0, dry_run=True)
    assert [(item.kind, item.url) for item in found] == [("legacy record", f"memory://{legacy}")]
    assert profiles.fs.exists(legacy)
    assert [item.url for item in pipeline.gc(memory, min_age=0)] == [f"memory://{legacy}"]
    assert not profiles.fs.exists(legacy)
    assert pipeline.gc(memory, min_age=0) == []
    assert profiles.exists(DAY)
    profiles.fs.rm("/gc-test", recursive=True)
