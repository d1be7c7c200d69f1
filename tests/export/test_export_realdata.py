"""The real Google Analytics samples (../shared/data/ga_sample): the GA360 sessions of a
year (five a day) and the GA4 events of three months, exported with DuckDB and compared
day by day with counts taken from the raw lines by plain Python."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from export_helpers import with_export

from dimrec import pipeline
from dimrec.config import Settings

GA360_ACTIONS = {"2": "browse", "3": "basket", "6": "purchase"}
GA4_ACTIONS = {"view_item": "browse", "add_to_cart": "basket", "purchase": "purchase"}


def _lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _day(compact: str) -> dt.date:
    return dt.datetime.strptime(compact, "%Y%m%d").date()


def _normalise(sku: str, regex: str) -> str:
    match = re.match(regex, sku)
    return match.group(1) if match else sku


@pytest.fixture
def in_memory(settings: Settings) -> Iterator[Settings]:
    """Events under memory:// — a year of tiny days need not be fsynced one by one."""
    root = f"/realdata-{uuid.uuid4().hex}"
    paths = settings.paths.model_copy(update={"events": f"memory://{root}/events"})
    yield settings.model_copy(update={"paths": paths})
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.mark.realdata
@pytest.mark.slow
def test_ga360_sample_detail_views_add_to_carts_and_purchases(
    in_memory: Settings, shared_data: Path
) -> None:
    source = shared_data / "ga_sample" / "ga_sessions_sample.ndjson.gz"
    expected: dict[dt.date, Counter[str]] = defaultdict(Counter)
    users: dict[dt.date, set[str]] = defaultdict(set)
    items: dict[dt.date, set[str]] = defaultdict(set)
    for row in _lines(source):
        day = _day(row["date"])
        counts = expected[day]  # every day of the sample, with product views or not
        for hit in row.get("hits") or []:
            action_type = (hit.get("eCommerceAction") or {}).get("action_type")
            for product in hit.get("product") or []:
                if action_type not in GA360_ACTIONS:
                    counts[f"action_type {action_type}"] += 1
                elif product.get("isImpression"):
                    counts["impression"] += 1
                else:
                    counts[GA360_ACTIONS[action_type]] += 1
                    users[day].add(row["fullVisitorId"])
                    items[day].add(_normalise(product["productSKU"], in_memory.export.sku_regex))
    days = sorted(expected)
    assert (days[0], days[-1], len(days)) == (dt.date(2016, 8, 1), dt.date(2017, 8, 1), 366)

    settings = with_export(in_memory, source="ga360", input=str(source))
    summary = pipeline.export_days(settings, days)

    assert not summary.missing
    assert not summary.rejected
    for exported in summary.days:
        want = expected[exported.day]
        assert dict(exported.actions) == {a: want[a] for a in GA360_ACTIONS.values()}
        assert {**exported.ignored} == {k: n for k, n in want.items() if n and k not in
                                        GA360_ACTIONS.values()}  # fmt: skip
        assert (exported.users, exported.items) == (len(users[exported.day]),
                                                    len(items[exported.day]))  # fmt: skip
    # as SOURCES.md describes the sample: 1,306 detail-view and 358 add-to-cart hits of one
    # product each, 80 purchase hits with 140 products
    assert summary.actions == {"browse": 1306, "basket": 358, "purchase": 140}


@pytest.mark.realdata
@pytest.mark.slow
def test_ga4_sample_views_add_to_carts_and_purchases(
    in_memory: Settings, shared_data: Path
) -> None:
    source = shared_data / "ga_sample" / "ga4_events_sample.ndjson.gz"
    expected: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for row in _lines(source):
        day = _day(row["event_date"])
        name = row["event_name"]
        if name not in GA4_ACTIONS:
            expected[day][f"event {name}"] += 1
        elif not row.get("items"):
            expected[day]["no_items"] += 1
        else:
            expected[day][GA4_ACTIONS[name]] += len(row["items"])
    days = sorted(expected)
    assert (days[0], days[-1], len(days)) == (dt.date(2020, 11, 1), dt.date(2021, 1, 31), 92)

    settings = with_export(in_memory, source="ga4", input=str(source))
    summary = pipeline.export_days(settings, days)

    assert not summary.missing
    for exported in summary.days:
        want = expected[exported.day]
        assert dict(exported.actions) == {a: want[a] for a in GA4_ACTIONS.values()}
        assert dict(exported.rejected) == ({"no_items": want["no_items"]}
                                           if want["no_items"] else {})  # fmt: skip
        assert dict(exported.ignored) == {k: n for k, n in want.items() if k.startswith("event ")}
    assert summary.actions == {"browse": 228, "basket": 84, "purchase": 0}


@pytest.mark.realdata
def test_movielens_ratings_as_a_flat_log(settings: Settings, shared_data: Path) -> None:
    """MovieLens ratings mapped by threshold (≥ 4 purchase, ≥ 3 basket, lower ignored), on the
    three days with the most ratings, against the raw CSV."""
    source = shared_data / "movielens" / "ml-latest-small" / "ratings.csv.gz"
    expected: dict[dt.date, Counter[str]] = defaultdict(Counter)
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            _user, _movie, rating, seconds = line.rstrip("\n").split(",")
            day = dt.datetime.fromtimestamp(int(seconds), dt.UTC).date()
            value = float(rating)
            kind = "purchase" if value >= 4 else "basket" if value >= 3 else f"event {rating}"
            expected[day][kind] += 1
    busiest = sorted(expected, key=lambda d: -sum(expected[d].values()))[:3]
    flat = {
        "user_column": "userId",
        "item_column": "movieId",
        "event_column": "rating",
        "ts_column": "timestamp",
        "action_thresholds": {"purchase": 4.0, "basket": 3.0},
    }
    settings = with_export(settings, source="flat", input=str(source), flat=flat)
    summary = pipeline.export_days(settings, busiest)
    for exported in summary.days:
        want = expected[exported.day]
        assert dict(exported.actions) == {"browse": 0, "basket": want["basket"],
                                          "purchase": want["purchase"]}  # fmt: skip
        assert dict(exported.ignored) == {k: n for k, n in want.items() if k.startswith("event")}
    assert summary.undated_rejected == {}
