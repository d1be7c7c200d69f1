"""Warehouses by name: the one module that knows every warehouse backend.

``open_warehouse(settings.export)`` returns the warehouse ``export.warehouse`` names: the
embedded DuckDB one (files) or BigQuery (its client library, the ``bigquery`` extra, loads
only then). The contract they follow is :class:`dimrec.export.base.Warehouse`.
"""

from __future__ import annotations

from typing import Any

from dimrec.config import ExportSettings
from dimrec.errors import ConfigError
from dimrec.export.base import Warehouse


def open_warehouse(export: ExportSettings, *, bigquery_client: Any = None) -> Warehouse:
    """The warehouse ``export.warehouse`` names, set up for ``export.source``/``input``."""
    if export.warehouse == "bigquery":
        from dimrec.export.bigquery import BigQueryWarehouse

        if export.source == "flat":
            raise ConfigError(
                "export.source = 'flat' reads files and needs export.warehouse = 'duckdb'"
            )
        return BigQueryWarehouse(export, client=bigquery_client)
    from dimrec.export.duckdb.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(export)
