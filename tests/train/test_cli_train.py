"""``dimrec prepare`` and ``dimrec train`` from the command line: summaries, exit codes, and
one-line errors without a traceback."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from train_helpers import write_events

from dimrec import model, partitions
from dimrec.cli import main
from dimrec.config import Settings

AS_OF = dt.date(2026, 11, 21)
D1, D2 = AS_OF - dt.timedelta(days=2), AS_OF - dt.timedelta(days=1)
DAYS = {
    D1: [("u1", "A", "browse"), ("u1", "B", "purchase"), ("u2", "A", "basket")],
    D2: [
        ("u2", "B", "browse"),
        ("u2", "C", "basket"),
        ("u3", "B", "browse"),
        ("u3", "C", "purchase"),
    ],
}
WINDOW = ["--days-init", "2", "--days-end", "1", "--as-of", AS_OF.isoformat()]


@pytest.fixture(autouse=True)
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment: point it at the test's tree; keep
    the root logger as it was (the CLI configures logging)."""
    monkeypatch.setenv("DIMREC_PATHS__DATA", settings.paths.data)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``dimrec args`` in this process; returns exit code, stdout and stderr, flattened:
    Rich wraps long lines and cells, so whitespace and table borders are left out."""
    sys_argv = sys.argv
    sys.argv = ["dimrec", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = sys_argv
    out, err = capsys.readouterr()
    return code, flat(out), flat(err)


def flat(text: str) -> str:
    return re.sub(r"[\s\u2500-\u257f]", "", text)


def test_prepare_then_cached_then_forced(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(settings, DAYS)
    code, out, _ = run(capsys, "prepare", "--date", D1.isoformat())
    assert code == 0
    assert flat("2026-11-19 3 3 prepared") in out
    assert flat("1 day(s) prepared, 0 cached") in out
    code, out, _ = run(capsys, "prepare", *WINDOW)
    assert code == 0
    assert flat("1 day(s) prepared, 1 cached") in out
    code, out, _ = run(capsys, "prepare", *WINDOW, "--force")
    assert code == 0
    assert flat("2 day(s) prepared, 0 cached") in out
    assert partitions.profiles(settings.paths.profiles_url()).days() == [D1, D2]


@pytest.mark.usefixtures("settings")
def test_prepare_missing_day(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "prepare", "--date", "2026-11-01")
    assert code == 3
    assert flat("no events for 2026-11-01") in err
    assert "Traceback" not in err


def test_prepare_date_and_range_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "prepare", "--date", "2026-11-01", "--days-init", "3")
    assert code == 2
    assert flat("either --date or --days-init") in err


def test_train_prints_the_model(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    write_events(settings, DAYS)
    code, out, err = run(capsys, "train", *WINDOW, "--top-k", "1", "--min-items", "2")
    assert code == 0, err
    trained = model.load_model(settings.paths.models_url())
    assert flat(f"model {trained.version}") in out
    assert flat(trained.url) in out
    assert flat("3 users (0 left out), 3 items") in out
    assert flat("2026-11-19..2026-11-20, 2 day(s)") in out
    assert "similarity" in out  # the timings
    assert trained.manifest.params.top_k == 1
    assert trained.manifest.params.algorithm == "blend"  # the settings' default


@pytest.mark.parametrize(
    ("args", "params"),
    [
        (["--weighting", "bm25", "--half-life", "7"], {"weighting": "bm25", "half_life_days": 7}),
        (
            ["--algorithm", "rp3beta", "--rp3-alpha", "0.5", "--rp3-beta", "0.2"],
            {"algorithm": "rp3beta", "rp3_alpha": 0.5, "rp3_beta": 0.2},
        ),
        (["--algorithm", "ease", "--ease-lambda", "10"], {"algorithm": "ease", "ease_lambda": 10}),
        (
            ["--algorithm", "rp3beta", "--param", "rp3_alpha=0.7", "--param", "top_k=1"],
            {"algorithm": "rp3beta", "rp3_alpha": 0.7, "top_k": 1},
        ),
    ],
)
def test_train_takes_every_algorithm_parameter(
    settings: Settings, capsys: pytest.CaptureFixture[str], args: list[str], params: dict
) -> None:
    """The flags reach the model (its manifest records them) and change it."""
    write_events(settings, DAYS)
    code, _, err = run(capsys, "train", *WINDOW, "--min-items", "1", *args)
    assert code == 0, err
    trained = model.load_model(settings.paths.models_url())
    assert params.items() <= trained.manifest.params.model_dump().items()
    code, _, err = run(capsys, "train", *WINDOW, "--min-items", "1")
    plain = model.load_model(settings.paths.models_url())
    assert code == 0, err
    assert plain.version != trained.version
    assert plain.manifest.files != trained.manifest.files  # other similarities


def test_train_help_names_every_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    """The command's help is written by hand (the CLI starts without pydantic): it must not
    fall behind the vocabulary."""
    from dimrec.params import ALGORITHMS

    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    help_text = out[out.index("--algorithm") :]
    assert [name for name in ALGORITHMS if name not in help_text] == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--threshold", "1.5"], 2, "threshold=1.5"),
        (["--weighting", "idf"], 2, "weighting='idf'"),
        (["--half-life", "0"], 2, "half_life_days=0"),
        (["--top-k", "0"], 2, "top_k=0"),
        (["--min-items", "5", "--max-items", "2"], 2, "min_items (5) > max_items (2)"),
        (["--algorithm", "magic"], 2, "algorithm='magic'"),
        (["--min-items", "50", "--max-items", "60"], 3, "no user of the window"),
        (["--days-init", "5"], 3, "2026-11-16, 2026-11-17, 2026-11-18"),
        (["--as-of", "2026-13-01"], 2, "invalid date '2026-13-01'"),
    ],
)
def test_train_bad_input(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    write_events(settings, DAYS)
    got, _, err = run(capsys, "train", *WINDOW, *args)
    assert got == code
    assert flat(message) in err
    assert "Traceback" not in err
    assert model.list_versions(settings.paths.models_url()) == []
    assert not Path(settings.paths.models_url()).exists()


def test_train_allow_missing(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    write_events(settings, DAYS)
    code, out, err = run(capsys, "train", *WINDOW, "--days-init", "3", "--allow-missing")
    assert code == 0, err
    assert flat("missing 2026-11-18") in out


def test_train_spark_without_spark(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(settings, DAYS)
    monkeypatch.setitem(sys.modules, "dimrec.train.spark", None)
    code, _, err = run(capsys, "train", *WINDOW, "--engine", "spark")
    assert code == 7
    assert flat("spark extra") in err


@pytest.mark.slow  # a fresh interpreter imports everything: seconds
def test_the_installed_command(settings: Settings) -> None:
    """The real ``dimrec`` script in a fresh process: an exit code and no traceback."""
    write_events(settings, DAYS)
    script = Path(sys.executable).with_name("dimrec")
    env = {**os.environ, "DIMREC_PATHS__DATA": settings.paths.data}
    bad = subprocess.run(
        [str(script), "train", *WINDOW, "--threshold", "2"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 2, bad.stderr
    assert "threshold=2.0" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not Path(settings.paths.models_url()).exists()
