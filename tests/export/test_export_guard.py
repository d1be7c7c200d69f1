"""Export never replaces a good day with a (nearly) empty one: a day whose rows were nearly
all rejected (a wrong sku_regex), or with far fewer events than the day it would replace (an
empty daily file), is refused with one line and exit 3, its partition kept byte for byte —
unless --allow-empty. A sku_regex that DuckDB's RE2 cannot run is refused at settings load."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from export_helpers import hit, product, session, with_export, write_lines

from cli_helpers import run_dimrec
from dimrec import partitions, pipeline
from dimrec.config import Settings, load_settings
from dimrec.errors import ConfigError, DataError

DAY = dt.date(2026, 11, 20)
START = 1_795_000_000
SKUS = [f"SKU{n:03d}-M" for n in range(150)]


def _table(folder: Path, skus: list[str]) -> Path:
    """A daily GA360 table: one session per SKU, browsing it."""
    lines = [session(f"u{n}", START + n, hit("2", 0, product(s))) for n, s in enumerate(skus)]
    return write_lines(folder / "ga_sessions_20261120.json", lines)


def _export(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DIMREC_PATHS__DATA": settings.paths.data, "DIMREC_EXPORT__INPUT": settings.export.input}
    env.update({k: v for k, v in os.environ.items() if k.startswith("DIMREC_EXPORT__")})
    return run_dimrec(cwd, "export", "--date", DAY.isoformat(), *args, env=env)


def _error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    return line


@pytest.fixture
def exported(settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    """A day exported from a good table: 150 events."""
    settings = with_export(settings, input=str(tmp_path / "ga360"))
    _table(tmp_path / "ga360", SKUS)
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert day.events == 150
    return settings, Path(partitions.events(settings.paths.events_url()).path(DAY))


def test_a_sku_regex_that_rejects_nearly_every_row_is_refused(
    exported: tuple[Settings, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, partition = exported
    before = partition.read_bytes()
    monkeypatch.setenv("DIMREC_EXPORT__SKU_REGEX", "^()(.*)$")  # every SKU folds to ""
    line = _error(_export(settings, tmp_path))
    assert "refusing to export 2026-11-20: 150 of its 150 rows were rejected" in line
    assert "null_item 150" in line
    assert "export.max_rejected_fraction=0.9" in line
    assert "--allow-empty" in line
    assert partition.read_bytes() == before

    monkeypatch.setenv("DIMREC_EXPORT__MAX_REJECTED_FRACTION", "1")
    assert "min_events_fraction" in _error(_export(settings, tmp_path))  # 0 events of 150
    assert partition.read_bytes() == before
    allowed = _export(settings, tmp_path, "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert partitions.events(settings.paths.events_url()).read(DAY).num_rows == 0


def test_an_empty_daily_file_does_not_wipe_the_day(
    exported: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, partition = exported
    before = partition.read_bytes()
    (tmp_path / "ga360" / "ga_sessions_20261120.json").write_text("")
    line = _error(_export(settings, tmp_path))
    assert "refusing to replace the 150 events of 2026-11-20 with 0" in line
    assert "export.min_events_fraction=0.1" in line
    assert partition.read_bytes() == before

    _table(tmp_path / "ga360", SKUS[:20])  # fewer, but not too few: written
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert day.events == 20
    _table(tmp_path / "ga360", SKUS[:1])  # 1 < 0.1 × 20
    with pytest.raises(DataError, match="replace the 20 events"):
        pipeline.export_days(settings, [DAY])
    lenient = with_export(settings, min_events_fraction=0.0)
    assert pipeline.export_days(lenient, [DAY]).days[0].events == 1


def test_a_new_day_is_written_whatever_it_holds(settings: Settings, tmp_path: Path) -> None:
    settings = with_export(settings, input=str(tmp_path / "ga360"))
    (tmp_path / "ga360").mkdir()
    (tmp_path / "ga360" / "ga_sessions_20261120.json").write_text("")
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert day.events == 0
    _table(tmp_path / "ga360", ["bad id"] * 5 + ["GOOD"])  # 5 of 6 rejected: too few to judge
    (day,) = pipeline.export_days(settings, [DAY], allow_empty=True).days
    assert dict(day.rejected) == {"bad_item_id": 5}


# RE2 refuses lookaround, backreferences, possessive and atomic groups, \Z; accepts \z,
# named groups, \pL, POSIX classes, flags.
PATTERNS = [
    "(a)(?=b)", r"(a)\1", "(?<=a)(b)", "a*+(b)", "(?>a)(b)", r"(a)\Z", "(",
    r"(\z)", "(?P<sku>[A-Z]+)-.*", r"(\pL+)", "(?i)(abc)", "([[:alpha:]]+)-x",
    r"^([^-]+|[^-]+-[^-]+-[^-]+)-[^-]+$",
]  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS)
def test_sku_regex_is_accepted_exactly_when_duckdb_can_run_it(pattern: str) -> None:
    try:
        duckdb.execute("SELECT regexp_extract('ABC-M', ?, 1)", [pattern]).fetchall()
    except duckdb.Error:
        with pytest.raises(ConfigError, match="not a valid RE2 regex"):
            load_settings(export={"sku_regex": pattern})
    else:
        assert load_settings(export={"sku_regex": pattern}).export.sku_regex == pattern


def test_sku_regex_needs_a_group() -> None:
    with pytest.raises(ConfigError, match="needs a group"):
        load_settings(export={"sku_regex": "(?:a)-b"})
