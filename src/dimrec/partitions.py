"""Day-partitioned Parquet datasets: ``<root>/date=YYYY-MM-DD/part-0.parquet``.

The export stage writes ``events`` and the prepare stage ``profiles`` in this layout; a day is
one file, replaced atomically, so a re-run replaces a day whole and a crash halfway leaves
the previous day intact and readable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping

import pyarrow as pa

from dimrec.errors import DataError, MissingDataError, SchemaError
from dimrec.fsio import atomic_write_table, join, read_parquet, read_parquet_metadata, url_to_fs

PART_FILE = "part-0.parquet"
_DAY_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})$")

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("user", pa.string(), nullable=False),
        pa.field("item", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
    ]
)
#: The events files: EVENTS_SCHEMA and each event's ``weight``, which multiplies its
#: action's weight in the profile (a quantity from a flat log's weight column); null means
#: 1, one unit. Files written before the column existed read it as null.
EVENT_FILE_SCHEMA = EVENTS_SCHEMA.append(pa.field("weight", pa.float64()))
#: Columns a table may lack: they are written (and read) as nulls.
OPTIONAL_COLUMNS = frozenset({"weight"})
PROFILES_SCHEMA = pa.schema(
    [
        pa.field("user", pa.string(), nullable=False),
        pa.field("item", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
    ]
)


class DayPartitions:
    """A dataset of one Parquet file per day under an fsspec ``url``."""

    def __init__(self, url: str, schema: pa.Schema, name: str, remedy: str) -> None:
        self.url = url.rstrip("/")
        self.schema = schema
        self.name = name
        self.remedy = remedy
        """What makes a day's file again, with ``{day}`` for the day (for messages)."""
        self.fs, self.root = url_to_fs(self.url)

    def path(self, day: dt.date) -> str:
        return join(self.root, f"date={day.isoformat()}", PART_FILE)

    def exists(self, day: dt.date) -> bool:
        return bool(self.fs.exists(self.path(day)))

    def days(self) -> list[dt.date]:
        """Every day that has a complete partition, oldest first."""
        if not self.fs.exists(self.root):
            return []
        found = []
        for entry in self.fs.ls(self.root, detail=False):
            match = _DAY_DIR.search(entry.rstrip("/"))
            if match:
                day = dt.date.fromisoformat(match.group(1))
                if self.exists(day):
                    found.append(day)
        return sorted(found)

    def missing(self, days: Iterable[dt.date]) -> list[dt.date]:
        return [day for day in days if not self.exists(day)]

    def write(
        self, day: dt.date, table: pa.Table, metadata: Mapping[bytes, bytes] | None = None
    ) -> None:
        """Replace the day's partition with ``table`` (cast to the dataset schema), atomically;
        ``metadata`` goes into the file's key-value metadata, in the same write."""
        table = with_optional_columns(table, self.schema)
        missing = [f.name for f in self.schema if f.name not in table.column_names]
        if missing:
            raise SchemaError(f"{self.name} for {day} lack column(s) {', '.join(missing)}")
        table = table.select(self.schema.names).cast(self.schema)
        if metadata:
            table = table.replace_schema_metadata(dict(metadata))
        atomic_write_table(self.fs, self.path(day), table)

    def read(self, day: dt.date) -> pa.Table:
        """The day's table; MissingDataError when absent, DataError when unreadable."""
        path = self.path(day)
        if not self.fs.exists(path):
            raise MissingDataError(f"no {self.name} for {day.isoformat()} (expected {path})")
        with self._unreadable(day):
            return read_parquet(self.fs, path, schema=self.schema)

    def metadata(self, day: dt.date) -> dict[bytes, bytes]:
        """The key-value metadata of the day's file (read from its footer only)."""
        with self._unreadable(day):
            return dict(read_parquet_metadata(self.fs, self.path(day)).metadata or {})

    def rows(self, day: dt.date) -> int:
        """How many rows the day's file holds (read from its footer only)."""
        with self._unreadable(day):
            return int(read_parquet_metadata(self.fs, self.path(day)).num_rows)

    @contextlib.contextmanager
    def _unreadable(self, day: dt.date) -> Iterator[None]:
        try:
            yield
        except DataError as exc:
            remedy = self.remedy.format(day=day.isoformat())
            raise DataError(f"{self.name} for {day.isoformat()}: {exc}; {remedy}") from exc

    def read_many(self, days: Iterable[dt.date]) -> pa.Table:
        tables = [self.read(day) for day in days]
        if not tables:
            return self.schema.empty_table()
        return pa.concat_tables(tables)


def with_optional_columns(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with a null column for each of ``schema``'s optional columns it lacks."""
    for field in schema:
        if field.name in OPTIONAL_COLUMNS and field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def events(url: str) -> DayPartitions:
    return DayPartitions(
        url, EVENT_FILE_SCHEMA, "events", "export the day again (`dimrec export --date {day}`)"
    )


def profiles(url: str) -> DayPartitions:
    return DayPartitions(
        url,
        PROFILES_SCHEMA,
        "profiles",
        "prepare the day again (`dimrec prepare --force --date {day}`)",
    )
