"""The export rules on tables small enough to work out by hand: which rows become events,
which are ignored or rejected and why, SKU normalisation, timestamps, formats."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from export_helpers import ga4_event, hit, product, session, with_export, write_lines

from dimrec import partitions, pipeline
from dimrec.config import Settings

DAY = dt.date(2026, 11, 20)
START = 1_795_000_000  # 2026-11-18 11:06:40 UTC: a daily table's day is its name's, not this
UTC = dt.UTC


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)


def _ga360_lines() -> list[str]:
    return [
        session(
            "u1",
            START,
            hit("2", 1000, product("ABC123-M"), product("X1", impression=True)),
            hit("3", 2500, product("A-B-C-XL", impression=False)),
            hit("6", 3000, product("A-B-C"), product("GGOE-1")),
            hit("1", 0, product("P1"), product("P2", impression=True)),
            hit("0", 0),
        ),
        session(None, START, hit("2", 0, product("S1"))),
        session("u2", START + 60, hit("2", 0, product(None), product("")), hit("3", 10)),
        session("u3", START + 120, hit("2", 5, product("Q-1-2-3-4"))),
    ]


GA360_EVENTS = [
    ("u1", "A-B-C", "basket", _at(START + 2.5)),
    ("u1", "A-B-C", "purchase", _at(START + 3)),
    ("u1", "ABC123", "browse", _at(START + 1)),
    ("u1", "GGOE", "purchase", _at(START + 3)),
    ("u3", "Q-1-2-3-4", "browse", _at(START + 120.005)),
]


def _rows(settings: Settings, day: dt.date = DAY) -> list[tuple[Any, ...]]:
    table = partitions.events(settings.paths.events_url()).read(day)
    return [(r["user"], r["item"], r["action"], r["ts"]) for r in table.to_pylist()]


@pytest.mark.parametrize("name", ["ga_sessions_20261120.json", "ga_sessions_20261120.json.gz"])
def test_ga360_rules_by_hand(settings: Settings, tmp_path: Path, name: str) -> None:
    write_lines(tmp_path / "ga360" / name, _ga360_lines())
    settings = with_export(settings, source="ga360", input=str(tmp_path / "ga360"))
    summary = pipeline.export_days(settings, [DAY])
    (day,) = summary.days
    assert sorted(_rows(settings)) == GA360_EVENTS
    assert dict(day.actions) == {"browse": 2, "basket": 1, "purchase": 2}
    assert dict(day.rejected) == {"no_items": 1, "null_item": 2, "null_user": 1}
    assert dict(day.ignored) == {"action_type 1": 2, "impression": 1}
    assert (day.users, day.items) == (2, 4)


def test_ga360_parquet_export_of_the_same_table(settings: Settings, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in _ga360_lines()]
    (tmp_path / "ga360").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "ga360" / "ga_sessions_20261120.parquet")
    settings = with_export(settings, source="ga360", input=str(tmp_path / "ga360"))
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert sorted(_rows(settings)) == GA360_EVENTS
    assert dict(day.rejected) == {"no_items": 1, "null_item": 2, "null_user": 1}


def test_sharded_daily_tables_are_read_together(settings: Settings, tmp_path: Path) -> None:
    lines = _ga360_lines()
    folder = tmp_path / "ga360"
    write_lines(folder / "ga_sessions_20261120-000000000000.json.gz", lines[:2])
    write_lines(folder / "ga_sessions_20261120-000000000001.json.gz", lines[2:])
    write_lines(folder / "ga_sessions_20261121.json.gz", lines)  # another day: not read
    write_lines(folder / "ga_sessions_intraday_20261120.json.gz", lines)  # not a daily table
    settings = with_export(settings, source="ga360", input=str(folder))
    pipeline.export_days(settings, [DAY])
    assert sorted(_rows(settings)) == GA360_EVENTS


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        ("", {"ABC123-M", "A-B-C-XL", "A-B-C", "GGOE-1", "Q-1-2-3-4"}),
        (r"^(.+)-(?:M|XL)$", {"ABC123", "A-B-C", "GGOE-1", "Q-1-2-3-4"}),
    ],
)
def test_sku_regex_setting(
    settings: Settings, tmp_path: Path, regex: str, expected: set[str]
) -> None:
    write_lines(tmp_path / "ga360" / "ga_sessions_20261120.json", _ga360_lines())
    settings = with_export(settings, input=str(tmp_path / "ga360"), sku_regex=regex)
    pipeline.export_days(settings, [DAY])
    assert {row[1] for row in _rows(settings)} == expected


def test_ga4_rules_by_hand(settings: Settings, tmp_path: Path) -> None:
    t = START * 1_000_000 + 123_456
    lines = [
        ga4_event("view_item", "u1", t, "ABC-M", "XYZ"),
        ga4_event("add_to_cart", "u1", t + 1, "ABC-L"),
        ga4_event("purchase", "u2", t + 2, "Z1"),
        ga4_event("view_item", None, t, "A"),
        ga4_event("view_item", "u3", t, None),
        ga4_event("view_item", "u3", t),
        ga4_event("page_view", "u1", t),
        ga4_event("select_item", "u1", t, "A", "B", "C"),
    ]
    write_lines(tmp_path / "ga4" / "events_20261120.json.gz", lines)
    settings = with_export(settings, source="ga4", input=str(tmp_path / "ga4"))
    (day,) = pipeline.export_days(settings, [DAY]).days
    at = _at(START) + dt.timedelta(microseconds=123_456)
    us = dt.timedelta(microseconds=1)
    assert sorted(_rows(settings)) == [
        ("u1", "ABC", "basket", at + us),
        ("u1", "ABC", "browse", at),
        ("u1", "XYZ", "browse", at),
        ("u2", "Z1", "purchase", at + 2 * us),
    ]
    assert dict(day.rejected) == {"no_items": 1, "null_item": 1, "null_user": 1}
    assert dict(day.ignored) == {"event page_view": 1, "event select_item": 1}


def test_ga4_parquet_file_whose_rows_carry_the_event_date(
    settings: Settings, tmp_path: Path
) -> None:
    t = START * 1_000_000
    lines = [
        ga4_event("view_item", "u1", t, "A-M", date="20261119"),
        ga4_event("purchase", "u1", t + 5, "A-L", "B"),
        ga4_event("scroll", "u2", t),
    ]
    pq.write_table(pa.Table.from_pylist([json.loads(x) for x in lines]), tmp_path / "ga4.parquet")
    settings = with_export(settings, source="ga4", input=str(tmp_path / "ga4.parquet"))
    summary = pipeline.export_days(settings, [DAY - dt.timedelta(days=1), DAY])
    assert [dict(d.actions) for d in summary.days] == [
        {"browse": 1, "basket": 0, "purchase": 0},
        {"browse": 0, "basket": 0, "purchase": 2},
    ]
    assert sorted(r[1] for r in _rows(settings)) == ["A", "B"]
    assert dict(summary.days[1].ignored) == {"event scroll": 1}


def test_ga_file_whose_rows_carry_the_date(settings: Settings, tmp_path: Path) -> None:
    """A file (or glob) of many days: rows are matched on `date`; a malformed line there
    belongs to no day and is reported apart."""
    lines = [
        session("u1", START, hit("2", 0, product("A")), date="20261119"),
        session("u2", START, hit("2", 0, product("B")), hit("3", 0, product("C"))),
        "{not json",
        session("u3", START, hit("2", 0, product("D")), date="2026-11-20"),  # unreadable date
    ]
    write_lines(tmp_path / "part-1.ndjson", lines[:2])
    write_lines(tmp_path / "part-2.ndjson", lines[2:])
    settings = with_export(settings, input=str(tmp_path / "part-*.ndjson"))
    summary = pipeline.export_days(settings, [DAY - dt.timedelta(days=1), DAY])
    assert [dict(d.actions) for d in summary.days] == [
        {"browse": 1, "basket": 0, "purchase": 0},
        {"browse": 1, "basket": 1, "purchase": 0},
    ]
    assert summary.undated_rejected == {"malformed": 1, "no_date": 1}
    assert summary.rejected == {"malformed": 1, "no_date": 1}


RETAILROCKET = [
    "timestamp,visitorid,event,itemid,transactionid",
    "1795132800000,257597,view,355908,",  # 2026-11-20 00:00:00 UTC
    "1795132800500,257597,addtocart,355908,",
    "1795219199999,111016,transaction,356475,4000",  # 23:59:59.999
    "1795219200000,111016,view,1,",  # the next day
    "1795132801000,992329,removefromcart,248676,",
    "1795132802000,,view,248676,",
    "1795132803000,992329,view,,",
    "1795132804000,992329,view",  # a field short: malformed
]


def test_retailrocket_csv_with_the_default_mapping(settings: Settings, tmp_path: Path) -> None:
    write_lines(tmp_path / "events.csv.gz", RETAILROCKET)
    settings = with_export(settings, source="flat", input=str(tmp_path / "events.csv.gz"))
    summary = pipeline.export_days(settings, [DAY])
    (day,) = summary.days
    base = _at(1_795_132_800)
    assert sorted(_rows(settings)) == [
        ("111016", "356475", "purchase", base + dt.timedelta(milliseconds=86_399_999)),
        ("257597", "355908", "basket", base + dt.timedelta(milliseconds=500)),
        ("257597", "355908", "browse", base),
    ]
    assert dict(day.rejected) == {"null_item": 1, "null_user": 1}
    assert dict(day.ignored) == {"event removefromcart": 1}
    assert summary.undated_rejected == {"malformed": 1}


def test_movielens_ratings_by_threshold(settings: Settings, tmp_path: Path) -> None:
    """userId,movieId,rating,timestamp: ratings ≥ 4 are purchases, ≥ 2.5 browses, the rest
    ignored; the timestamp is in seconds."""
    lines = [
        "userId,movieId,rating,timestamp",
        "1,31,2.0,1795132800",
        "1,1029,3.0,1795132860",
        "1,1061,4.0,1795132920",
        "2,1129,5.0,1795132980",
    ]
    write_lines(tmp_path / "ratings.csv", lines)
    flat = {
        "user_column": "userId",
        "item_column": "movieId",
        "event_column": "rating",
        "ts_column": "timestamp",
        "action_thresholds": {"purchase": 4.0, "browse": 2.5},
    }
    settings = with_export(settings, source="flat", input=str(tmp_path / "ratings.csv"), flat=flat)
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert sorted(row[:3] for row in _rows(settings)) == [
        ("1", "1029", "browse"),
        ("1", "1061", "purchase"),
        ("2", "1129", "purchase"),
    ]
    assert dict(day.ignored) == {"event 2.0": 1}


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("auto", "1795132800", _at(1_795_132_800)),
        ("auto", "1795132800250", _at(1_795_132_800.25)),
        ("auto", "1795132800250001", _at(1_795_132_800) + dt.timedelta(microseconds=250_001)),
        ("s", "1795132800.5", _at(1_795_132_800.5)),
        ("auto", "2026-11-20T01:02:03Z", dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)),
        ("auto", "2026-11-20 03:02:03+02:00", dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC)),
    ],
)
def test_flat_timestamps(
    settings: Settings, tmp_path: Path, unit: str, value: str, expected: dt.datetime
) -> None:
    rows = [{"who": "u", "what": "i", "kind": "view", "when": value}]
    write_lines(tmp_path / "log.ndjson", [json.dumps(row) for row in rows])
    flat = {
        "user_column": "who",
        "item_column": "what",
        "event_column": "kind",
        "ts_column": "when",
        "ts_unit": unit,
    }
    settings = with_export(settings, source="flat", input=str(tmp_path / "log.ndjson"), flat=flat)
    pipeline.export_days(settings, [DAY])
    assert _rows(settings) == [("u", "i", "browse", expected)]


def test_flat_parquet_with_a_date_column_and_typed_values(
    settings: Settings, tmp_path: Path
) -> None:
    """The day comes from the date column; ints become text ids; a timestamp column keeps
    its time; a null timestamp is allowed when the date column gives the day."""
    table = pa.table(
        {
            "user_id": pa.array([7, 7, 8], pa.int64()),
            "sku": ["a", "b", "c"],
            "kind": ["buy", "look", "look"],
            "at": pa.array(
                [dt.datetime(2026, 11, 20, 12), None, dt.datetime(2026, 11, 19, 23)],
                pa.timestamp("us", tz="UTC"),
            ),
            "day": pa.array([DAY, DAY, DAY], pa.date32()),
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    flat = {
        "user_column": "user_id",
        "item_column": "sku",
        "event_column": "kind",
        "ts_column": "at",
        "date_column": "day",
        "events": {"buy": "purchase", "look": "browse"},
    }
    settings = with_export(settings, source="flat", input=str(tmp_path / "log.parquet"), flat=flat)
    pipeline.export_days(settings, [DAY])
    assert sorted(_rows(settings), key=lambda r: r[1]) == [
        ("7", "a", "purchase", dt.datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("7", "b", "browse", None),
        ("8", "c", "browse", dt.datetime(2026, 11, 19, 23, tzinfo=UTC)),
    ]


def test_unreadable_flat_timestamp_is_rejected(settings: Settings, tmp_path: Path) -> None:
    lines = ["timestamp,visitorid,event,itemid", "1795132800000,1,view,2", "soon,1,view,3"]
    write_lines(tmp_path / "events.csv", lines)
    settings = with_export(settings, source="flat", input=str(tmp_path / "events.csv"))
    summary = pipeline.export_days(settings, [DAY])
    assert summary.days[0].events == 1
    assert summary.undated_rejected == {"bad_ts": 1}


#: Ids that break the item-id rule (dimrec.items), each a rejected row "bad_item_id", and ids
#: on its edge that follow it.
BAD_IDS = ["SKU A", "SKU,B", "x" * 129, "tab\there", "nl\n", "\u0085next-line"]
GOOD_IDS = ["x" * 128, "日本-靴", "é" * 128, "ok"]


def test_ga360_item_ids_that_break_the_rule_are_rejected(
    settings: Settings, tmp_path: Path
) -> None:
    products = [product(sku) for sku in [*BAD_IDS, *GOOD_IDS]]
    write_lines(
        tmp_path / "ga360" / "ga_sessions_20261120.json",
        [session("u1", START, hit("2", 0, *products))],
    )
    settings = with_export(settings, input=str(tmp_path / "ga360"), sku_regex="")
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert sorted(r[1] for r in _rows(settings)) == sorted(GOOD_IDS)
    assert dict(day.rejected) == {"bad_item_id": len(BAD_IDS)}


def test_ga360_the_rule_applies_to_the_folded_sku(settings: Settings, tmp_path: Path) -> None:
    """The rule applies to the id as exported, after variant folding: "A B-M" → "A B"."""
    skus = ["A B-M", "GOOD-M", "A-B-C D"]  # → "A B" (bad), "GOOD", "A-B-C D" (bad, unfolded)
    lines = [session("u1", START, hit("2", 0, *(product(s) for s in skus)))]
    write_lines(tmp_path / "ga360" / "ga_sessions_20261120.json", lines)
    settings = with_export(settings, input=str(tmp_path / "ga360"))
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert [r[1] for r in _rows(settings)] == ["GOOD"]
    assert dict(day.rejected) == {"bad_item_id": 2}


def test_ga4_item_ids_that_break_the_rule_are_rejected(settings: Settings, tmp_path: Path) -> None:
    lines = [ga4_event("view_item", "u1", START * 1_000_000, *BAD_IDS, *GOOD_IDS)]
    write_lines(tmp_path / "ga4" / "events_20261120.json", lines)
    settings = with_export(settings, source="ga4", input=str(tmp_path / "ga4"), sku_regex="")
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert sorted(r[1] for r in _rows(settings)) == sorted(GOOD_IDS)
    assert dict(day.rejected) == {"bad_item_id": len(BAD_IDS)}


def test_flat_item_ids_that_break_the_rule_are_rejected(settings: Settings, tmp_path: Path) -> None:
    rows = [
        {"timestamp": 1_795_132_800_000 + n, "visitorid": "u1", "event": "view", "itemid": item}
        for n, item in enumerate([*BAD_IDS, *GOOD_IDS])
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "log.parquet")
    settings = with_export(settings, source="flat", input=str(tmp_path / "log.parquet"))
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert sorted(r[1] for r in _rows(settings)) == sorted(GOOD_IDS)
    assert dict(day.rejected) == {"bad_item_id": len(BAD_IDS)}


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_flat_weight_column_carries_quantities(
    settings: Settings, tmp_path: Path, fmt: str
) -> None:
    """An invoice log with a quantity per line: the quantity is the event's weight and
    multiplies its action's weight in the profile; a quantity that is not a positive number
    (a return, text) rejects the row; a missing one weighs 1."""
    rows = [
        {"invoice_day": "2026-11-20", "customer": "c1", "code": "A", "qty": "12"},
        {"invoice_day": "2026-11-20", "customer": "c1", "code": "B", "qty": "1"},
        {"invoice_day": "2026-11-20", "customer": "c1", "code": "A", "qty": "2.5"},
        {"invoice_day": "2026-11-20", "customer": "c2", "code": "B", "qty": "-3"},
        {"invoice_day": "2026-11-20", "customer": "c2", "code": "C", "qty": "many"},
        {"invoice_day": "2026-11-20", "customer": "c2", "code": "D", "qty": ""},
    ]
    path = tmp_path / f"invoices.{fmt}"
    if fmt == "csv":
        write_lines(path, ["invoice_day,customer,code,qty"] + [",".join(r.values()) for r in rows])
    elif fmt == "ndjson":
        write_lines(path, [json.dumps(r) for r in rows])
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    flat = {
        "user_column": "customer",
        "item_column": "code",
        "event_column": "code",  # every line is a purchase: see events below
        "ts_column": "",
        "date_column": "invoice_day",
        "weight_column": "qty",
        "events": dict.fromkeys("ABCD", "purchase"),
    }
    settings = with_export(settings, source="flat", input=str(path), flat=flat)
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert dict(day.rejected) == {"bad_weight": 2}
    table = partitions.events(settings.paths.events_url()).read(DAY).to_pylist()
    assert sorted((r["user"], r["item"], r["weight"]) for r in table) == [
        ("c1", "A", 2.5),
        ("c1", "A", 12.0),
        ("c1", "B", 1.0),
        ("c2", "D", None),
    ]
    prepared = pipeline.prepare_days(settings, [DAY])
    assert prepared.days[0].profiles == 3
    profiles = partitions.profiles(settings.paths.profiles_url()).read(DAY).to_pylist()
    assert {(r["user"], r["item"]): r["score"] for r in profiles} == {
        ("c1", "A"): 6.0 * 14.5,
        ("c1", "B"): 6.0,
        ("c2", "D"): 6.0,
    }


def test_events_without_the_weight_column_still_read(settings: Settings) -> None:
    """A day written before events had a weight: read with a null weight, prepared as 1."""
    store = partitions.events(settings.paths.events_url())
    path = Path(store.path(DAY))
    path.parent.mkdir(parents=True)
    old = pa.table(
        {
            "user": ["u", "u"],
            "item": ["a", "b"],
            "action": ["purchase", "browse"],
            "ts": [None] * 2,
        },
        schema=partitions.EVENTS_SCHEMA,
    )
    pq.write_table(old, path)
    assert store.read(DAY).column("weight").null_count == 2
    pipeline.prepare_days(settings, [DAY])
    profiles = partitions.profiles(settings.paths.profiles_url()).read(DAY).to_pylist()
    assert {r["item"]: r["score"] for r in profiles} == {"a": 6.0, "b": 0.5}
