"""DuckDB, the embedded warehouse: reads exported GA tables or flat logs from files.

One connection per run (:class:`~dimrec.export.duckdb.session.DuckDBSession`). Rows go
through three steps, each one query of ``queries/``: a reader loads the fields the export
needs into ``source_rows`` (one reader per source and format; flat logs in
:mod:`~dimrec.export.duckdb.flat_log`), ``<source>_interactions`` classifies every row into
``interactions`` (event, rejected or ignored, and why), and ``day_events`` /
``day_outcome_counts`` read a day out.

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

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from dimrec.config import ExportSettings
from dimrec.errors import DataError, DimrecError, MissingDataError, SchemaError
from dimrec.export.base import DayInteractions, Warehouse
from dimrec.export.duckdb.flat_log import load_flat_log
from dimrec.export.duckdb.session import DuckDBSession, first_line
from dimrec.export.schema import (
    DATE_COLUMN,
    missing_in_arrow_schema,
    missing_in_json_structure,
    needed_columns,
    schema_error,
)
from dimrec.export.sources import Format, InputFiles, SourceInput
from dimrec.items import ITEM_ID_PATTERN

log = logging.getLogger(__name__)

_READERS = {"ga360": "ga360_sessions", "ga4": "ga4_events"}


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
    def file_days(self) -> list[dt.date | None]:
        """The day of each file's table (None for all when rows carry their day)."""
        return [table.table_day for table in self.tables for _ in table.files]

    @property
    def daily(self) -> bool:
        return self.tables[0].table_day is not None

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


class DuckDBWarehouse(Warehouse):
    """The embedded warehouse over ``export.input`` (see :mod:`dimrec.export.sources`)."""

    name = "duckdb"

    def __init__(self, export: ExportSettings) -> None:
        self.export = export
        self.source = export.source
        fmt = export.flat.format if export.source == "flat" else "auto"
        self.input = SourceInput(export.input, export.source, fmt)
        self.batch_days = export.threads
        self.session = DuckDBSession(export.threads, self.input.filesystem)
        self._plan: list[dt.date] = []
        self._loaded: _Loaded | None = None

    # ── the protocol ───────────────────────────────────────────────────────────────────
    def plan(self, days: Sequence[dt.date]) -> None:
        self._plan = list(days)

    def interactions(self, day: dt.date) -> DayInteractions:
        loaded = self._loaded_for(day)
        if day in loaded.problems:
            raise loaded.problems[day]
        with self.session.errors(loaded.batch.where):
            events = self.session.arrow("day_events.duckdb.sql", day=day)
            rejected, ignored = self._outcome_counts(day)
        if loaded.unreadable[day]:
            rejected["malformed"] = rejected.get("malformed", 0) + loaded.unreadable[day]
        empty_day = not self.input.daily and day not in loaded.rows
        return DayInteractions(events, rejected, ignored, empty_day=empty_day)

    def undated(self) -> Mapping[str, int]:
        if self._loaded is None or self.input.daily:
            return {}
        return dict(self._loaded.undated)

    def close(self) -> None:
        self.session.close()

    # ── which files ────────────────────────────────────────────────────────────────────
    def _loaded_for(self, day: dt.date) -> _Loaded:
        """The loaded batch holding ``day``, reading it (and the next planned days) first."""
        loaded = self._loaded
        if not self.input.daily:
            if loaded is None:
                loaded = self._loaded = self._load(_Batch((self.input.all_files(),)))
            if day not in loaded.rows and not _within_dates(day, loaded):
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
        with self.session.errors(table.where):
            files = list(table.files)
            schema = self.session.arrow("parquet_schema.duckdb.sql", files=files).schema
        return missing_in_arrow_schema(schema, needed_columns(self.source, with_date=True))

    # ── loading ────────────────────────────────────────────────────────────────────────
    def _load(self, batch: _Batch) -> _Loaded:
        log.debug("reading %d file(s) of %s", len(batch.files), batch.where)
        with self.session.errors(batch.where):
            if self.source == "flat":
                unreadable = load_flat_log(self.session, self.export.flat, batch.tables[0])
            else:
                unreadable = self._load_ga(batch)
                regex = self.export.sku_regex or None
                self.session.execute(
                    f"{self.source}_interactions.duckdb.sql",
                    {"sku_regex": regex, "item_id_pattern": ITEM_ID_PATTERN},
                )
            counts = self.session.rows("source_days.duckdb.sql")
            loaded = _Loaded(batch, {day: rows for day, rows, _ in counts}, unreadable)
            malformed = Counter({day: bad for day, _, bad in counts}) + unreadable
            if batch.daily:
                self._check_each_day(loaded, malformed)
            else:
                self._check_whole_input(loaded, malformed)
        return loaded

    def _load_ga(self, batch: _Batch) -> Counter[dt.date | None]:
        """Load ``source_rows`` from GA360/GA4 tables; return the lines per day that were
        not even text."""
        reader = _READERS[self.source]
        file_days = batch.file_days
        params: dict[str, Any] = {
            "files": batch.files,
            "file_days": file_days if batch.daily else None,
        }
        if batch.format == "parquet":
            if not batch.daily and (missing := self._parquet_missing(batch.tables[0])):
                raise schema_error(missing, batch.where, self.source)
            self.session.execute(f"{reader}_parquet.duckdb.sql", params)
            return Counter()
        try:
            self.session.execute(f"{reader}_ndjson.duckdb.sql", params)
            return Counter()
        except duckdb.InvalidInputException as exc:
            log.warning(
                "%s has lines that are not JSON objects of the expected shape (%s); "
                "reading it line by line to count them",
                batch.where,
                first_line(exc),
            )
        return self.session.read_lines(f"{reader}_lines.duckdb.sql", params, file_days)

    # ── checks ─────────────────────────────────────────────────────────────────────────
    def _check_each_day(self, loaded: _Loaded, malformed: Counter[dt.date | None]) -> None:
        """Per day of daily tables: nothing readable at all, or (JSON) a needed column that
        no row has — kept as that day's problem."""
        totals = {
            day: (events, timed)
            for day, events, timed in self.session.rows("interaction_totals.duckdb.sql")
        }
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
        totals = self.session.rows("interaction_totals.duckdb.sql")
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
        (structure,) = self.session.row("json_structure.duckdb.sql", files=list(table.files))
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
        for outcome, reason, rows in self.session.rows("day_outcome_counts.duckdb.sql", day=day):
            counts[outcome][reason] = int(rows)
        return counts["rejected"], counts["ignored"]


def _within_dates(day: dt.date, loaded: _Loaded) -> bool:
    """Whether ``day`` lies between the first and the last day a many-day input holds rows
    for: a day in between without a row is an empty day (a closed shop), not missing data."""
    dated = [d for d in loaded.rows if d is not None]
    return bool(dated) and min(dated) <= day <= max(dated)


def _all_malformed(where: str, lines: int) -> DataError:
    return DataError(
        f"no line of {where} is a readable row ({lines} malformed): is it newline-delimited "
        "JSON (or the format its name says)?"
    )
