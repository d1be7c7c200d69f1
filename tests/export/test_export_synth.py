"""The export over the synthetic shop, for real on DuckDB, against what the generator counted
(truth.json): events per action, rejected rows by reason, ignored rows, distinct users and
items, and the time range — day by day and in total, for GA360, GA4 and the flat log."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.compute as pc
import pytest
from export_helpers import action_counts, with_export
from warehouse_contract import INPUTS, expected_ignored, expected_rejected

from dimrec import partitions, pipeline
from dimrec.config import Settings
from dimrec.export import ExportSummary


def _check_against_truth(
    summary: ExportSummary, settings: Settings, truth: dict[str, Any], source: str
) -> None:
    expected = truth["formats"][source]
    assert not summary.missing
    events = partitions.events(settings.paths.events_url())
    for exported in summary.days:
        day = expected["days"][exported.day.isoformat()]
        assert dict(exported.actions) == day["rows"]
        assert dict(exported.rejected) == expected_rejected(day)
        assert dict(exported.ignored) == expected_ignored(source, day)
        assert (exported.users, exported.items) == (day["users"], day["items"])
        table = events.read(exported.day)
        assert action_counts(table.to_pylist()) == day["rows"]
        assert table["user"].null_count == 0
        assert table["item"].null_count == 0
        ts = table["ts"].cast("int64")
        assert (pc.min(ts).as_py(), pc.max(ts).as_py()) == (day["ts_min_us"], day["ts_max_us"])
    totals = expected["totals"]
    assert summary.actions == totals["rows"]
    assert summary.events == totals["accepted"]
    assert (summary.users, summary.items) == (totals["users"], totals["items"])


@pytest.mark.parametrize("source", ["ga360", "ga4", "flat"])
def test_export_matches_the_generators_counts(
    source: str,
    export_settings: Settings,
    shop: Path,
    truth: dict[str, Any],
    shop_days: list[dt.date],
) -> None:
    settings = with_export(export_settings, source=source, input=str(shop / INPUTS[source]))
    summary = pipeline.export_days(settings, shop_days)
    assert [d.day for d in summary.days] == shop_days
    assert summary.undated_rejected == {}
    _check_against_truth(summary, settings, truth, source)


def test_items_are_sku_normalised_like_the_generator(
    export_settings: Settings, shop_days: list[dt.date], truth: dict[str, Any]
) -> None:
    """Without normalisation, variant SKUs count apart: more items than the truth says."""
    settings = with_export(export_settings, sku_regex="")
    summary = pipeline.export_days(settings, shop_days[:1])
    day = truth["formats"]["ga360"]["days"][shop_days[0].isoformat()]
    assert summary.days[0].items > day["items"]
    assert dict(summary.days[0].actions) == day["rows"]
    items = partitions.events(settings.paths.events_url()).read(shop_days[0])["item"]
    assert any("-" in item for item in items.to_pylist())


def test_flat_log_days_are_cut_out_of_one_file(
    export_settings: Settings, shop: Path, truth: dict[str, Any], shop_days: list[dt.date]
) -> None:
    """One file holding many days: each day is cut out of it by its timestamp."""
    settings = with_export(export_settings, source="flat", input=str(shop / INPUTS["flat"]))
    last = shop_days[-1]
    summary = pipeline.export_days(settings, [last, shop_days[0]])
    assert [d.day for d in summary.days] == [last, shop_days[0]]
    _check_against_truth_days(summary, truth, "flat")


def _check_against_truth_days(summary: ExportSummary, truth: dict[str, Any], source: str) -> None:
    for exported in summary.days:
        day = truth["formats"][source]["days"][exported.day.isoformat()]
        assert dict(exported.actions) == day["rows"]


def test_export_reads_from_a_memory_filesystem(
    export_settings: Settings, shop: Path, truth: dict[str, Any], shop_days: list[dt.date]
) -> None:
    """Inputs and outputs on fsspec URLs: the GA4 tables copied to memory://, events too."""
    fs = fsspec.filesystem("memory")
    root = "/dimrec-export-test/ga4"
    for path in sorted((shop / "ga4").iterdir()):
        with fs.open(f"{root}/{path.name}", "wb") as handle:
            handle.write(path.read_bytes())
    settings = with_export(export_settings, source="ga4", input=f"memory://{root}")
    settings = settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"events": "memory://exported/events"})}
    )
    try:
        summary = pipeline.export_days(settings, shop_days)
        _check_against_truth(summary, settings, truth, "ga4")
    finally:
        fs.rm("/dimrec-export-test", recursive=True)
        fs.rm("/exported", recursive=True)


def test_a_rerun_replaces_the_day(
    export_settings: Settings, shop: Path, tmp_path: Path, shop_days: list[dt.date]
) -> None:
    """Exporting a day again replaces its partition whole (here with fewer events)."""
    day = shop_days[0]
    pipeline.export_days(export_settings, [day])
    events = partitions.events(export_settings.paths.events_url())
    before = events.read(day)
    # the same day from a table that holds only its first 50 sessions
    folder = tmp_path / "smaller"
    folder.mkdir()
    name = f"ga_sessions_{day:%Y%m%d}.json.gz"
    lines = gzip.decompress((shop / "ga360" / name).read_bytes()).splitlines()[:50]
    (folder / name).write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    summary = pipeline.export_days(with_export(export_settings, input=str(folder)), [day])
    after = events.read(day)
    assert 0 < after.num_rows < before.num_rows
    assert after.num_rows == summary.days[0].events
    assert events.days() == [day]


def test_progress_is_reported_for_every_day(
    export_settings: Settings, shop_days: list[dt.date]
) -> None:
    calls: list[tuple[str, int, int]] = []
    days = [*shop_days, shop_days[-1] + dt.timedelta(days=1)]  # the last one is missing
    summary = pipeline.export_days(
        export_settings, days, progress=lambda step, done, total: calls.append((step, done, total))
    )
    assert calls == [(f"export {d.isoformat()}", k, 4) for k, d in enumerate(days, start=1)]
    assert [m.day for m in summary.missing] == days[-1:]
