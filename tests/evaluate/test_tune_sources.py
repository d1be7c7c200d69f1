"""`dimrec tune` with no options, as a new user runs it, on every source shape: the real
public data through the export (GA360 and GA4 samples, Online Retail and MovieLens as flat
logs) or read directly (--dataset), and a synthetic shop. Each succeeds, says which split
and which mode it chose, and leaves a choice that `dimrec tuned --apply` takes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli_helpers import run_dimrec
from dimrec.tuned import TUNED_FILE

pytestmark = pytest.mark.slow


def dimrec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_dimrec(cwd, *args, timeout=1800)


def configure(folder: Path, text: str) -> None:
    (folder / "dimrec.toml").write_text(f'[paths]\ndata = "{folder / "var"}"\n{text}', "utf-8")


def tune_without_options(folder: Path, *options: str) -> dict[str, object]:
    """Run `dimrec tune` (with only ``options``, which select the data); check that it
    succeeded and explained itself; the run's choice."""
    result = dimrec(folder, "tune", *options)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "chosen on validation (time split: history ≤" in result.stdout
    assert "mode (" in result.stdout  # which mode, and why
    runs = sorted((folder / "var" / "models" / "evaluations").glob("tune-*"))
    assert len(runs) == 1
    choice: dict[str, object] = json.loads((runs[0] / TUNED_FILE).read_text("utf-8"))
    applied = dimrec(folder, "tuned", "--apply", runs[0].name)
    assert applied.returncode == 0, applied.stderr
    assert f"applied tune {runs[0].name}" in applied.stdout
    return choice


def export(folder: Path, first: str, last: str) -> subprocess.CompletedProcess[str]:
    result = dimrec(folder, "export", "--from", first, "--to", last)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.realdata
def test_ga360_sample_through_the_export(shared_data: Path, tmp_path: Path) -> None:
    sample = shared_data / "ga_sample" / "ga_sessions_sample.ndjson.gz"
    configure(tmp_path, f'[export]\nsource = "ga360"\ninput = "{sample}"\n')
    export(tmp_path, "2016-08-01", "2017-08-01")
    choice = tune_without_options(tmp_path)
    assert choice["mode"] == "session"  # 5 visits a day, visitors who never come back


@pytest.mark.realdata
def test_ga4_sample_through_the_export(shared_data: Path, tmp_path: Path) -> None:
    sample = shared_data / "ga_sample" / "ga4_events_sample.ndjson.gz"
    configure(tmp_path, f'[export]\nsource = "ga4"\ninput = "{sample}"\n')
    export(tmp_path, "2020-11-01", "2021-01-31")
    choice = tune_without_options(tmp_path)
    assert choice["mode"] == "session"


@pytest.mark.realdata
def test_online_retail_as_a_flat_log_with_quantities(shared_data: Path, tmp_path: Path) -> None:
    """Every invoice line a purchase weighed by its quantity (returns, negative, are left
    out); the shop is closed on Saturdays: those days are empty, not missing."""
    configure(
        tmp_path,
        f"""[export]
source = "flat"
input = "{shared_data}/online_retail/online_retail_by_day.csv.gz"
[export.flat]
user_column = "CustomerID"
item_column = "StockCode"
event_column = "Quantity"
ts_column = "InvoiceDate"
weight_column = "Quantity"
[export.flat.action_thresholds]
purchase = 1.0
""",
    )
    exported = export(tmp_path, "2011-11-14", "2011-11-27")
    assert "14 day(s) (2 empty)" in exported.stdout  # the Saturdays
    choice = tune_without_options(tmp_path)
    assert choice["mode"] == "history"  # customers come back


@pytest.mark.realdata
def test_movielens_as_a_flat_log_of_ratings(shared_data: Path, tmp_path: Path) -> None:
    configure(
        tmp_path,
        f"""[export]
source = "flat"
input = "{shared_data}/movielens/ml-100k/u.data.gz"
[export.flat]
format = "csv"
user_column = "column0"
item_column = "column1"
event_column = "column2"
ts_column = "column3"
ts_unit = "s"
[export.flat.action_thresholds]
purchase = 4.0
""",
    )
    export(tmp_path, "1998-02-01", "1998-04-22")
    tune_without_options(tmp_path)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("dataset", "days"),
    [("movielens-100k", ["--from", "1998-02-01"]), ("ga360-sample", [])],
)
def test_public_data_sets_read_directly(
    shared_data: Path, tmp_path: Path, dataset: str, days: list[str]
) -> None:
    configure(tmp_path, "")
    tune_without_options(tmp_path, "--dataset", dataset, "--data-path", str(shared_data), *days)


def test_a_synthetic_shop(tmp_path: Path) -> None:
    configure(tmp_path, f'[export]\ninput = "{tmp_path / "warehouse" / "ga360"}"\n')
    shop = ["--days", "5", "--sessions-per-day", "600", "--items", "200", "--users", "800"]
    made = dimrec(tmp_path, "synth", *shop, "--start", "2026-03-01", "--formats", "ga360")
    assert made.returncode == 0, made.stderr
    export(tmp_path, "2026-03-01", "2026-03-05")
    choice = tune_without_options(tmp_path)
    assert choice["mode"] == "history"  # 800 shoppers come back over the days
