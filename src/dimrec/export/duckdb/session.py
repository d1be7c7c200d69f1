"""One DuckDB connection of the export, and the few ways the export talks to it.

Every statement comes from ``queries/`` (:mod:`dimrec.export.sql`) with bound parameters;
DuckDB's own errors come out as dimrec errors that name the input (:meth:`errors`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from dimrec.errors import DataError, DimrecError, SchemaError, WarehouseError
from dimrec.export import sql


class DuckDBSession:
    """An in-memory DuckDB with ``threads`` threads, times in UTC, and (for URLs other than
    local paths) the input's fsspec filesystem registered."""

    def __init__(self, threads: int, filesystem: Any = None) -> None:
        self.con = duckdb.connect(":memory:", config={"threads": threads})
        self.con.execute("SET TimeZone = 'UTC'")
        if filesystem is not None:
            self.con.register_filesystem(filesystem)

    def execute(self, name: str, params: dict[str, Any] | None = None) -> None:
        """Run the statement of ``queries/<name>``."""
        self.con.execute(sql.load(name), params or {})

    def execute_text(self, text: str, params: dict[str, Any]) -> None:
        """Run a statement made by :func:`dimrec.export.sql.render`."""
        self.con.execute(text, params)

    def rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.con.execute(sql.load(name), params or None).fetchall()

    def row(self, name: str, **params: Any) -> tuple[Any, ...]:
        rows = self.rows(name, **params)
        assert len(rows) == 1, f"{name} returns one row"
        return rows[0]

    def arrow(self, name: str, **params: Any) -> pa.Table:
        table: pa.Table = self.con.sql(sql.load(name), params=params or None).to_arrow_table()
        return table

    def read_lines(
        self, reader: str, params: dict[str, Any], file_days: Sequence[dt.date | None]
    ) -> Counter[dt.date | None]:
        """Run a line-by-line reader; return the lines it could not take as text (not UTF-8,
        too long) per day of their file (``file_days`` in the order of ``params["files"]``)."""
        self.forget_rejected_lines()
        self.execute(reader, params)
        return self.rejected_lines(params["files"], file_days)

    def forget_rejected_lines(self) -> None:
        self.execute("drop_rejected_lines.duckdb.sql")
        self.execute("drop_rejected_scans.duckdb.sql")

    def rejected_lines(
        self, files: Sequence[str], file_days: Sequence[dt.date | None]
    ) -> Counter[dt.date | None]:
        """Lines the last read rejected, per day of their file."""
        try:
            by_file = dict(self.rows("rejected_lines_by_file.duckdb.sql"))
        except duckdb.CatalogException:  # no line was rejected, so no table was made
            return Counter()
        per_day: Counter[dt.date | None] = Counter()
        for path, day in zip(files, file_days, strict=True):
            per_day[day] += int(by_file.get(path, 0))
        return +per_day

    def close(self) -> None:
        self.con.close()

    @contextlib.contextmanager
    def errors(self, where: str) -> Iterator[None]:
        """DuckDB's errors, said in terms of the input ``where``."""
        try:
            yield
        except DimrecError:
            raise
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise DataError(f"cannot read {where}: {first_line(exc)}") from None
        except duckdb.ConversionException as exc:
            raise DataError(f"unexpected values in {where}: {first_line(exc)}") from None
        except duckdb.BinderException as exc:
            raise SchemaError(f"{where} does not fit: {first_line(exc)}") from None
        except duckdb.Error as exc:
            raise WarehouseError(f"DuckDB failed on {where}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
