"""The shared foundation: dates, settings, atomic day partitions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from dimrec import dates, partitions
from dimrec.config import load_settings
from dimrec.errors import ConfigError, InvalidInputError, MissingDataError, SchemaError


def test_window_counts_back_from_as_of() -> None:
    days = dates.window(3, 1, dt.date(2026, 11, 21))
    assert days == [dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)]


def test_window_rejects_end_after_init() -> None:
    with pytest.raises(InvalidInputError, match="days_end"):
        dates.window(1, 3)


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "yesterday", "2026/11/20", ""])
def test_invalid_dates_are_named(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid date"):
        dates.parse_date(text)


def test_compact_and_iso_dates_parse() -> None:
    assert dates.parse_date("20261120") == dates.parse_date("2026-11-20") == dt.date(2026, 11, 20)


def test_long_day_lists_name_ten_days_then_a_count() -> None:
    """Messages about missing or refused days stay one readable line, however many."""
    days = dates.window(1200, 1, dt.date(2026, 11, 21))
    text = dates.describe_days(days)
    assert text.startswith("2023-")
    assert text.count(", ") == dates.NAMED_DAYS - 1
    assert text.endswith(f" and {1200 - dates.NAMED_DAYS:,} more")
    assert dates.describe_days(days[:3]) == ", ".join(d.isoformat() for d in days[:3])


def test_settings_file_env_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dimrec.toml"
    config.write_text('[train]\ntop_k = 7\nthreshold = 0.3\n[store]\nurl = "memory://"\n')
    monkeypatch.setenv("DIMREC_TRAIN__THRESHOLD", "0.5")
    settings = load_settings(config, log_level="DEBUG")
    assert settings.train.top_k == 7
    assert settings.train.threshold == 0.5  # environment beats the file
    assert settings.store.url == "memory://"
    assert settings.log_level == "DEBUG"


def test_settings_typo_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "dimrec.toml"
    config.write_text("[train]\ntopk = 7\n")
    with pytest.raises(ConfigError, match="topk"):
        load_settings(config)


def test_settings_files_layer_in_order(tmp_path: Path) -> None:
    base = tmp_path / "dimrec.toml"
    base.write_text('[train]\ntop_k = 7\nalgorithm = "dimsum"\n[store]\nurl = "memory://"\n')
    tuned = tmp_path / "tuned.toml"
    tuned.write_text('[weights]\nbasket = 4.0\n[train]\nalgorithm = "ease"\n')
    settings = load_settings([base, tuned])
    assert settings.train.algorithm == "ease"  # the later file wins, key by key
    assert settings.train.top_k == 7  # ... and keeps the earlier file's other keys
    assert settings.store.url == "memory://"
    assert settings.weights.basket == 4.0
    assert settings.weights.purchase == 6.0
    assert load_settings([tuned, base]).train.algorithm == "dimsum"


def test_settings_file_problems_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[train]\n[train]\n")  # a table twice: what appending a fragment did
    with pytest.raises(ConfigError, match=r"broken\.toml.*not valid TOML"):
        load_settings(broken)
    with pytest.raises(ConfigError, match=r"absent\.toml does not exist"):
        load_settings([broken, tmp_path / "absent.toml"])


def test_cli_layers_repeated_config_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dimrec.cli import app

    monkeypatch.chdir(tmp_path)
    base = tmp_path / "dimrec.toml"
    base.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    other = tmp_path / "other.toml"
    other.write_text("[serve]\nport = 8123\n")
    result = CliRunner().invoke(app, ["-c", str(base), "-c", str(other), "versions"])
    # Nothing published yet: the error names the first file's store (a second -c used to
    # replace the first, and the default store var/store.db was named instead).
    assert f"no SQLite store at {tmp_path / 'store.db'}" in str(result.exception)


def test_example_settings_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "dimrec.example.toml"
    settings = load_settings(example)
    assert settings.train.top_k >= 1


def _events(n: int) -> pa.Table:
    return pa.table(
        {
            "user": [f"u{i}" for i in range(n)],
            "item": [f"i{i}" for i in range(n)],
            "action": ["browse"] * n,
            "ts": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.mark.parametrize("root", ["local", "memory://dimrec-test/events"])
def test_partition_rewrite_replaces_the_day(root: str, tmp_path: Path) -> None:
    url = str(tmp_path / "events") if root == "local" else root
    data = partitions.events(url)
    day = dt.date(2026, 11, 20)
    data.write(day, _events(3))
    data.write(day, _events(2))
    assert data.read(day).num_rows == 2
    assert data.days() == [day]
    assert data.missing([day, day + dt.timedelta(days=1)]) == [day + dt.timedelta(days=1)]


def test_partition_missing_day_and_column_are_clear(tmp_path: Path) -> None:
    data = partitions.events(str(tmp_path))
    with pytest.raises(MissingDataError, match="2026-11-20"):
        data.read(dt.date(2026, 11, 20))
    with pytest.raises(SchemaError, match="action"):
        data.write(dt.date(2026, 11, 20), _events(1).drop(["action"]))
    assert data.days() == []
