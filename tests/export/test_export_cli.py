"""`dimrec export` as a user runs it: the summary it prints, and for bad input a message
naming the problem and a non-zero exit, never a traceback."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run_dimrec
from dimrec import partitions
from dimrec.cli import main
from dimrec.config import Settings


def _run(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_dimrec(cwd, "export", *args, env={"DIMREC_PATHS__DATA": settings.paths.data})


def _assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]


@pytest.mark.slow
def test_export_a_range_with_a_missing_day(
    settings: Settings, shop: Path, tmp_path: Path, truth: dict[str, Any], shop_days: list[dt.date]
) -> None:
    """Three days exist, the fourth asked for does not: the three are written and shown, the
    missing one is named, and the exit code says something is missing."""
    last = shop_days[-1] + dt.timedelta(days=1)
    result = _run(
        settings, tmp_path, "--days-init", "4", "--days-end", "1",
        "--as-of", (last + dt.timedelta(days=1)).isoformat(), "--input", str(shop / "ga360"),
    )  # fmt: skip
    _assert_clean_failure(result, 3, last.isoformat(), f"ga_sessions_{last:%Y%m%d}*")
    assert partitions.events(settings.paths.events_url()).days() == shop_days
    totals = truth["formats"]["ga360"]["totals"]
    assert f"{totals['accepted']} events written" in result.stdout
    for day in shop_days:
        counts = truth["formats"]["ga360"]["days"][day.isoformat()]["rows"]
        row = next(line for line in result.stdout.splitlines() if day.isoformat() in line)
        assert row.split()[1:4] == [str(counts[a]) for a in ("browse", "basket", "purchase")]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--date", "2026-11-31"], 2, ["invalid date", "2026-11-31"]),
        (["--date", "2026-11-18", "--source", "ga4"], 3, ["lacks column(s)", "event_name"]),
    ],
)
def test_bad_input_exits_with_one_message(
    settings: Settings,
    shop: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    words: list[str],
) -> None:
    """The entry point itself, in this process: what `dimrec export ...` would print."""
    monkeypatch.setenv("DIMREC_PATHS__DATA", settings.paths.data)
    monkeypatch.setenv("COLUMNS", "200")
    argv = ["dimrec", "export", *args, "--input", str(shop / "ga360" / "*.json.gz")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    result = subprocess.CompletedProcess(argv, exited.value.code, captured.out, captured.err)
    _assert_clean_failure(result, code, *words)


def test_a_closed_day_of_a_flat_log_is_an_empty_day_and_from_to_windows(tmp_path: Path) -> None:
    """A log from 2026-11-20 to 11-24 without a row on 11-22 (the shop was closed): that day
    is written empty and counted, the run exits 0, and train takes the window without
    --allow-missing; a day after the log's last one is missing data (exit 3)."""
    lines = ["timestamp,visitorid,event,itemid"]
    for day in (20, 21, 23, 24):
        for user in range(3):
            lines += [f"2026-11-{day}T10:0{user}:00Z,u{day}{user},view,i{user}"]
            lines += [f"2026-11-{day}T10:0{user}:30Z,u{day}{user},transaction,i{user + 1}"]
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    (tmp_path / "dimrec.toml").write_text(
        f'[paths]\ndata = "{tmp_path / "var"}"\n[export]\nsource = "flat"\ninput = "{log}"\n'
    )
    events = partitions.events(str(tmp_path / "var" / "events"))

    beyond = run_dimrec(tmp_path, "export", "--from", "2026-11-20", "--to", "2026-11-25")
    _assert_clean_failure(beyond, 3, "2026-11-25", "2026-11-20 to 2026-11-24")
    assert "5 day(s) (1 empty), 24 events written" in beyond.stdout

    result = run_dimrec(tmp_path, "export", "--from", "2026-11-20", "--to", "2026-11-24")
    assert result.returncode == 0, result.stderr
    assert "5 day(s) (1 empty)" in result.stdout
    assert events.read(dt.date(2026, 11, 22)).num_rows == 0

    prepared = run_dimrec(tmp_path, "prepare", "--from", "2026-11-21", "--to", "2026-11-23")
    assert prepared.returncode == 0, prepared.stderr
    assert "3 day(s) prepared" in prepared.stdout

    trained = run_dimrec(tmp_path, "train", "--from", "2026-11-20", "--to", "2026-11-24")
    assert trained.returncode == 0, trained.stderr
    assert re.search(r"window\s+2026-11-20\.\.2026-11-24, 5 day\(s\) *\n", trained.stdout)
    assert "missing" not in trained.stdout

    both = run_dimrec(
        tmp_path, "train", "--from", "2026-11-20", "--to", "2026-11-21", "--as-of", "x"
    )
    assert both.returncode == 2
    assert "give either --from/--to or --date/--days-init/--days-end/--as-of" in both.stderr
    half = run_dimrec(tmp_path, "prepare", "--from", "2026-11-20")
    assert half.returncode == 2
    assert "give both --from and --to" in half.stderr
    backwards = run_dimrec(tmp_path, "export", "--from", "2026-11-24", "--to", "2026-11-20")
    _assert_clean_failure(backwards, 2, "before --from")
