"""The export stage: one day of shopper interactions out of the warehouse into
``events/date=YYYY-MM-DD/`` (user, item, action, ts).

* :mod:`~dimrec.export.base` — the Warehouse contract; :mod:`~dimrec.export.warehouses` —
  :func:`open_warehouse`, the one module that knows the backends: :mod:`~dimrec.export.duckdb`
  (files, embedded) and :mod:`~dimrec.export.bigquery` (GA export tables in place).
* :mod:`~dimrec.export.sources` — which files hold a day; :mod:`~dimrec.export.schema` —
  the columns each source needs; :mod:`~dimrec.export.sql` — the queries of ``queries/``.
* :mod:`~dimrec.export.exporter` — write days; :mod:`~dimrec.export.summary` — what a run did.
"""

from dimrec.export.base import DayInteractions, Warehouse
from dimrec.export.exporter import DayGuard, export_day, export_range
from dimrec.export.summary import DayExport, ExportSummary, MissingDay
from dimrec.export.warehouses import open_warehouse

__all__ = [
    "DayExport",
    "DayGuard",
    "DayInteractions",
    "ExportSummary",
    "MissingDay",
    "Warehouse",
    "export_day",
    "export_range",
    "open_warehouse",
]
