"""BigQuery, up to the client call: the SQL text it would send, the job configuration (the
day and the SKU regex as query parameters, never pasted in), the table lookups that make a
missing day or column a clear error, and what is done with the rows that come back.

BigQuery cannot run here, so the client is a stand-in that records its calls; everything
before it (query text, parameters, job configuration, schema checks) is the real code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from export_helpers import with_export
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from dimrec import partitions
from dimrec.config import Settings
from dimrec.errors import ConfigError, MissingDataError, SchemaError
from dimrec.export import export_range, open_warehouse
from dimrec.export.bigquery import BigQueryWarehouse
from dimrec.items import ITEM_ID_PATTERN

DAY = dt.date(2026, 11, 20)
DATASET = "my-shop-project.analytics_123456"
F = bigquery.SchemaField
GA360_SCHEMA = [
    F("fullVisitorId", "STRING"),
    F("visitStartTime", "INTEGER"),
    F("date", "STRING"),
    F(
        "hits",
        "RECORD",
        mode="REPEATED",
        fields=[
            F("time", "INTEGER"),
            F("eCommerceAction", "RECORD", fields=[F("action_type", "STRING")]),
            F(
                "product",
                "RECORD",
                mode="REPEATED",
                fields=[F("productSKU", "STRING"), F("isImpression", "BOOLEAN")],
            ),
        ],
    ),
]
GA4_SCHEMA = [
    F("event_date", "STRING"),
    F("event_timestamp", "INTEGER"),
    F("event_name", "STRING"),
    F("user_pseudo_id", "STRING"),
    F("items", "RECORD", mode="REPEATED", fields=[F("item_id", "STRING")]),
]


def _result_rows() -> pa.Table:
    """What BigQuery would answer: classified rows, ignored ones already counted."""
    ts = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    rows = [
        ("event", None, "u1", "SKU1", "browse", ts, 1),
        ("event", None, "u1", "SKU2", "purchase", ts, 1),
        ("event", None, "u2", "SKU1", "basket", ts, 1),
        ("rejected", "null_user", None, "SKU3", "browse", ts, 1),
        ("ignored", "action_type 1", None, None, None, None, 40),
        ("ignored", "impression", None, None, None, None, 7),
    ]
    names = ["outcome", "reason", "user", "item", "action", "ts", "row_count"]
    columns = list(zip(*rows, strict=True))
    types = [pa.string()] * 5 + [pa.timestamp("us", tz="UTC"), pa.int64()]
    return pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)


@dataclass
class FakeJob:
    rows: pa.Table

    def result(self) -> FakeJob:
        return self

    def to_arrow(self) -> pa.Table:
        return self.rows


@dataclass
class FakeClient:
    """Records what the warehouse asks; knows a few tables."""

    tables: dict[str, list[Any]]
    rows: pa.Table = field(default_factory=_result_rows)
    looked_up: list[str] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)

    def get_table(self, table_id: str) -> Any:
        self.looked_up.append(table_id)
        if table_id not in self.tables:
            raise NotFound(f"Not found: Table {table_id}")
        return SimpleNamespace(schema=self.tables[table_id])

    def query(self, query: str, **kwargs: Any) -> FakeJob:
        self.queries.append({"query": query, **kwargs})
        return FakeJob(self.rows)


def _warehouse(settings: Settings, client: FakeClient, source: str = "ga360") -> Any:
    bq = with_export(settings, warehouse="bigquery", source=source, input=DATASET)
    return open_warehouse(bq.export, bigquery_client=client)


@pytest.mark.parametrize(
    ("source", "table", "schema"),
    [("ga360", "ga_sessions_", GA360_SCHEMA), ("ga4", "events_", GA4_SCHEMA)],
)
def test_query_text_and_job_configuration(
    settings: Settings, source: str, table: str, schema: list[Any]
) -> None:
    client = FakeClient({f"{DATASET}.{table}20261120": schema})
    with _warehouse(settings, client, source) as warehouse:
        assert isinstance(warehouse, BigQueryWarehouse)
        warehouse.interactions(DAY)
    assert client.looked_up == [f"{DATASET}.{table}20261120"]
    (call,) = client.queries
    text = call["query"]
    assert f"FROM `{DATASET}.{table}*` AS " in text
    assert "WHERE _TABLE_SUFFIX = @day" in text
    assert "@sku_regex" in text
    assert "WHEN NOT REGEXP_CONTAINS(item, @item_id_pattern) THEN 'bad_item_id'" in text
    assert "{{" not in text
    for pasted in ("20261120", "2026-11-20", "[^-]"):
        assert pasted not in text
    config = call["job_config"]
    assert isinstance(config, bigquery.QueryJobConfig)
    assert config.use_legacy_sql is False
    assert [p.to_api_repr() for p in config.query_parameters] == [
        {
            "name": "day",
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": "20261120"},
        },
        {
            "name": "sku_regex",
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": settings.export.sku_regex},
        },
        {
            "name": "item_id_pattern",
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": ITEM_ID_PATTERN},
        },
    ]


def test_project_and_location_of_the_job(settings: Settings) -> None:
    client = FakeClient({f"{DATASET}.ga_sessions_20261120": GA360_SCHEMA})
    bq = with_export(
        settings,
        warehouse="bigquery",
        input=DATASET,
        bigquery_project="billing-project",
        bigquery_location="EU",
        sku_regex="",
    )
    with open_warehouse(bq.export, bigquery_client=client) as warehouse:
        warehouse.interactions(DAY)
    (call,) = client.queries
    assert (call["project"], call["location"]) == ("billing-project", "EU")
    regex = call["job_config"].query_parameters[1]
    assert (regex.name, regex.value) == ("sku_regex", None)  # NULL: SKUs kept as they are


def test_rows_that_come_back_are_written_and_counted(settings: Settings) -> None:
    client = FakeClient({f"{DATASET}.ga_sessions_20261120": GA360_SCHEMA})
    events = partitions.events(settings.paths.events_url())
    with _warehouse(settings, client) as warehouse:
        summary = export_range(warehouse, events, [DAY], source="ga360", input_url=DATASET)
    (day,) = summary.days
    assert dict(day.actions) == {"browse": 1, "basket": 1, "purchase": 1}
    assert dict(day.rejected) == {"null_user": 1}
    assert dict(day.ignored) == {"action_type 1": 40, "impression": 7}
    assert (day.users, day.items) == (2, 2)
    assert sorted(events.read(DAY)["item"].to_pylist()) == ["SKU1", "SKU1", "SKU2"]


def test_missing_day_is_named_without_running_a_query(settings: Settings) -> None:
    client = FakeClient({})
    with _warehouse(settings, client) as warehouse, pytest.raises(MissingDataError) as caught:
        warehouse.interactions(DAY)
    assert f"{DATASET}.ga_sessions_20261120 does not exist" in str(caught.value)
    assert "2026-11-20" in str(caught.value)
    assert client.queries == []


def test_table_lacking_a_column_is_named_without_running_a_query(settings: Settings) -> None:
    schema = [f for f in GA360_SCHEMA if f.name != "fullVisitorId"]
    client = FakeClient({f"{DATASET}.ga_sessions_20261120": schema})
    with _warehouse(settings, client) as warehouse, pytest.raises(SchemaError) as caught:
        warehouse.interactions(DAY)
    assert "lacks column(s) fullVisitorId " in str(caught.value)
    assert client.queries == []


@pytest.mark.parametrize(
    "dataset",
    ["my-shop-project", "my-shop-project.ds`; DROP TABLE x; --", "Bad_Project.ds", "p.d.t"],
)
def test_dataset_names_are_checked_before_they_reach_sql(settings: Settings, dataset: str) -> None:
    bq = with_export(settings, warehouse="bigquery", input=dataset)
    with pytest.raises(ConfigError, match="not a BigQuery dataset"):
        open_warehouse(bq.export, bigquery_client=FakeClient({}))


def test_flat_logs_need_duckdb(settings: Settings) -> None:
    bq = with_export(settings, warehouse="bigquery", source="flat", input=DATASET)
    with pytest.raises(ConfigError, match="duckdb"):
        open_warehouse(bq.export, bigquery_client=FakeClient({}))
