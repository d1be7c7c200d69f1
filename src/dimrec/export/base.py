"""The warehouse's contract: what every warehouse (DuckDB, BigQuery) implements.

``DuckDBWarehouse`` (embedded, the default) reads exported GA tables or flat logs from
files; ``BigQueryWarehouse`` queries the GA export tables in place. Both answer
:meth:`Warehouse.interactions` for a day with the same :class:`DayInteractions`;
:func:`dimrec.export.warehouses.open_warehouse` picks one by ``export.warehouse``.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import pyarrow as pa
import pyarrow.compute as pc

from dimrec.partitions import EVENTS_SCHEMA


@dataclass(frozen=True)
class DayInteractions:
    """What a warehouse says about one day."""

    events: pa.Table
    """user, item, action, ts: the day's events, ready for ``events/date=.../``."""
    rejected: Mapping[str, int] = field(default_factory=dict)
    """Rows that should have been events but could not be, by reason (malformed, null_user,
    null_item, bad_item_id, no_items, ...)."""
    ignored: Mapping[str, int] = field(default_factory=dict)
    """Rows of other kinds (another action type or event name), by what they were."""
    empty_day: bool = False
    """The source says the day has no rows at all: a day inside a log's date range without
    a single row (a shop closed on Sundays). An empty day, expected — not missing data."""


class Warehouse(ABC):
    """Gives each day's interactions; used as a context manager, one per run."""

    name: str

    def plan(self, days: Sequence[dt.date]) -> None:  # noqa: B027 (a hint: may be ignored)
        """A hint: the days the run will ask for, in order (a warehouse may read ahead)."""

    @abstractmethod
    def interactions(self, day: dt.date) -> DayInteractions:
        """The day's events and counts; MissingDataError (naming the day and where it looked)
        when the warehouse has no data for it — no daily table, or a day outside the dates a
        log holds (a day inside them without rows is an ``empty_day``) —, SchemaError when a
        needed column is absent."""

    def undated(self) -> Mapping[str, int]:
        """Rows rejected so far that belong to no day (malformed lines or rows without a
        date in a file holding many days), by reason."""
        return {}

    @abstractmethod
    def close(self) -> None:
        """Release the connection or client."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def split_interactions(table: pa.Table) -> DayInteractions:
    """Split classified rows (outcome, reason, user, item, action, ts, row_count: 1 for an
    event, the size of the group for rejected or ignored rows) into a DayInteractions; for a
    warehouse that returns rows rather than counting them itself (BigQuery)."""
    is_event = pc.equal(table["outcome"], "event")
    events = table.filter(is_event).select(EVENTS_SCHEMA.names)
    others = table.filter(pc.invert(is_event)).group_by(["outcome", "reason"])
    counts: dict[str, dict[str, int]] = {"rejected": {}, "ignored": {}}
    for row in others.aggregate([("row_count", "sum")]).to_pylist():
        counts[row["outcome"]][row["reason"]] = int(row["row_count_sum"])
    return DayInteractions(events, counts["rejected"], counts["ignored"])
