"""Every failure a user can cause from the command line is one line on stderr with its
documented exit code (README: 2 bad input or settings, 3 bad or missing data, 4 warehouse,
store or disk failing, 5 integrity, ...) — never a traceback. Anything unforeseen is one
line with exit code 1, its traceback only with --log-level DEBUG.

Each case runs the real `dimrec` script in a subprocess, as a user would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from cli_helpers import run_dimrec
from dimrec import partitions, pipeline
from dimrec.config import Settings, load_settings
from dimrec.model import MANIFEST
from train.train_helpers import events_table

DAY = dt.date(2026, 11, 20)
EVENTS = [("u1", "A", "browse"), ("u1", "B", "purchase"), ("u2", "A", "basket")]
EVENTS += [("u2", "B", "browse"), ("u3", "A", "purchase"), ("u3", "B", "basket")]

# Makes every write under $DIMREC_TEST_FULL_DISK fail as on a full disk (ENOSPC), and
# raises an unforeseen error from sqlite3.connect to the store when $DIMREC_TEST_UNFORESEEN is
# set.
FAULTS_HOOK = """
import builtins, errno, os, sqlite3
_full = os.environ.get("DIMREC_TEST_FULL_DISK")
_open = builtins.open

class _FullDisk:
    def __init__(self, handle):
        self._handle = handle
    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    def __getattr__(self, name):
        return getattr(self._handle, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._handle.close()

def _open_on_a_full_disk(file, mode="r", *args, **kwargs):
    handle = _open(file, mode, *args, **kwargs)
    if _full and any(f in mode for f in "wax") and os.fspath(file).startswith(_full):
        return _FullDisk(handle)
    return handle

builtins.open = _open_on_a_full_disk
if os.environ.get("DIMREC_TEST_UNFORESEEN"):
    _sqlite_connect = sqlite3.connect
    def _connect(database, *args, **kwargs):
        if str(database).endswith("store.db"):  # only the store's (coverage uses sqlite too)
            raise RuntimeError("something nobody foresaw")
        return _sqlite_connect(database, *args, **kwargs)
    sqlite3.connect = _connect
"""


def dimrec(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    hooks = cwd / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(FAULTS_HOOK)
    paths = [str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])]
    extra = {"PYTHONPATH": os.pathsep.join(paths), **(env or {})}
    return run_dimrec(cwd, *args, env=extra, timeout=300)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The single `error:` line of a failed run with exit ``code``, holding ``words``."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def tree(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """The environment of a data tree with a day of events."""
    partitions.events(settings.paths.events_url()).write(DAY, events_table(EVENTS))
    return {
        "DIMREC_PATHS__DATA": str(tmp_path / "var"),
        "DIMREC_STORE__URL": f"sqlite:///{tmp_path / 'var' / 'store.db'}",
    }


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["export", "--days-init", "1000000000"], ["max_window_days", "1,000,000,000 days"]),
        (["export", "--days-init", "1000000000", "--days-end", "999999999"], ["year 1"]),
        (["prepare", "--days-init", "5000"], ["at most 3,660"]),
        (["train", "--days-init", "99999999999999999999"], ["max_window_days"]),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], words: list[str]) -> None:
    one_line_error(dimrec(tmp_path, *args), 2, *words)


def test_an_unknown_log_level_option_is_a_usage_error(tmp_path: Path) -> None:
    result = dimrec(tmp_path, "--log-level", "LOUD", "versions")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Invalid value for '--log-level'" in result.stderr
    assert "'LOUD' is not one of" in result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"log_level = \n", ["dimrec.toml is not valid TOML", "line 1"]),
        (b"[train]\ntop_k = 10\n[train]\n", ["not valid TOML"]),
        (b"\xff\xfelog_level = 'INFO'\n", ["dimrec.toml is not UTF-8", "byte 0"]),
        (b"log_level = 'LOUD'\n", ["log_level='LOUD'"]),
        (b"[train]\ndays_init = 4000\n", ["[train]", "4,000 days"]),
        (b"max_window_days = 5\n[train]\ndays_init = 10\n", ["at most 5 are allowed"]),
    ],
)
def test_a_bad_settings_file_exits_2(tmp_path: Path, text: bytes, words: list[str]) -> None:
    (tmp_path / "dimrec.toml").write_bytes(text)
    one_line_error(dimrec(tmp_path, "versions"), 2, *words)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"DIMREC_LOG_LEVEL": "LOUD"}, ["log_level='LOUD'"]),
        ({"DIMREC_EXPORT__FLAT": "{not json"}, ["invalid settings", "export"]),
        ({"DIMREC_PATHS__DATA": "afile"}, ["paths.data = 'afile' is a file, not a folder"]),
        ({"DIMREC_PATHS__MODELS": "afile/models"}, ["lies under 'afile'"]),
    ],
)
def test_bad_environment_settings_exit_2(
    tmp_path: Path, env: dict[str, str], words: list[str]
) -> None:
    (tmp_path / "afile").write_text("a file, not a folder")
    one_line_error(dimrec(tmp_path, "train", env=env), 2, *words)


def test_corrupt_events_then_prepare_force_exits_3(tmp_path: Path, tree: dict[str, str]) -> None:
    events = Path(tree["DIMREC_PATHS__DATA"]) / "events" / f"date={DAY}" / "part-0.parquet"
    events.write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    result = dimrec(tmp_path, "prepare", "--force", "--date", DAY.isoformat(), env=tree)
    one_line_error(result, 3, f"events for {DAY}", "not a readable Parquet", "dimrec export --date")


def test_corrupt_profiles_without_events_exit_3(
    tmp_path: Path, tree: dict[str, str], settings: Settings
) -> None:
    pipeline.prepare_days(settings, [DAY])
    profiles = Path(partitions.profiles(settings.paths.profiles_url()).path(DAY))
    profiles.write_bytes(b"not parquet")
    Path(partitions.events(settings.paths.events_url()).path(DAY)).unlink()
    result = dimrec(tmp_path, "prepare", "--date", DAY.isoformat(), env=tree)
    one_line_error(result, 3, f"profiles for {DAY}", "not a readable Parquet")


@pytest.mark.parametrize(
    "manifest",
    [
        "[]",
        "{}",
        '"a string"',
        "not json",
        "files",  # replaced below by the real manifest with an empty "files"
    ],
)
def test_a_manifest_of_the_wrong_shape_exits_5(
    tmp_path: Path, tree: dict[str, str], settings: Settings, manifest: str
) -> None:
    trained = pipeline.train(settings, days_init=0, days_end=0, as_of=DAY)
    path = Path(trained.url) / MANIFEST
    if manifest == "files":
        data = json.loads(path.read_text())
        data["files"] = {}
        manifest = json.dumps(data)
    path.write_text(manifest)
    one_line_error(dimrec(tmp_path, "publish", env=tree), 5, "manifest.json", "retrain")


def test_a_full_disk_during_export_exits_4_and_keeps_the_day(
    tmp_path: Path, tree: dict[str, str], settings: Settings
) -> None:
    warehouse = tmp_path / "log.csv"
    noon = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp())
    warehouse.write_text("timestamp,visitorid,event,itemid\n" + f"{noon},u9,view,Z\n" * 3)
    events = Path(partitions.events(settings.paths.events_url()).path(DAY))
    before = events.read_bytes()
    result = dimrec(
        tmp_path,
        "export",
        "--date",
        DAY.isoformat(),
        "--source",
        "flat",
        "--input",
        str(warehouse),
        env={**tree, "DIMREC_TEST_FULL_DISK": str(events.parent.parent)},
    )
    one_line_error(result, 4, "writing", "part-0.parquet", "No space left on device")
    assert events.read_bytes() == before
    assert sorted(p.name for p in events.parent.iterdir()) == ["part-0.parquet"]


def test_a_full_disk_during_train_exits_4_and_leaves_no_version(
    tmp_path: Path, tree: dict[str, str], settings: Settings
) -> None:
    pipeline.prepare_days(settings, [DAY])
    models = Path(settings.paths.models_url())
    result = dimrec(
        tmp_path,
        "train",
        "--days-init",
        "0",
        "--days-end",
        "0",
        "--as-of",
        DAY.isoformat(),
        env={**tree, "DIMREC_TEST_FULL_DISK": str(models)},
    )
    one_line_error(result, 4, "neighbours.parquet", "No space left on device")
    assert not models.exists() or list(models.iterdir()) == []


def test_an_unforeseen_error_is_one_line_with_exit_1(tmp_path: Path, tree: dict[str, str]) -> None:
    env = {**tree, "DIMREC_TEST_UNFORESEEN": "1"}
    line = one_line_error(dimrec(tmp_path, "hide", "sku-1", env=env), 1)
    assert line.startswith("error: unexpected RuntimeError: something nobody foresaw")
    assert "--log-level DEBUG" in line
    debug = dimrec(tmp_path, "--log-level", "DEBUG", "hide", "sku-1", env=env)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "something nobody foresaw" in debug.stderr


def test_the_example_settings_document_the_window_bound() -> None:
    example = Path(__file__).resolve().parents[1] / "dimrec.example.toml"
    assert load_settings(example).max_window_days == 3660
