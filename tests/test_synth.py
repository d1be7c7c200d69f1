"""The synthetic shop: deterministic files that DuckDB reads, with a truth.json that DuckDB
confirms independently, and the shape of a real shop (funnels, Zipf popularity, variants).

The SQL below is built only from this file's constants and pytest's temporary paths.
"""
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pytest
from typer.testing import CliRunner

from dimrec.cli import app
from dimrec.cli.synth import default_out
from dimrec.config import ExportSettings, load_settings
from dimrec.errors import InvalidInputError
from dimrec.synth import SIZES, SKU_REGEX, SynthSummary, generate
from dimrec.synth.ga360 import Ga360Renderer

START = dt.date(2026, 10, 1)
TINY: dict[str, Any] = {
    "start": START,
    "days": 2,
    "sessions_per_day": 400,
    "n_items": 120,
    "n_users": 300,
    "seed": 7,
}
CORRUPT = 3
PRODUCT_ROWS = "unnest(s.hits) AS t(h), unnest(h.product) AS u(p)"
CANDIDATE = (
    "h.eCommerceAction.action_type IN ('2', '3', '6') AND NOT coalesce(p.isImpression, false)"
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary, dict[str, Any]]:
    out = tmp_path_factory.mktemp("shop")
    summary = generate(str(out), **TINY, corrupt_lines=CORRUPT)
    truth = json.loads((out / "truth.json").read_text())
    return out, summary, truth


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _json(path: Path) -> str:
    return f"read_json_auto('{path}', format = 'newline_delimited', ignore_errors = true)"


def _one(sql: str) -> tuple[Any, ...]:
    row = duckdb.sql(sql).fetchall()[0]
    return tuple(row)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    args = {**TINY, "days": 1, "sessions_per_day": 150}
    generate(str(tmp_path / "a"), **args, corrupt_lines=2)
    generate(str(tmp_path / "b"), **args, corrupt_lines=2)
    generate(str(tmp_path / "c"), **{**args, "seed": 8}, corrupt_lines=2)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert sorted(a) == [
        "flat/events.csv.gz",
        "ga360/ga_sessions_20261001.json.gz",
        "ga4/events_20261001.json.gz",
        "truth.json",
    ]
    assert a == b
    for name in a:
        assert a[name] != c[name], name


def test_a_day_does_not_depend_on_other_formats_or_corruption(tmp_path: Path) -> None:
    args = {**TINY, "days": 1, "sessions_per_day": 150}
    generate(str(tmp_path / "all"), **args, corrupt_lines=0)
    generate(str(tmp_path / "one"), **args, formats=["ga360"], corrupt_lines=0)
    generate(str(tmp_path / "bad"), **args, formats=["ga360"], corrupt_lines=4)
    name = "ga360/ga_sessions_20261001.json.gz"
    assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    good = gzip.decompress((tmp_path / "one" / name).read_bytes()).splitlines()
    spoilt = gzip.decompress((tmp_path / "bad" / name).read_bytes()).splitlines()
    assert [line for line in spoilt if line in set(good)] == good
    assert len(spoilt) == len(good) + 4
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["ga360", "truth.json"]


def test_ga360_counts_in_duckdb_match_the_truth(shop: tuple[Path, SynthSummary, dict]) -> None:
    out, _, truth = shop
    for day, expected in truth["formats"]["ga360"]["days"].items():
        source = _json(out / expected["file"])
        accepted = (
            f"{CANDIDATE} AND s.fullVisitorId IS NOT NULL AND coalesce(p.productSKU, '') <> ''"
        )
        got = _one(
            f"""SELECT
              count(*) FILTER (WHERE {accepted} AND h.eCommerceAction.action_type = '2'),
              count(*) FILTER (WHERE {accepted} AND h.eCommerceAction.action_type = '3'),
              count(*) FILTER (WHERE {accepted} AND h.eCommerceAction.action_type = '6'),
              count(DISTINCT s.fullVisitorId) FILTER (WHERE {accepted}),
              count(DISTINCT regexp_replace(p.productSKU, '{SKU_REGEX}', '\\1'))
                FILTER (WHERE {accepted}),
              count(*) FILTER (WHERE {CANDIDATE} AND s.fullVisitorId IS NULL),
              count(*) FILTER (WHERE {CANDIDATE} AND s.fullVisitorId IS NOT NULL
                               AND coalesce(p.productSKU, '') = ''),
              count(*) FILTER (WHERE h.eCommerceAction.action_type IN ('2', '3', '6')
                               AND p.isImpression),
              min(s.visitStartTime * 1000000 + h.time * 1000) FILTER (WHERE {accepted}),
              max(s.visitStartTime * 1000000 + h.time * 1000) FILTER (WHERE {accepted})
            FROM {source} s, {PRODUCT_ROWS}"""
        )
        assert got == (
            expected["rows"]["browse"],
            expected["rows"]["basket"],
            expected["rows"]["purchase"],
            expected["users"],
            expected["items"],
            expected["rejected"]["null_user"],
            expected["rejected"]["null_item"],
            expected["ignored"]["impressions"],
            expected["ts_min_us"],
            expected["ts_max_us"],
        ), day
        ignored = duckdb.sql(
            f"""SELECT h.eCommerceAction.action_type, count(*) FROM {source} s, {PRODUCT_ROWS}
            WHERE h.eCommerceAction.action_type NOT IN ('2', '3', '6') GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        assert dict(ignored) == expected["ignored"]["action_types"]
        assert set(dict(ignored)) == {"0", "1", "4", "5"}
        # A malformed line becomes a row of nulls when DuckDB ignores errors: no products.
        lines, blank = _one(f"SELECT count(*), count(*) FILTER (WHERE date IS NULL) FROM {source}")
        assert (lines, blank) == (expected["lines"], CORRUPT)
        assert expected["sessions"] == TINY["sessions_per_day"] == lines - CORRUPT
        assert min(expected["rejected"].values()) > 0


def test_ga4_counts_in_duckdb_match_the_truth(shop: tuple[Path, SynthSummary, dict]) -> None:
    out, _, truth = shop
    for day, expected in truth["formats"]["ga4"]["days"].items():
        source = _json(out / expected["file"])
        mapped = "e.event_name IN ('view_item', 'add_to_cart', 'purchase')"
        accepted = f"{mapped} AND e.user_pseudo_id IS NOT NULL AND coalesce(i.item_id, '') <> ''"
        got = _one(
            f"""SELECT
              count(*) FILTER (WHERE {accepted} AND e.event_name = 'view_item'),
              count(*) FILTER (WHERE {accepted} AND e.event_name = 'add_to_cart'),
              count(*) FILTER (WHERE {accepted} AND e.event_name = 'purchase'),
              count(DISTINCT e.user_pseudo_id) FILTER (WHERE {accepted}),
              count(DISTINCT regexp_replace(i.item_id, '{SKU_REGEX}', '\\1'))
                FILTER (WHERE {accepted}),
              count(*) FILTER (WHERE {mapped} AND e.user_pseudo_id IS NULL),
              count(*) FILTER (WHERE {mapped} AND e.user_pseudo_id IS NOT NULL
                               AND coalesce(i.item_id, '') = ''),
              min(e.event_timestamp) FILTER (WHERE {accepted}),
              max(e.event_timestamp) FILTER (WHERE {accepted})
            FROM {source} e, unnest(e.items) AS t(i)"""
        )
        assert got == (
            expected["rows"]["browse"],
            expected["rows"]["basket"],
            expected["rows"]["purchase"],
            expected["users"],
            expected["items"],
            expected["rejected"]["null_user"],
            expected["rejected"]["null_item"],
            expected["ts_min_us"],
            expected["ts_max_us"],
        ), day
        names = dict(duckdb.sql(f"SELECT event_name, count(*) FROM {source} GROUP BY 1").fetchall())
        for name, count in expected["ignored"]["events"].items():
            assert names[name] == count, name
        assert {"session_start", "page_view", "scroll", "view_item_list"} <= set(names)
        assert sum(names[n] for n in names if n) == expected["events"]


def test_flat_counts_in_duckdb_match_the_truth(shop: tuple[Path, SynthSummary, dict]) -> None:
    out, _, truth = shop
    accepted = "event IN ('view', 'addtocart', 'transaction') AND visitorid IS NOT NULL "
    accepted += "AND itemid IS NOT NULL"
    rows = duckdb.sql(
        f"""SELECT strftime(to_timestamp(timestamp / 1000), '%Y-%m-%d') AS day,
          count(*) FILTER (WHERE {accepted} AND event = 'view'),
          count(*) FILTER (WHERE {accepted} AND event = 'addtocart'),
          count(*) FILTER (WHERE {accepted} AND event = 'transaction'),
          count(DISTINCT visitorid) FILTER (WHERE {accepted}),
          count(DISTINCT itemid) FILTER (WHERE {accepted}),
          count(*) FILTER (WHERE event NOT IN ('view', 'addtocart', 'transaction'))
        FROM read_csv_auto('{out / "flat" / "events.csv.gz"}') GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    days = truth["formats"]["flat"]["days"]
    assert [r[0] for r in rows] == sorted(days)
    for day, *got in rows:
        expected = days[day]
        assert tuple(got) == (
            expected["rows"]["browse"],
            expected["rows"]["basket"],
            expected["rows"]["purchase"],
            expected["users"],
            expected["items"],
            sum(expected["ignored"]["events"].values()),
        ), day


def test_the_three_formats_hold_the_same_interactions(
    shop: tuple[Path, SynthSummary, dict],
) -> None:
    _, summary, truth = shop
    totals = {fmt: truth["formats"][fmt]["totals"] for fmt in ("ga360", "ga4", "flat")}
    for key in ("rows", "rejected", "users", "items"):
        assert totals["ga360"][key] == totals["ga4"][key] == totals["flat"][key], key
    assert summary.formats["ga360"].rows == totals["ga360"]["rows"]
    assert summary.formats["ga360"].lines == (TINY["sessions_per_day"] + CORRUPT) * TINY["days"]
    assert summary.paths[-1] == summary.truth_path


def test_funnel_narrows_and_purchases_follow_the_basket(
    shop: tuple[Path, SynthSummary, dict],
) -> None:
    out, _, truth = shop
    rows = truth["formats"]["ga360"]["totals"]["rows"]
    assert rows["browse"] > 3 * rows["basket"] > 0
    assert rows["basket"] > rows["purchase"] > 0
    # Purchased (visitor, item) pairs were mostly put in the basket first, in the flat log.
    bought, basketed_first = _one(
        f"""WITH log AS (SELECT * FROM read_csv_auto('{out / "flat" / "events.csv.gz"}')),
        buys AS (SELECT DISTINCT visitorid, itemid, timestamp FROM log
                 WHERE event = 'transaction' AND visitorid IS NOT NULL AND itemid IS NOT NULL)
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM log c WHERE c.event = 'addtocart' AND c.visitorid = b.visitorid
            AND c.itemid = b.itemid AND c.timestamp < b.timestamp))
        FROM buys b"""
    )
    assert bought > 0
    assert basketed_first / bought > 0.8


def test_popularity_is_skewed(shop: tuple[Path, SynthSummary, dict]) -> None:
    out, _, _ = shop
    counts = sorted(
        (
            n
            for (n,) in duckdb.sql(
                f"""SELECT count(*) FROM read_csv_auto('{out / "flat" / "events.csv.gz"}')
                WHERE event = 'view' GROUP BY itemid"""
            ).fetchall()
        ),
        reverse=True,
    )
    top = counts[: TINY["n_items"] // 10]
    assert sum(top) / sum(counts) > 0.35  # uniform popularity would give about 0.10


def test_variant_and_look_alike_skus(shop: tuple[Path, SynthSummary, dict]) -> None:
    out, _, truth = shop
    source = _json(out / truth["formats"]["ga360"]["days"]["2026-10-01"]["file"])
    skus = [
        sku
        for (sku,) in duckdb.sql(
            f"SELECT DISTINCT p.productSKU FROM {source} s, {PRODUCT_ROWS} "
            "WHERE p.productSKU IS NOT NULL AND p.productSKU <> ''"
        ).fetchall()
    ]
    by_hyphens = Counter(sku.count("-") for sku in skus)
    assert all(by_hyphens[n] for n in range(4)), by_hyphens
    variants = [s for s in skus if s.count("-") in (1, 3)]
    assert any(s.rsplit("-", 1)[1] in {"XS", "S", "M", "L", "XL", "2XL"} for s in variants)
    # A variant normalises to a SKU that exists on its own (its base product).
    bases = {s.rsplit("-", 1)[0] for s in variants}
    assert bases & {s for s in skus if s.count("-") in (0, 2)}
    assert ExportSettings().sku_regex == SKU_REGEX


def test_returning_shoppers_keep_their_taste(shop: tuple[Path, SynthSummary, dict]) -> None:
    out, _, truth = shop
    files = [out / day["file"] for day in truth["formats"]["ga360"]["days"].values()]
    names = [str(f) for f in files]
    source = f"read_json_auto({names}, format = 'newline_delimited', ignore_errors = true)"
    returning, max_visit, bare = _one(
        f"""SELECT count(DISTINCT fullVisitorId) FILTER (WHERE visitNumber > 1),
        max(visitNumber),
        count(*) FILTER (WHERE len(list_filter(hits, lambda h: len(h.product) > 0)) = 0
                         AND date IS NOT NULL)
        FROM {source}"""
    )
    assert returning > 0
    assert max_visit > 2
    assert bare > 0  # sessions without any e-commerce
    share = _one(
        f"""WITH views AS (SELECT s.fullVisitorId AS u, p.v2ProductCategory AS c
              FROM {source} s, {PRODUCT_ROWS}
              WHERE h.eCommerceAction.action_type = '2' AND NOT coalesce(p.isImpression, false)
                AND s.fullVisitorId IS NOT NULL),
            per_user AS (SELECT u, max(n) AS top, sum(n) AS total
              FROM (SELECT u, c, count(*) AS n FROM views GROUP BY u, c) GROUP BY u)
        SELECT avg(top / total) FROM per_user WHERE total >= 6"""
    )[0]
    assert share > 0.5  # mostly their preferred category


def test_corrupt_lines_only_when_asked(
    shop: tuple[Path, SynthSummary, dict], tmp_path: Path
) -> None:
    out, _, truth = shop

    def malformed(path: Path) -> int:
        bad = 0
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            try:
                json.loads(line)
            except json.JSONDecodeError:
                bad += 1
        return bad

    for fmt in ("ga360", "ga4"):
        for day in truth["formats"][fmt]["days"].values():
            assert malformed(out / day["file"]) == day["malformed_lines"] == CORRUPT
    generate(str(tmp_path), **{**TINY, "days": 1}, formats=["ga360"])
    assert malformed(tmp_path / "ga360" / "ga_sessions_20261001.json.gz") == 0


def test_memory_filesystem(tmp_path: Path) -> None:
    args = {**TINY, "days": 1, "sessions_per_day": 100}
    summary = generate("memory://dimrec-synth-test/shop", **args)
    local = generate(str(tmp_path), **args)
    fs = fsspec.filesystem("memory")
    assert summary.truth_path == "memory://dimrec-synth-test/shop/truth.json"
    for url in summary.paths:
        name = url.split("/shop/", 1)[1]
        assert fs.cat_file(url) == (tmp_path / name).read_bytes(), name
    assert not [p for p in fs.find("/dimrec-synth-test") if ".tmp-" in p]
    assert summary.formats == {
        fmt: type(t)(**{**t.__dict__, "cpu_seconds": summary.formats[fmt].cpu_seconds})
        for fmt, t in local.formats.items()
    }
    fs.rm("/dimrec-synth-test", recursive=True)


def test_a_failure_leaves_no_partial_file_and_no_stale_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = {**TINY, "sessions_per_day": 2500, "formats": ["ga360", "flat"]}
    generate(str(tmp_path), **{**args, "seed": 1})
    before = _files(tmp_path)
    calls = 0
    original = Ga360Renderer.lines

    def failing(self: Ga360Renderer, day: Any, first: int, stop: int) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:  # the second block of the second day: the first is already written
            raise RuntimeError("disk on fire")
        return original(self, day, first, stop)

    monkeypatch.setattr(Ga360Renderer, "lines", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate(str(tmp_path), **{**args, "seed": 2})
    after = _files(tmp_path)
    # no temporary file left behind, and no truth.json describing files it does not match
    assert sorted(after) == sorted(set(before) - {"truth.json"})
    first_day = "ga360/ga_sessions_20261001.json.gz"
    assert after[first_day] != before[first_day]  # replaced whole by the second run
    for name in ("ga360/ga_sessions_20261002.json.gz", "flat/events.csv.gz"):
        assert after[name] == before[name], name


@pytest.mark.realdata
def test_keys_and_types_exist_in_the_real_schemas(shared_data: Path, tmp_path: Path) -> None:
    generate(str(tmp_path), **{**TINY, "days": 1, "sessions_per_day": 100})
    for fmt, name, schema_file in (
        ("ga360", "ga360/ga_sessions_20261001.json.gz", "ga_sessions_schema.json"),
        ("ga4", "ga4/events_20261001.json.gz", "ga4_events_schema.json"),
    ):
        schema = json.loads((shared_data / "ga_sample" / schema_file).read_text())
        types = dict(zip(schema["nested_column_names"], schema["nested_column_types"], strict=True))
        seen: dict[str, set[str]] = {}
        for line in gzip.decompress((tmp_path / name).read_bytes()).decode().splitlines():
            _walk(json.loads(line), "", seen)
        for path, kinds in seen.items():
            assert path in types, f"{fmt}: {path} is not in the real schema"
            expected = types[path].split("<")[0]
            allowed = {
                "STRING": {"str"},
                "INT64": {"int"},
                "FLOAT64": {"float", "int"},
                "BOOL": {"bool"},
                "STRUCT": {"dict"},
                "ARRAY": {"list"},
            }[expected]
            assert kinds - {"NoneType"} <= allowed, f"{fmt}: {path} {kinds} vs {types[path]}"


def _walk(value: Any, path: str, seen: dict[str, set[str]]) -> None:
    if isinstance(value, list):
        seen.setdefault(path, set()).add("list")
        for element in value:
            _walk_fields(element, path, seen)
        return
    if path:
        seen.setdefault(path, set()).add(type(value).__name__)
    if isinstance(value, dict):
        _walk_fields(value, path, seen)


def _walk_fields(value: Any, path: str, seen: dict[str, set[str]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _walk(child, f"{path}.{key}" if path else key, seen)


def test_invalid_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        generate(
            str(tmp_path), start=START, days=0, sessions_per_day=10, n_items=3, n_users=5,
            formats=["ga5"],
        )  # fmt: skip
    message = str(caught.value)
    assert "days must be at least 1" in message
    assert "n_items must be at least 10" in message
    assert "ga5" in message
    assert not list(tmp_path.iterdir())


def test_default_out_is_above_the_export_input() -> None:
    assert default_out(load_settings(None)) == "var/warehouse"
    for given, expected in (
        ("data/ga4/", "data"),
        ("gs://bucket/shop/flat/events.csv.gz", "gs://bucket/shop"),
        ("exports/ga_sessions_*.json.gz", "exports"),
    ):
        settings = load_settings(None, export={"input": given})
        assert default_out(settings) == expected


def test_cli_writes_the_shop_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "warehouse"
    result = CliRunner().invoke(
        app,
        ["synth", "--out", str(out), "--start", "2026-10-01", "--days", "2",
         "--sessions-per-day", "120", "--items", "60", "--users", "200", "--seed", "3",
         "--formats", "ga360,flat", "--corrupt-lines", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ga360" in result.output
    assert "expected export counts" in result.output
    truth = json.loads((out / "truth.json").read_text())
    assert truth["generator"]["formats"] == ["ga360", "flat"]
    assert truth["generator"]["corrupt_lines"] == 1
    assert sorted(p.name for p in (out / "ga360").iterdir()) == [
        "ga_sessions_20261001.json.gz",
        "ga_sessions_20261002.json.gz",
    ]
    assert not (out / "ga4").exists()


def test_cli_size_preset(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["synth", "--out", str(tmp_path), "--size", "tiny", "--start", "2026-10-01",
              "--formats", "flat", "--days", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    generator = json.loads((tmp_path / "truth.json").read_text())["generator"]
    expected = {**SIZES["tiny"], "days": 1}
    assert {k: generator[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("--size", "huge", "huge"), ("--days", "0", "days must be at least 1")],
)
def test_cli_bad_input_is_an_invalid_input_error(
    tmp_path: Path, option: str, value: str, named: str
) -> None:
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), option, value])
    assert isinstance(result.exception, InvalidInputError)
    assert named in str(result.exception)
    assert not list(tmp_path.iterdir())


def test_cli_bad_input_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from dimrec.cli import main; main()", "synth",
         "--out", str(tmp_path), "--days", "1", "--formats", "ga360,xml"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "xml" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())
