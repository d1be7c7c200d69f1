"""Bad input: each problem is named, rejected rows are counted by reason, and a failed
export leaves the day's previous partition as it was."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from export_helpers import hit, product, session, with_export, write_lines

from dimrec import partitions, pipeline
from dimrec.config import Settings, load_settings
from dimrec.errors import (
    ConfigError,
    DataError,
    InvalidInputError,
    MissingDataError,
    SchemaError,
)

DAY = dt.date(2026, 11, 20)
START = 1_795_132_800


def _good_lines(n: int = 3) -> list[str]:
    return [session(f"u{k}", START, hit("2", k, product(f"SKU{k}"))) for k in range(n)]


def _folder(tmp_path: Path, lines: list[str] | list[str | bytes], day: dt.date = DAY) -> Path:
    folder = tmp_path / "ga360"
    write_lines(folder / f"ga_sessions_{day:%Y%m%d}.json.gz", lines)
    return folder


def test_missing_day_names_the_day_and_the_path(settings: Settings, tmp_path: Path) -> None:
    folder = _folder(tmp_path, _good_lines())
    settings = with_export(settings, input=str(folder))
    summary = pipeline.export_days(settings, ["2026-11-21"])
    assert summary.days == ()
    with pytest.raises(MissingDataError) as caught:
        summary.raise_for_missing()
    message = str(caught.value)
    assert "2026-11-21" in message
    assert f"{folder}/ga_sessions_20261121*" in message


def test_a_range_with_gaps_exports_the_rest_and_names_the_gaps(
    settings: Settings, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, _good_lines())
    settings = with_export(settings, input=str(folder))
    days = dates_around(DAY)
    summary = pipeline.export_days(settings, days)
    assert [d.day for d in summary.days] == [DAY]
    assert [m.day for m in summary.missing] == [days[0], days[2]]
    assert partitions.events(settings.paths.events_url()).days() == [DAY]
    with pytest.raises(MissingDataError, match=r"2 day\(s\): 2026-11-19, 2026-11-21"):
        summary.raise_for_missing()


def dates_around(day: dt.date) -> list[dt.date]:
    return [day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)]


def test_malformed_lines_are_counted_one_by_one(settings: Settings, tmp_path: Path) -> None:
    bad: list[str | bytes] = [
        '{"fullVisitorId": "u9", "hits": [',  # cut short
        "[1, 2]",  # JSON, but not an object
        "42",
        b'{"fullVisitorId": "\xff\xfe"}',  # not UTF-8
        b'{"fullVisitorId": "a\x00b"}',  # a NUL byte inside a string
        "",  # blank lines are not rows
        "   ",
    ]
    lines: list[str | bytes] = [*_good_lines(2), *bad, *_good_lines(3)[2:]]
    settings = with_export(settings, input=str(_folder(tmp_path, lines)))
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert dict(day.rejected) == {"malformed": 5}
    assert day.events == 3


def test_a_table_of_nothing_but_malformed_lines_is_an_error(
    settings: Settings, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, ["<html>", "not json"])
    settings = with_export(settings, input=str(folder))
    with pytest.raises(DataError, match=r"2 malformed.*newline-delimited JSON"):
        pipeline.export_days(settings, [DAY])


def test_null_user_and_sku_are_counted_by_reason(settings: Settings, tmp_path: Path) -> None:
    lines = [
        *_good_lines(2),
        session(None, START, hit("2", 0, product("A"), product("B"))),
        session("", START, hit("3", 0, product("A"))),
        session("u7", START, hit("6", 0, product(None), product(""), product("C"))),
    ]
    settings = with_export(settings, input=str(_folder(tmp_path, lines)))
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert dict(day.rejected) == {"null_item": 2, "null_user": 3}
    assert dict(day.actions) == {"browse": 2, "basket": 0, "purchase": 1}


@pytest.mark.parametrize(
    ("rename", "column"),
    [
        (("fullVisitorId", "clientId"), "fullVisitorId"),
        (("productSKU", "sku"), "hits.product.productSKU"),
        (("eCommerceAction", "ecommerce"), "hits.eCommerceAction"),
    ],
)
def test_json_table_lacking_a_needed_column(
    settings: Settings, tmp_path: Path, rename: tuple[str, str], column: str
) -> None:
    lines = [line.replace(f'"{rename[0]}"', f'"{rename[1]}"') for line in _good_lines()]
    settings = with_export(settings, input=str(_folder(tmp_path, lines)))
    with pytest.raises(SchemaError) as caught:
        pipeline.export_days(settings, [DAY])
    assert f"lacks column(s) {column} " in str(caught.value)


def test_json_table_whose_rows_have_no_events_is_not_a_schema_error(
    settings: Settings, tmp_path: Path
) -> None:
    """Every column is there, only no hit has a product view: an empty day, not an error."""
    lines = [session("u1", START, hit("1", 0, product("A")))]
    settings = with_export(settings, input=str(_folder(tmp_path, lines)))
    (day,) = pipeline.export_days(settings, [DAY]).days
    assert day.events == 0
    assert dict(day.ignored) == {"action_type 1": 1}


def test_parquet_table_lacking_a_needed_column(settings: Settings, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in _good_lines()]
    for row in rows:
        del row["visitStartTime"]
    folder = tmp_path / "ga360"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "ga_sessions_20261120.parquet")
    settings = with_export(settings, input=str(folder))
    with pytest.raises(SchemaError, match=r"lacks column\(s\) visitStartTime "):
        pipeline.export_days(settings, [DAY])


def test_flat_log_lacking_a_configured_column(settings: Settings, tmp_path: Path) -> None:
    write_lines(tmp_path / "events.csv", ["ts,user,event,item", "1795132800,1,view,2"])
    settings = with_export(settings, source="flat", input=str(tmp_path / "events.csv"))
    with pytest.raises(SchemaError) as caught:
        pipeline.export_days(settings, [DAY])
    assert "lacks column(s) visitorid, itemid, timestamp" in str(caught.value)
    assert "it has ts, user, event, item" in str(caught.value)


def test_ndjson_flat_log_lacking_a_configured_column(settings: Settings, tmp_path: Path) -> None:
    rows = [{"timestamp": 1795132800, "visitorid": 1, "event": "view", "item": 3}]
    write_lines(tmp_path / "events.ndjson", [json.dumps(row) for row in rows])
    settings = with_export(settings, source="flat", input=str(tmp_path / "events.ndjson"))
    with pytest.raises(SchemaError, match="no column itemid"):
        pipeline.export_days(settings, [DAY])


@pytest.mark.parametrize("day", ["2026-02-30", "20261320", "yesterday", "2026/11/20"])
def test_invalid_date_is_refused_before_anything_runs(
    settings: Settings, tmp_path: Path, day: str
) -> None:
    settings = with_export(settings, input=str(tmp_path / "nowhere"))
    with pytest.raises(InvalidInputError, match="invalid date"):
        pipeline.export_days(settings, [day])


def test_no_input_at_all(settings: Settings, tmp_path: Path) -> None:
    settings = with_export(settings, input=str(tmp_path / "nowhere.ndjson.gz"))
    summary = pipeline.export_days(settings, [DAY])
    with pytest.raises(MissingDataError, match=r"nowhere\.ndjson\.gz"):
        summary.raise_for_missing()


def test_column_names_that_could_smuggle_sql_are_refused(
    settings: Settings, tmp_path: Path
) -> None:
    write_lines(tmp_path / "events.csv", ["timestamp,visitorid,event,itemid", "1,2,view,3"])
    flat = {"user_column": 'visitorid" FROM x; --'}
    settings = with_export(settings, source="flat", input=str(tmp_path / "events.csv"), flat=flat)
    with pytest.raises(ConfigError, match=r"export\.flat\.user_column"):
        pipeline.export_days(settings, [DAY])


@pytest.mark.parametrize("regex", ["([a-z", "^[^-]+-[^-]+$"])
def test_bad_sku_regex_is_a_settings_error(regex: str) -> None:
    with pytest.raises(ConfigError, match="sku_regex"):
        load_settings(export={"sku_regex": regex})


def test_a_failed_export_leaves_the_previous_partition(settings: Settings, tmp_path: Path) -> None:
    settings = with_export(settings, input=str(_folder(tmp_path, _good_lines())))
    pipeline.export_days(settings, [DAY])
    events = partitions.events(settings.paths.events_url())
    before = events.read(DAY)
    broken = [line.replace('"fullVisitorId"', '"clientId"') for line in _good_lines(5)]
    _folder(tmp_path, broken)
    with pytest.raises(SchemaError):
        pipeline.export_days(settings, [DAY])
    assert events.read(DAY).equals(before)


def test_each_days_malformed_lines_count_in_that_day(settings: Settings, tmp_path: Path) -> None:
    """Daily tables are read a few at a time; each day still gets its own count."""
    day1, day2, day3 = dates_around(DAY)
    _folder(tmp_path, [*_good_lines(), b"\xff\xfe not text"], day1)
    _folder(tmp_path, [b"\xff", *_good_lines(2), b"\xfe", "{cut short"], day2)
    _folder(tmp_path, _good_lines(1), day3)
    settings = with_export(settings, input=str(tmp_path / "ga360"), threads=3)
    summary = pipeline.export_days(settings, [day1, day2, day3])
    assert [dict(d.rejected) for d in summary.days] == [{"malformed": 1}, {"malformed": 3}, {}]
    assert [d.events for d in summary.days] == [3, 2, 1]


def test_a_broken_day_stops_the_run_there(settings: Settings, tmp_path: Path) -> None:
    """The day before it is written, the broken day is named, the days after it are not
    touched — even though the three tables were read together."""
    day1, day2, day3 = dates_around(DAY)
    _folder(tmp_path, _good_lines(), day1)
    _folder(tmp_path, [line.replace('"fullVisitorId"', '"id"') for line in _good_lines()], day2)
    _folder(tmp_path, _good_lines(), day3)
    settings = with_export(settings, input=str(tmp_path / "ga360"), threads=3)
    with pytest.raises(SchemaError, match="ga_sessions_20261120"):
        pipeline.export_days(settings, [day1, day2, day3])
    assert partitions.events(settings.paths.events_url()).days() == [day1]
