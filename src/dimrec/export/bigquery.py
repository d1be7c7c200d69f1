"""BigQuery: queries the GA360 / GA4 export tables where they are.

``export.input`` is ``project.dataset`` holding the daily ``ga_sessions_YYYYMMDD`` or
``events_YYYYMMDD`` tables. A day is one query over ```project.dataset.<prefix>*``` with
``_TABLE_SUFFIX = @day``: the day and the SKU regex travel as query parameters, and the
table path, checked against a strict pattern, is the only text put into the SQL. Before the
query, the day's table is looked up, so a missing day or a table lacking a needed column is
a clear error rather than an empty result.

``google-cloud-bigquery`` (the ``bigquery`` extra) is imported only when a client is made;
tests hand in a client of their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from dimrec import dates
from dimrec.config import ExportSettings
from dimrec.errors import ConfigError, MissingDataError, WarehouseError
from dimrec.export import sql
from dimrec.export.base import DayInteractions, Warehouse, split_interactions
from dimrec.export.schema import missing_in_bigquery_schema, needed_columns, schema_error
from dimrec.export.sources import TABLE_PREFIXES
from dimrec.items import ITEM_ID_PATTERN

log = logging.getLogger(__name__)


def _bigquery() -> Any:
    try:
        from google.cloud import bigquery
    except ImportError:  # pragma: no cover - the dev environment has it
        raise ConfigError(
            "export.warehouse = 'bigquery' needs google-cloud-bigquery: "
            "install dimrec with the bigquery extra (uv sync --extra bigquery)"
        ) from None
    return bigquery


class BigQueryWarehouse(Warehouse):
    """GA export tables in BigQuery; ``client`` defaults to ``bigquery.Client``."""

    name = "bigquery"

    def __init__(self, export: ExportSettings, *, client: Any = None) -> None:
        if export.source not in TABLE_PREFIXES:
            raise ConfigError(f"BigQuery reads ga360 or ga4 tables, not {export.source!r}")
        self.export = export
        self.source = export.source
        self.prefix = TABLE_PREFIXES[export.source]
        self.tables = sql.bigquery_tables(export.input, self.prefix)
        self.dataset = export.input
        self.query_text = sql.render(f"{self.source}_interactions.bigquery.sql", tables=self.tables)
        self._bq = _bigquery()
        self.client = client if client is not None else self._make_client()

    def _make_client(self) -> Any:
        try:
            return self._bq.Client(
                project=self.export.bigquery_project, location=self.export.bigquery_location
            )
        except Exception as exc:  # credentials, project: google.auth raises its own kinds
            raise WarehouseError(f"cannot open a BigQuery client: {exc}") from None

    def job_config(self, day: dt.date) -> Any:
        """The query's configuration: standard SQL, the day and SKU regex as parameters."""
        bq = self._bq
        return bq.QueryJobConfig(
            query_parameters=[
                bq.ScalarQueryParameter("day", "STRING", dates.compact(day)),
                bq.ScalarQueryParameter("sku_regex", "STRING", self.export.sku_regex or None),
                bq.ScalarQueryParameter("item_id_pattern", "STRING", ITEM_ID_PATTERN),
            ],
            use_legacy_sql=False,
            labels={"dimrec_stage": "export", "dimrec_source": self.source},
        )

    def table_id(self, day: dt.date) -> str:
        return f"{self.dataset}.{self.prefix}{dates.compact(day)}"

    def interactions(self, day: dt.date) -> DayInteractions:
        from google.api_core import exceptions as google_errors

        table_id = self.table_id(day)
        try:
            table = self.client.get_table(table_id)
        except google_errors.NotFound:
            raise MissingDataError(
                f"no {self.source} table for {day.isoformat()}: {table_id} does not exist"
            ) from None
        except google_errors.GoogleAPIError as exc:
            raise WarehouseError(f"BigQuery: cannot look up {table_id}: {exc}") from None
        missing = missing_in_bigquery_schema(
            table.schema, needed_columns(self.source, with_date=False)
        )
        if missing:
            raise schema_error(missing, table_id, self.source)
        try:
            job = self.client.query(
                self.query_text,
                job_config=self.job_config(day),
                project=self.export.bigquery_project,
                location=self.export.bigquery_location,
            )
            rows = job.result().to_arrow()
        except google_errors.GoogleAPIError as exc:
            raise WarehouseError(f"BigQuery query on {table_id} failed: {exc}") from None
        log.info("BigQuery read %s (%d rows)", table_id, rows.num_rows)
        return split_interactions(rows)

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()
