"""The command line as a person meets it: what lands on stdout and stderr, how loud it is, and
what a start loads (real processes; their streams are pipes, as in ``dimrec ... > file``)."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dimrec.config import Settings
from dimrec.logs import setup_logging
from dimrec.publish.base import Entry
from dimrec.publish.stores import open_store
from ports import free_port

VERSION = "20260101T000000000Z"
HEAVY = ("numpy", "pyarrow", "scipy", "duckdb", "numba", "pydantic", "rich", "fastapi")


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``dimrec ARGS`` in a fresh process, stdout and stderr captured apart."""
    return subprocess.run(
        [sys.executable, "-m", "dimrec", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The environment of a command on the test's settings (no DIMREC_* from outside)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    return {
        **clean,
        "DIMREC_PATHS__DATA": settings.paths.data,
        "DIMREC_STORE__URL": settings.store.url,
    }


@pytest.fixture
def published(settings: Settings) -> str:
    """The settings' store with one published version of three items."""
    with open_store(settings.store.url) as store:
        store.stage(VERSION, {"version": VERSION})
        store.put_entries(
            VERSION,
            [Entry("a", ("b", "c"), (0.5, 0.25)), Entry("b", ("a",), (0.5,))],
        )
        store.put_popularity(VERSION, ["a"], [1.0])
        store.activate(VERSION)
    return VERSION


def synth_args(tmp_path: Path) -> list[str]:
    return ["synth", "--size", "tiny", "--days", "1", "--formats", "ga360", "--out", str(tmp_path)]


def loaded_modules(*args: str, env: dict[str, str], cwd: Path) -> set[str]:
    """The top-level packages (and dimrec modules) loaded by a run of ``dimrec ARGS``."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['dimrec', *{list(args)!r}]\n"
        "try:\n"
        "    runpy.run_module('dimrec', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = done.stderr.rpartition("MODULES ")[2].split()
    return {n if n.startswith("dimrec") else n.partition(".")[0] for n in names}


# --- start-up: a command loads what it uses ---------------------------------------------------


def test_help_and_version_load_no_heavy_library(env: dict[str, str], tmp_path: Path) -> None:
    for args in (["--help"], ["--version"]):
        loaded = loaded_modules(*args, env=env, cwd=tmp_path)
        assert not loaded & set(HEAVY), args
    # a command's help: typer checks its options with pydantic, and nothing else loads; the
    # settings are not even read
    loaded = loaded_modules("publish", "--help", env=env, cwd=tmp_path)
    assert loaded & set(HEAVY) == {"pydantic"}
    assert "dimrec.config" not in loaded


def test_versions_loads_the_store_and_nothing_of_the_stages(
    env: dict[str, str], tmp_path: Path, published: str
) -> None:
    loaded = loaded_modules("versions", env=env, cwd=tmp_path)
    assert "dimrec.publish.sqlite" in loaded  # it did read the store
    for absent in ("numpy", "pyarrow", "duckdb", "scipy", "numba", "fastapi", "dimrec.pipeline"):
        assert absent not in loaded
    assert not {n for n in loaded if n.startswith(("dimrec.train", "dimrec.export"))}
    done = run("versions", env=env, cwd=tmp_path)
    assert published in done.stdout


# --- streams and levels ----------------------------------------------------------------------


def test_a_command_is_quiet_by_default_and_logs_only_on_stderr(
    env: dict[str, str], tmp_path: Path
) -> None:
    quiet = run(*synth_args(tmp_path / "quiet"), env=env, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""  # WARNING by default: no INFO record
    assert "synthetic shop" in quiet.stdout

    loud = run("-v", *synth_args(tmp_path / "loud"), env=env, cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    records = loud.stderr.splitlines()
    assert records
    assert all(" INFO dimrec." in line for line in records)
    # the same summary on stdout, and not one log record in it
    assert " INFO " not in loud.stdout
    assert _counts(loud.stdout) == _counts(quiet.stdout)


def test_the_level_comes_from_the_settings_unless_the_command_line_says(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "DIMREC_LOG_LEVEL": "info"}
    from_settings = run(*synth_args(tmp_path / "a"), env=env, cwd=tmp_path)
    assert " INFO dimrec." in from_settings.stderr
    overridden = run("--log-level", "warning", *synth_args(tmp_path / "b"), env=env, cwd=tmp_path)
    assert overridden.returncode == 0
    assert overridden.stderr == ""
    bad = run("--log-level", "loud", "versions", env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert "loud" in bad.stderr


def test_piped_output_is_never_wrapped_or_cut(
    env: dict[str, str], tmp_path: Path, published: str
) -> None:
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 4) / "store.db"
    deep.parent.mkdir(parents=True)
    url = f"sqlite:///{deep}"
    with open_store(url) as store, open_store(env["DIMREC_STORE__URL"]) as source:
        store.stage(published, {"version": published})
        store.put_entries(published, list(source.entries(published)))
        store.activate(published)
    done = run("versions", env={**env, "DIMREC_STORE__URL": url}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(url) > 120
    assert done.stdout.splitlines()[0] == url  # whole on its line
    row = next(line for line in done.stdout.splitlines() if published in line)
    assert "current" in row


def _counts(stdout: str) -> list[str]:
    """The summary table's rows but those of times (its last line names the folder) and its
    rules, spaces collapsed: the times' widths set the table's padding, rules and title."""
    rows = [line for line in stdout.splitlines()[:-1] if "CPU" not in line]
    return [" ".join(line.split()) for line in rows if any(c.isalnum() for c in line)]


# --- services log JSON lines -----------------------------------------------------------------


def _service_records(args: list[str], env: dict[str, str], cwd: Path, ready: str) -> list[dict]:
    """Run ``dimrec args`` off a terminal until a stderr line says ``ready``, stop it with
    SIGINT, and return its stderr as JSON records (a line that is not JSON fails the test);
    it must write nothing on stdout."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dimrec", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while not lines or ready not in lines[-1]:
            line = process.stderr.readline()
            assert line, f"{args[0]} stopped: {lines}"
            lines.append(line)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert out == ""
    records = [json.loads(line) for line in [*lines, *err.splitlines()] if line.strip()]
    assert {r["level"] for r in records} <= {"INFO", "WARNING"}
    return records


def test_serve_logs_one_json_object_per_line_at_info(
    env: dict[str, str], tmp_path: Path, published: str
) -> None:
    serve = ["serve", "--port", str(free_port())]
    records = _service_records(serve, env, tmp_path, "startup complete")  # uvicorn is up
    messages = [r["message"] for r in records]
    assert any(m.startswith("serving on http://") for m in messages)
    loaded = next(r for r in records if r["message"].startswith("serving model version"))
    assert loaded["version"] == published  # the log context, as a field
    assert {"time", "logger"} <= set(loaded)


def test_worker_logs_one_json_object_per_line_at_info(env: dict[str, str], tmp_path: Path) -> None:
    """The other service: `dimrec worker` off a terminal logs JSON lines at INFO too."""
    records = _service_records(["worker"], env, tmp_path, "worker started")
    started = next(r for r in records if r["message"].startswith("worker started"))
    assert {"time", "logger"} <= set(started)


# --- a handler never writes to a stream that is gone ----------------------------------------


def test_logging_after_stderr_was_replaced_and_closed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What an in-process CLI run under pytest's capture did: the handler kept the captured
    stderr and, once it was closed, every later record ended in "--- Logging error ---"."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", root.handlers[:])  # put back after the test
    monkeypatch.setattr(root, "level", root.level)
    gone = io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", gone)
        setup_logging("INFO")
    gone.close()
    logging.getLogger("dimrec.test").warning("still heard")
    err = capsys.readouterr().err
    assert "still heard" in err
    assert "Logging error" not in err
