"""A `dimrec prepare` SIGKILLed at any point of writing the profiles never leaves a day's
profiles paired with another run's description: the next prepare recomputes what changed,
and the model trained afterwards equals one trained from scratch.

The prepare runs in a real subprocess with a ``sitecustomize`` (on PYTHONPATH, so nothing in
dimrec changes) that counts the file-system writes under the profiles folder — opening a
file to write, fsync, rename, remove, make a folder — and SIGKILLs the process just before
the Nth. The test runs it for N = 1, 2, ... until a run gets through: every write point.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pyarrow as pa
import pytest

from cli_helpers import run_dimrec
from dimrec import model, partitions, pipeline
from dimrec.config import Settings, load_settings
from train.engine_helpers import AS_OF, shop_events, write_events

EVENTS = shop_events(300, 60, seed=5, n_days=2)
DAYS = sorted(EVENTS)
WINDOW = ("--days-init", "2", "--days-end", "1", "--as-of", AS_OF.isoformat())
TRAINED_WEIGHTS = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}
OTHER_WEIGHTS = {"browse": 1.0, "basket": 3.0, "purchase": 5.0}  # the killed run's

KILL_HOOK = """
import builtins, os, signal
_root = os.environ["DIMREC_TEST_KILL_ROOT"]
_at = int(os.environ["DIMREC_TEST_KILL_AT"])
_seen = [0]

def _point(path=None):
    if path is not None and not os.fspath(path).startswith(_root):
        return
    _seen[0] += 1
    if _seen[0] == _at:
        os.kill(os.getpid(), signal.SIGKILL)

def _counted(original, with_path=True):
    def wrapper(*args, **kwargs):
        _point(args[0] if with_path and args and not isinstance(args[0], int) else None)
        return original(*args, **kwargs)
    return wrapper

for _name in ("replace", "rename", "remove", "unlink", "rmdir", "makedirs", "mkdir"):
    setattr(os, _name, _counted(getattr(os, _name)))
os.fsync = _counted(os.fsync, with_path=False)
_open = builtins.open

def _open_counted(file, mode="r", *args, **kwargs):
    if any(flag in mode for flag in "wax+") and not isinstance(file, int):
        _point(file)
    return _open(file, mode, *args, **kwargs)

builtins.open = _open_counted
"""


def _tree(path: Path) -> Settings:
    settings = load_settings(paths={"data": str(path)})
    write_events(settings.paths.events_url(), EVENTS)
    return settings


def _train(settings: Settings) -> model.Model:
    return pipeline.train(
        settings,
        days_init=2,
        days_end=1,
        as_of=AS_OF,
        params=settings.train_params(min_items=2, max_items=20, top_k=10),
    )


def _same_model(a: model.Model, b: model.Model) -> None:
    ignored = {*model.RUN_FIELDS}
    assert a.manifest.model_dump(exclude=ignored) == b.manifest.model_dump(exclude=ignored)
    assert a.neighbours().equals(b.neighbours())
    assert a.popularity().equals(b.popularity())


def _profiles(settings: Settings) -> dict[str, pa.Table]:
    store = partitions.profiles(settings.paths.profiles_url())
    return {day.isoformat(): store.read(day) for day in DAYS}


def _killed_prepare(settings: Settings, at: int, hooks: Path, cwd: Path) -> int:
    env = {
        "PYTHONPATH": os.pathsep.join([str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "DIMREC_TEST_KILL_ROOT": str(Path(settings.paths.profiles_url()).resolve()),
        "DIMREC_TEST_KILL_AT": str(at),
        "DIMREC_PATHS__DATA": str(Path(settings.paths.data).resolve()),
        **{f"DIMREC_WEIGHTS__{k.upper()}": str(v) for k, v in OTHER_WEIGHTS.items()},
    }
    done = run_dimrec(cwd, "prepare", *WINDOW, env=env, timeout=300)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode


@pytest.mark.slow
@pytest.mark.usefixtures("settings")
def test_prepare_killed_at_every_write_point_never_pairs_profiles_and_description(
    tmp_path: Path,
) -> None:
    scratch = _tree(tmp_path / "scratch")
    expected = _train(scratch)
    expected_profiles = _profiles(scratch)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(KILL_HOOK)

    settings = _tree(tmp_path / "run")
    at = 0
    while True:
        at += 1
        pipeline.prepare_days(settings, DAYS, weights=TRAINED_WEIGHTS)  # all current
        shutil.rmtree(settings.paths.models_url(), ignore_errors=True)
        code = _killed_prepare(settings, at, hooks, tmp_path)
        summary = pipeline.prepare_days(settings, DAYS, weights=TRAINED_WEIGHTS)
        assert _profiles(settings) == expected_profiles, f"killed at write {at}"
        if code == 0:  # got through: its profiles have the other weights, all recomputed
            assert summary.prepared == DAYS
            break
        _same_model(_train(settings), expected)
        assert at < 100, "the prepare never got through"
    assert at > 4  # two days, each at least: open, fsync, rename, fsync the folder
