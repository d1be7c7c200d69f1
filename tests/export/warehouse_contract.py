"""The warehouse contract (dimrec.export.base), one suite for every warehouse that runs here.

A subclass says how to open its warehouse on the synthetic shop (the ``warehouse_of``
fixture, a function of the settings' ``[export]``) and which of the shop's shapes it reads.
Every test asks the ``Warehouse`` interface itself and compares with what the generator
counted (truth.json). BigQuery cannot run here: tests/export/test_export_bigquery.py checks
it up to the client call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from export_helpers import action_counts, with_export

from dimrec.config import ExportSettings, Settings
from dimrec.errors import MissingDataError
from dimrec.export.base import DayInteractions, Warehouse
from dimrec.partitions import EVENTS_SCHEMA

INPUTS = {"ga360": "ga360", "ga4": "ga4", "flat": "flat/events.csv.gz"}

Opener = Callable[[ExportSettings], Warehouse]


def expected_ignored(source: str, day: dict[str, Any]) -> dict[str, int]:
    ignored = day["ignored"]
    if source == "ga360":
        found = {f"action_type {k}": n for k, n in ignored["action_types"].items()}
        found["impression"] = ignored["impressions"]
    else:
        found = {f"event {name}": n for name, n in ignored["events"].items()}
    return {reason: n for reason, n in found.items() if n}


def expected_rejected(day: dict[str, Any]) -> dict[str, int]:
    rejected = {**day["rejected"], "malformed": day["malformed_lines"]}
    return {reason: n for reason, n in rejected.items() if n}


def assert_day_is_truth(got: DayInteractions, source: str, day: dict[str, Any]) -> None:
    events = got.events
    # The events columns, and a flat log's weight column (null: none was configured).
    assert events.schema.names[:4] == EVENTS_SCHEMA.names
    assert events.schema.names[4:] in ([], ["weight"])
    assert action_counts(events.to_pylist()) == day["rows"]
    assert events["user"].null_count == 0
    assert events["item"].null_count == 0
    assert pc.count_distinct(events["user"]).as_py() == day["users"]
    assert pc.count_distinct(events["item"]).as_py() == day["items"]
    ts = events["ts"].cast("int64")
    assert (pc.min(ts).as_py(), pc.max(ts).as_py()) == (day["ts_min_us"], day["ts_max_us"])
    assert dict(got.rejected) == expected_rejected(day)
    assert dict(got.ignored) == expected_ignored(source, day)


@pytest.fixture(params=["ga360", "ga4", "flat"])
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class WarehouseContract:
    """Subclasses define ``warehouse_of`` (an Opener) and may narrow ``source``."""

    def export_of(self, settings: Settings, shop: Path, source: str) -> ExportSettings:
        return with_export(settings, source=source, input=str(shop / INPUTS[source])).export

    def test_each_day_is_what_the_generator_wrote(
        self,
        warehouse_of: Opener,
        export_settings: Settings,
        shop: Path,
        truth: dict[str, Any],
        shop_days: list[dt.date],
        source: str,
    ) -> None:
        with warehouse_of(self.export_of(export_settings, shop, source)) as warehouse:
            warehouse.plan(shop_days)
            for day in shop_days:
                got = warehouse.interactions(day)
                assert_day_is_truth(got, source, truth["formats"][source]["days"][day.isoformat()])
            assert dict(warehouse.undated()) == {}

    def test_days_in_any_order_and_without_a_plan(
        self,
        warehouse_of: Opener,
        export_settings: Settings,
        shop: Path,
        shop_days: list[dt.date],
        source: str,
    ) -> None:
        """``plan`` is a hint: days asked for out of order, or not planned, are the same."""
        export = self.export_of(export_settings, shop, source)
        with warehouse_of(export) as warehouse:
            backwards = {day: warehouse.interactions(day) for day in reversed(shop_days)}
        with warehouse_of(export) as warehouse:
            warehouse.plan(shop_days)
            for day in shop_days:
                assert warehouse.interactions(day).events.equals(backwards[day].events)

    def test_a_day_without_data_is_named(
        self,
        warehouse_of: Opener,
        export_settings: Settings,
        shop: Path,
        shop_days: list[dt.date],
        source: str,
    ) -> None:
        absent = shop_days[0] - dt.timedelta(days=30)
        with (
            warehouse_of(self.export_of(export_settings, shop, source)) as warehouse,
            pytest.raises(MissingDataError, match=absent.isoformat()),
        ):
            warehouse.interactions(absent)

    def test_closing_twice_is_harmless(
        self, warehouse_of: Opener, export_settings: Settings, shop: Path, source: str
    ) -> None:
        warehouse = warehouse_of(self.export_of(export_settings, shop, source))
        with warehouse:
            pass
        warehouse.close()
