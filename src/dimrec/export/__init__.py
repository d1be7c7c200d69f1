"""The export stage: one day of shopper interactions out of the warehouse into
``events/date=YYYY-MM-DD/`` (user, item, action, ts).

* :mod:`~dimrec.export.warehouse` — the Warehouse protocol and :func:`open_warehouse`;
  :mod:`~dimrec.export.duckdb_warehouse` (files, embedded; its connection in
  :mod:`~dimrec.export.duckdb_session`, flat logs in :mod:`~dimrec.export.flat_log`) and
  :mod:`~dimrec.export.bigquery_warehouse` (GA export tables in place).
* :mod:`~dimrec.export.sources` — which files hold a day; :mod:`~dimrec.export.schema` —
  the columns each source needs; :mod:`~dimrec.export.sql` — the queries of ``queries/``.
* :mod:`~dimrec.export.exporter` — write days; :mod:`~dimrec.export.summary` — what a run did.
"""

from dimrec.export.exporter import export_day, export_range
from dimrec.export.summary import DayExport, ExportSummary, MissingDay
from dimrec.export.warehouse import DayInteractions, Warehouse, open_warehouse

__all__ = [
    "DayExport",
    "DayInteractions",
    "ExportSummary",
    "MissingDay",
    "Warehouse",
    "export_day",
    "export_range",
    "open_warehouse",
]
