"""DuckDB, the embedded warehouse: reads exported GA tables or flat logs from files.

One connection per run. Rows go through three steps, each one query of ``queries/``: a
reader loads the fields the export needs into ``source_rows`` (one reader per source and
format), ``<source>_interactions`` classifies every row into ``interactions`` (event,
rejected or ignored, and why), and ``day_events`` / ``day_outcome_counts`` read a day out.

A folder of daily tables is read a few days at a time (as many as DuckDB has threads, from
the days the run will ask for, see :meth:`DuckDBWarehouse.plan`), so that DuckDB
decompresses and parses several tables at once; a problem found in one day's table is kept
for that day and raised when the day is asked for. A file or glob whose rows carry their
day is read once per run.

Newline-delimited JSON is first read by DuckDB's JSON reader; if that stops at a line that
is not a JSON object of the expected shape, the files are read again line by line so that
every such line is counted (reason ``malformed``), never dropped unseen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from dimrec.config import ExportSettings
from dimrec.errors import DataError, DimrecError, MissingDataError, SchemaError, WarehouseError
from dimrec.export import sql
from dimrec.export.schema import (
    DATE_COLUMN,
    missing_in_arrow_schema,
    missing_in_json_structure,
    needed_columns,
    schema_error,
)
from dimrec.export.sources import Format, InputFiles, SourceInput
from dimrec.export.warehouse import DayInteractions

log = logging.getLogger(__name__)

_READERS = {"ga360": "ga360_sessions", "ga4": "ga4_events"}
_FLAT_KEYS = ("user", "item", "event", "ts", "date")


@dataclass(frozen=True)
class _Batch:
    """Files read in one go: one day's table or several, or a whole many-day input."""

    tables: tuple[InputFiles, ...]

    @property
    def format(self) -> Format:
        return self.tables[0].format

    @property
    def files(self) -> list[str]:
        return [path for table in self.tables for path in table.files]

    @property
    def file_days(self) -> list[dt.date | None] | None:
        """The day of each file, or None when rows carry their day."""
        if self.tables[0].table_day is None:
            return None
        return [table.table_day for table in self.tables for _ in table.files]

    @property
    def where(self) -> str:
        return ", ".join(table.where for table in self.tables)


@dataclass
class _Loaded:
    """What the current contents of ``interactions`` came from."""

    batch: _Batch
    rows: dict[dt.date | None, int]
    """Well-formed source rows per day (None: rows whose day could not be read)."""
    unreadable: Counter[dt.date | None] = field(default_factory=Counter)
    """Lines per day that were not even text (counted apart from ``interactions``)."""
    problems: dict[dt.date, DimrecError] = field(default_factory=dict)
    """A day's own error, raised when the day is asked for."""
    undated: Counter[str] = field(default_factory=Counter)


class DuckDBWarehouse:
    """The embedded warehouse over ``export.input`` (see :mod:`dimrec.export.sources`)."""

    name = "duckdb"

    def __init__(self, export: ExportSettings) -> None:
        self.export = export
        self.source = export.source
        fmt = export.flat.format if export.source == "flat" else "auto"
        self.input = SourceInput(export.input, export.source, fmt)
        self.batch_days = export.threads
        self._con = duckdb.connect(":memory:", config={"threads": export.threads})
        self._con.execute("SET TimeZone = 'UTC'")
        if self.input.filesystem is not None:
            self._con.register_filesystem(self.input.filesystem)
        self._plan: list[dt.date] = []
        self._loaded: _Loaded | None = None

    # ── the protocol ───────────────────────────────────────────────────────────────────
    def plan(self, days: Sequence[dt.date]) -> None:
        self._plan = list(days)

    def interactions(self, day: dt.date) -> DayInteractions:
        loaded = self._loaded_for(day)
        if day in loaded.problems:
            raise loaded.problems[day]
        with self._errors(loaded.batch.where):
            events = self._arrow("day_events.duckdb.sql", day=day)
            rejected, ignored = self._outcome_counts(day)
        if loaded.unreadable[day]:
            rejected["malformed"] = rejected.get("malformed", 0) + loaded.unreadable[day]
        return DayInteractions(events, rejected, ignored)

    def undated(self) -> Mapping[str, int]:
        if self._loaded is None or self.input.daily:
            return {}
        return dict(self._loaded.undated)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ── which files ────────────────────────────────────────────────────────────────────
    def _loaded_for(self, day: dt.date) -> _Loaded:
        """The loaded batch holding ``day``, reading it (and the next planned days) first."""
        loaded = self._loaded
        if not self.input.daily:
            if loaded is None:
                loaded = self._loaded = self._load(_Batch((self.input.all_files(),)))
            if day not in loaded.rows:
                raise MissingDataError(self._no_rows_message(day, loaded))
            return loaded
        if loaded is not None and (day in loaded.rows or day in loaded.problems):
            return loaded
        self._loaded = None  # free the previous batch before reading the next
        tables = [self.input.day_table(day)]  # MissingDataError: this day has no table
        problems: dict[dt.date, DimrecError] = {}
        for later in self._upcoming(day):
            try:
                table = self.input.day_table(later)
            except DimrecError:
                continue  # said when that day is asked for
            if table.format == tables[0].format:
                tables.append(table)
        if tables[0].format == "parquet":  # a table lacking a column would fail the batch
            for table in list(tables):
                missing = self._parquet_missing(table)
                if missing and table.table_day is not None:
                    problems[table.table_day] = schema_error(missing, table.where, self.source)
                    tables.remove(table)
            if not tables:
                raise problems[day]
        loaded = self._loaded = self._load(_Batch(tuple(tables)))
        loaded.problems.update(problems)
        return loaded

    def _upcoming(self, day: dt.date) -> list[dt.date]:
        """The planned days right after ``day`` that one batch can take with it."""
        if day not in self._plan:
            return []
        position = self._plan.index(day)
        return self._plan[position + 1 : position + self.batch_days]

    def _parquet_missing(self, table: InputFiles) -> list[str]:
        """The needed columns that a Parquet table lacks."""
        with self._errors(table.where):
            schema = self._arrow("parquet_schema.duckdb.sql", files=list(table.files)).schema
        return missing_in_arrow_schema(schema, needed_columns(self.source, with_date=True))

    # ── loading ────────────────────────────────────────────────────────────────────────
    def _load(self, batch: _Batch) -> _Loaded:
        log.debug("reading %d file(s) of %s", len(batch.files), batch.where)
        with self._errors(batch.where):
            if self.source == "flat":
                unreadable = self._load_flat(batch.tables[0])
            else:
                unreadable = self._load_ga(batch)
                regex = self.export.sku_regex or None
                self._execute(f"{self.source}_interactions.duckdb.sql", {"sku_regex": regex})
            counts = self._rows("source_days.duckdb.sql")
            loaded = _Loaded(batch, {day: rows for day, rows, _ in counts}, unreadable)
            malformed = Counter({day: bad for day, _, bad in counts}) + unreadable
            if batch.file_days is None:
                self._check_whole_input(loaded, malformed)
            else:
                self._check_each_day(loaded, malformed)
        return loaded

    def _load_ga(self, batch: _Batch) -> Counter[dt.date | None]:
        """Load ``source_rows`` from GA360/GA4 tables; return the lines per day that were
        not even text."""
        reader = _READERS[self.source]
        params: dict[str, Any] = {"files": batch.files, "file_days": batch.file_days}
        if batch.format == "parquet":
            if batch.file_days is None and (missing := self._parquet_missing(batch.tables[0])):
                raise schema_error(missing, batch.where, self.source)
            self._execute(f"{reader}_parquet.duckdb.sql", params)
            return Counter()
        try:
            self._execute(f"{reader}_ndjson.duckdb.sql", params)
            return Counter()
        except duckdb.InvalidInputException as exc:
            log.warning(
                "%s has lines that are not JSON objects of the expected shape (%s); "
                "reading it line by line to count them",
                batch.where,
                _first_line(exc),
            )
        return self._read_lines(f"{reader}_lines.duckdb.sql", params, batch)

    def _load_flat(self, table: InputFiles) -> Counter[dt.date | None]:
        """Load ``source_rows`` from a flat event log; return the lines that were not even
        text (they have no day)."""
        flat = self.export.flat
        names = {
            "user": flat.user_column,
            "item": flat.item_column,
            "event": flat.event_column,
            "ts": flat.ts_column or None,
            "date": flat.date_column or None,
        }
        identifiers = {
            key: sql.column(name, f"export.flat.{key}_column") if name else sql.NULL
            for key, name in names.items()
        }
        files = list(table.files)
        unreadable: Counter[dt.date | None] = Counter()
        if table.format == "ndjson":
            paths = {key: f"$.{identifiers[key]}" if names[key] else None for key in _FLAT_KEYS}
            params = {"files": files, **paths}
            unreadable = self._read_lines("flat_rows_lines.duckdb.sql", params, _Batch((table,)))
            wellformed, *per_key = self._row("flat_column_counts.duckdb.sql")
            absent = [
                str(names[key])
                for key, n in zip(_FLAT_KEYS, per_key, strict=True)
                if names[key] and wellformed and n == 0
            ]
            if absent:
                raise SchemaError(
                    f"{table.where} has no column {', '.join(absent)}: no row gives it a "
                    "value; set the export.flat.*_column settings to the log's field names"
                )
        else:
            present = self._arrow(f"{table.format}_schema.duckdb.sql", files=files)
            have = {name.lower() for name in present.column_names}
            absent = [str(n) for n in names.values() if n and n.lower() not in have]
            if absent:
                raise SchemaError(
                    f"{table.where} lacks column(s) {', '.join(absent)} (it has "
                    f"{', '.join(present.column_names)}); set the export.flat.*_column "
                    "settings to the log's column names"
                )
            reader = sql.render(f"flat_rows_{table.format}.duckdb.sql", **identifiers)
            self._drop_rejected_lines()
            self._con.execute(reader, {"files": files})
            if table.format == "csv":
                unreadable = self._unreadable_lines(_Batch((table,)))
        self._execute(
            "flat_source_rows.duckdb.sql",
            {"ts_unit": flat.ts_unit, "has_date": names["date"] is not None},
        )
        thresholds = flat.action_thresholds
        self._execute(
            "flat_interactions.duckdb.sql",
            {
                "event_names": list(flat.events),
                "actions": list(flat.events.values()),
                "use_thresholds": bool(thresholds),
                "purchase_min": thresholds.get("purchase"),
                "basket_min": thresholds.get("basket"),
                "browse_min": thresholds.get("browse"),
            },
        )
        return unreadable

    def _read_lines(
        self, reader: str, params: dict[str, Any], batch: _Batch
    ) -> Counter[dt.date | None]:
        self._drop_rejected_lines()
        self._execute(reader, params)
        return self._unreadable_lines(batch)

    def _unreadable_lines(self, batch: _Batch) -> Counter[dt.date | None]:
        """Lines the last read rejected as text, per day of their file."""
        try:
            by_file = dict(self._rows("rejected_lines_by_file.duckdb.sql"))
        except duckdb.CatalogException:  # no line was rejected, so no table was made
            return Counter()
        days = batch.file_days or [None] * len(batch.files)
        per_day: Counter[dt.date | None] = Counter()
        for path, day in zip(batch.files, days, strict=True):
            per_day[day] += int(by_file.get(path, 0))
        return +per_day

    # ── checks ─────────────────────────────────────────────────────────────────────────
    def _check_each_day(self, loaded: _Loaded, malformed: Counter[dt.date | None]) -> None:
        """Per day of daily tables: nothing readable at all, or (JSON) a needed column that
        no row has — kept as that day's problem."""
        totals = {day: (events, timed) for day, events, timed in self._rows(
            "interaction_totals.duckdb.sql")}  # fmt: skip
        for table in loaded.batch.tables:
            day = table.table_day
            assert day is not None
            if not loaded.rows.get(day) and malformed[day]:
                loaded.problems[day] = _all_malformed(table.where, malformed[day])
            elif loaded.rows.get(day) and table.format == "ndjson":
                events, timed = totals.get(day, (0, 0))
                if not (events and timed):
                    problem = self._json_columns_problem(table, with_date=False)
                    if problem is not None:
                        loaded.problems[day] = problem
            loaded.rows.setdefault(day, 0)  # an empty table is a day with no rows

    def _check_whole_input(self, loaded: _Loaded, malformed: Counter[dt.date | None]) -> None:
        """For a many-day input: nothing readable at all, or (JSON) a needed column or the
        date field that no row has — raised at once, as it concerns every day."""
        table = loaded.batch.tables[0]
        total_malformed = sum(malformed.values())
        if not sum(loaded.rows.values()) and total_malformed:
            raise _all_malformed(table.where, total_malformed)
        undated: Counter[str] = Counter(self._outcome_counts(None)[0])
        undated["malformed"] += loaded.unreadable[None]
        loaded.undated = +undated
        if self.source == "flat" or table.format != "ndjson" or not loaded.rows:
            return
        totals = self._rows("interaction_totals.duckdb.sql")
        events = sum(row[1] for row in totals)
        timed = sum(row[2] for row in totals)
        if events and timed and set(loaded.rows) != {None}:
            return
        problem = self._json_columns_problem(table, with_date=True)
        if problem is not None:
            raise problem

    def _json_columns_problem(self, table: InputFiles, *, with_date: bool) -> SchemaError | None:
        """Look at the structure of every row of ``table`` and name the needed columns that
        never occur (run only when the rows look like one is missing)."""
        (structure,) = self._row("json_structure.duckdb.sql", files=list(table.files))
        parsed = json.loads(structure) if structure else None
        missing = missing_in_json_structure(
            parsed, needed_columns(self.source, with_date=with_date)
        )
        return schema_error(missing, table.where, self.source) if missing else None

    def _no_rows_message(self, day: dt.date, loaded: _Loaded) -> str:
        dated = sorted(d for d in loaded.rows if d is not None)
        field_name = DATE_COLUMN.get(self.source, self.export.flat.date_column or "timestamp")
        held = f"it holds {dated[0]} to {dated[-1]}" if dated else "it holds no dated rows"
        undated = loaded.rows.get(None, 0)
        extra = f"; {undated} row(s) have no readable {field_name}" if undated else ""
        return (
            f"no {self.source} rows for {day.isoformat()} in {loaded.batch.where} "
            f"(rows are matched on {field_name}; {held}{extra})"
        )

    # ── plumbing ───────────────────────────────────────────────────────────────────────
    def _outcome_counts(self, day: dt.date | None) -> tuple[dict[str, int], dict[str, int]]:
        counts: dict[str, dict[str, int]] = {"rejected": {}, "ignored": {}}
        for outcome, reason, rows in self._rows("day_outcome_counts.duckdb.sql", day=day):
            counts[outcome][reason] = int(rows)
        return counts["rejected"], counts["ignored"]

    def _drop_rejected_lines(self) -> None:
        self._execute("drop_rejected_lines.duckdb.sql", {})
        self._execute("drop_rejected_scans.duckdb.sql", {})

    def _execute(self, name: str, params: dict[str, Any]) -> None:
        self._con.execute(sql.load(name), params)

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return self._con.execute(sql.load(name), params or None).fetchall()

    def _row(self, name: str, **params: Any) -> tuple[Any, ...]:
        rows = self._rows(name, **params)
        assert len(rows) == 1, f"{name} returns one row"
        return rows[0]

    def _arrow(self, name: str, **params: Any) -> pa.Table:
        table: pa.Table = self._con.sql(sql.load(name), params=params or None).to_arrow_table()
        return table

    @contextlib.contextmanager
    def _errors(self, where: str) -> Iterator[None]:
        """DuckDB's errors, said in terms of the input."""
        try:
            yield
        except DimrecError:
            raise
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise DataError(f"cannot read {where}: {_first_line(exc)}") from None
        except duckdb.ConversionException as exc:
            raise DataError(f"unexpected values in {where}: {_first_line(exc)}") from None
        except duckdb.BinderException as exc:
            raise SchemaError(f"{where} does not fit: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise WarehouseError(f"DuckDB failed on {where}: {_first_line(exc)}") from None


def _all_malformed(where: str, lines: int) -> DataError:
    return DataError(
        f"no line of {where} is a readable row ({lines} malformed): is it newline-delimited "
        "JSON (or the format its name says)?"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
