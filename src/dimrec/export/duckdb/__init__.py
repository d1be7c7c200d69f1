"""The embedded warehouse: DuckDB over files (daily GA exports or flat event logs).

:class:`~dimrec.export.duckdb.warehouse.DuckDBWarehouse` follows the warehouse contract of
:mod:`dimrec.export.base`; its connection is :mod:`~dimrec.export.duckdb.session`, the flat
logs' loader :mod:`~dimrec.export.duckdb.flat_log`.
"""
