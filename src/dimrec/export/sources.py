"""Where a day's source rows live on the DuckDB side: the input files of a run.

``export.input`` is an fsspec URL (local path, memory://, gs://, s3://) naming either
  * a folder of daily tables as BigQuery exports them — ``ga_sessions_YYYYMMDD*`` (GA360)
    or ``events_YYYYMMDD*`` (GA4), as .json, .ndjson, .jsonl (each optionally .gz) or
    .parquet, sharded or not (``ga_sessions_20161201-000000000000.json.gz``); a day is its
    table's files and every row in them belongs to it; or
  * a file, a folder (flat logs) or a glob whose rows carry their day (the ``date`` /
    ``event_date`` field, or the flat log's date or timestamp column).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from fsspec.implementations.local import LocalFileSystem

from dimrec import dates
from dimrec.errors import DataError, MissingDataError
from dimrec.fsio import url_to_fs

Format = Literal["ndjson", "parquet", "csv"]

_EXTENSIONS: dict[str, Format] = {
    ".json": "ndjson",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
}
_COMPRESSED = (".gz", ".zst")
TABLE_PREFIXES = {"ga360": "ga_sessions_", "ga4": "events_"}


def split_extension(name: str) -> tuple[str, Format | None]:
    """``ga_sessions_20261120.json.gz`` → (``ga_sessions_20261120``, ``"ndjson"``)."""
    stem = name
    for suffix in _COMPRESSED:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for extension, fmt in _EXTENSIONS.items():
        if stem.endswith(extension) and not (fmt == "parquet" and stem != name):
            return stem[: -len(extension)], fmt
    return stem, None


@dataclass(frozen=True)
class InputFiles:
    """Files DuckDB reads in one go, all of one format."""

    files: tuple[str, ...]
    """Paths (local) or URLs (other filesystems) as DuckDB opens them."""
    format: Format
    table_day: dt.date | None
    """The day of a daily table (every row is that day's); None when rows carry their day."""
    where: str
    """What was read, for messages."""


class SourceInput:
    """The input of a source: a folder of daily tables, or files whose rows carry the day."""

    def __init__(self, url: str, source: str, format_override: str = "auto") -> None:
        self.url = url
        self.source = source
        self.fs, self.path = url_to_fs(url)
        self.format_override = format_override
        self.prefix = TABLE_PREFIXES.get(source)
        self.daily = self.prefix is not None and bool(self.fs.isdir(self.path))

    @property
    def local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @property
    def filesystem(self) -> Any:
        """The fsspec filesystem to register with DuckDB, or None for local files."""
        return None if self.local else self.fs

    def _as_duckdb_path(self, path: str) -> str:
        return path if self.local else str(self.fs.unstrip_protocol(path))

    def day_table(self, day: dt.date) -> InputFiles:
        """The files of ``day``'s table in a folder of daily tables."""
        assert self.prefix is not None
        assert self.daily
        table = f"{self.prefix}{dates.compact(day)}"
        shard = re.compile(rf"^{re.escape(table)}(?:[-_.][A-Za-z0-9]+)*$")
        found: dict[str, Format] = {}
        for entry in sorted(self.fs.ls(self.path, detail=False)):
            stem, fmt = split_extension(entry.rstrip("/").rpartition("/")[2])
            if fmt in ("ndjson", "parquet") and shard.match(stem):
                found[entry] = fmt
        where = f"{self.url.rstrip('/')}/{table}*"
        if not found:
            raise MissingDataError(
                f"no {self.source} table for {day.isoformat()}: nothing matches {where} "
                "(.json, .ndjson, .jsonl, optionally .gz, or .parquet); for files whose rows "
                "carry their date, give the file or a glob as the input instead of a folder"
            )
        return InputFiles(
            tuple(self._as_duckdb_path(p) for p in found), _one_format(found, where), day, where
        )

    def all_files(self) -> InputFiles:
        """Every file of a file, glob or (flat logs) folder input; rows carry their day."""
        if self.fs.isdir(self.path):
            paths = [p for p in sorted(self.fs.find(self.path)) if self._format_of(p)]
        elif any(ch in self.path for ch in "*?["):
            paths = sorted(self.fs.glob(self.path))
        else:
            paths = [self.path] if self.fs.isfile(self.path) else []
        if not paths:
            raise MissingDataError(
                f"no {self.source} input at {self.url}: no such file, or nothing matches; "
                "set export.input (or --input) to a file, glob or folder"
            )
        formats: dict[str, Format] = {}
        for path in paths:
            fmt = self._format_of(path)
            if fmt is None:
                raise DataError(
                    f"cannot tell the format of {path} from its name; set "
                    "export.flat.format to csv, parquet or ndjson"
                )
            formats[path] = fmt
        return InputFiles(
            tuple(self._as_duckdb_path(p) for p in paths),
            _one_format(formats, self.url),
            None,
            self.url,
        )

    def _format_of(self, path: str) -> Format | None:
        if self.format_override != "auto":
            return self.format_override  # type: ignore[return-value]
        return split_extension(path.rpartition("/")[2])[1]


def _one_format(found: dict[str, Format], where: str) -> Format:
    kinds = sorted(set(found.values()))
    if len(kinds) > 1:
        raise DataError(f"{where} mixes formats ({', '.join(kinds)}); keep one format per input")
    return kinds[0]
