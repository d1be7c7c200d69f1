"""Export days: a warehouse's interactions of each day → ``events/date=YYYY-MM-DD/``.

Each day is written whole through :class:`dimrec.partitions.DayPartitions` (temporary name,
then rename): a re-run replaces the day, a crash leaves the previous file as it was.

A day the warehouse has no data for is recorded as missing and the run goes on with the
others (a backfill over a range with a gap still fills the rest); the caller reports the
missing days at the end (:meth:`ExportSummary.raise_for_missing`). Any other error — a
table lacking a needed column, an unreadable file, a warehouse failure — stops the run at
that day: it would most likely hit every day alike. Days written before it stay written.

A :class:`DayGuard` keeps a good day from being replaced by a (nearly) empty one: a day whose
rows were nearly all rejected, or with far fewer events than the partition it would replace,
is refused (DataError) and the partition kept as it was.

A day the warehouse says has no rows at all — a closed shop's day inside a log's dates — is
not missing: it is written empty and counted (``ExportSummary.empty``). The guard lets it
through when the day had no events before either (it was closed then too).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from dimrec.config import ACTIONS
from dimrec.errors import DataError, MissingDataError
from dimrec.export.base import Warehouse
from dimrec.export.summary import DayExport, ExportSummary, MissingDay
from dimrec.logs import log_context
from dimrec.partitions import DayPartitions

log = logging.getLogger(__name__)

#: Called as progress(step, done, total) after each day ("export 2026-11-20", 3, 30).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DayGuard:
    """When a day's export must not be written (``[export]`` settings of the same names)."""

    max_rejected_fraction: float = 1.0
    """Refuse a day when more than this share of its rows (events + rejected) was rejected."""
    min_events_fraction: float = 0.0
    """Refuse to replace a day with fewer events than this share of the events it had."""
    min_rows_judged: int = 100
    """A day of fewer rows is too small to judge by its share of rejected rows."""

    def check(
        self, day: dt.date, events: int, rejected: Mapping[str, int], previous: int | None
    ) -> None:
        """DataError when ``events`` new events (and ``rejected`` rows) must not replace the
        day's partition of ``previous`` events (None: the day has none yet)."""
        label = day.isoformat()
        dropped = sum(rejected.values())
        rows = events + dropped
        if rows >= self.min_rows_judged and dropped / rows > self.max_rejected_fraction:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.items()))
            raise DataError(
                f"refusing to export {label}: {dropped:,} of its {rows:,} rows were rejected "
                f"({reasons}), more than export.max_rejected_fraction="
                f"{self.max_rejected_fraction:g}; {_kept(previous)}. Check the input and "
                "export.sku_regex, or export it anyway with --allow-empty"
            )
        if previous and events < self.min_events_fraction * previous:
            raise DataError(
                f"refusing to replace the {previous:,} events of {label} with {events:,}, "
                f"fewer than export.min_events_fraction={self.min_events_fraction:g} of them; "
                f"{_kept(previous)}. Check the input, or export it anyway with --allow-empty"
            )


def _kept(previous: int | None) -> str:
    if previous is None:
        return "nothing was written"
    return "the day's exported events are kept as they were"


def export_day(
    warehouse: Warehouse, events: DayPartitions, day: dt.date, guard: DayGuard | None = None
) -> DayExport:
    """Write ``day``'s events from ``warehouse`` to ``events`` (unless ``guard`` refuses
    them); return what was written."""
    return _write_day(warehouse, events, day, guard)[0]


def _write_day(
    warehouse: Warehouse, events: DayPartitions, day: dt.date, guard: DayGuard | None
) -> tuple[DayExport, pa.Table]:
    start = time.perf_counter()
    data = warehouse.interactions(day)
    if guard is not None:
        guard.check(day, data.events.num_rows, data.rejected, _events_in(events, day))
    events.write(day, data.events)
    table = data.events
    counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
    for entry in pc.value_counts(table["action"]).to_pylist():
        counts[entry["values"]] = int(entry["counts"])
    exported = DayExport(
        day=day,
        actions=counts,
        users=_distinct(table["user"]),
        items=_distinct(table["item"]),
        rejected=dict(sorted(data.rejected.items())),
        ignored=dict(sorted(data.ignored.items())),
        path=events.path(day),
        seconds=round(time.perf_counter() - start, 4),
        empty_day=data.empty_day,
    )
    log.info(
        "exported %d events (%s), %d rejected, to %s",
        exported.events,
        ", ".join(f"{a} {n}" for a, n in counts.items()),
        sum(exported.rejected.values()),
        exported.path,
    )
    return exported, table


def _events_in(events: DayPartitions, day: dt.date) -> int | None:
    """How many events the day's partition holds; None when it has none (or is unreadable:
    nothing there is worth keeping)."""
    if not events.exists(day):
        return None
    try:
        return events.rows(day)
    except DataError:
        return None


def export_range(
    warehouse: Warehouse,
    events: DayPartitions,
    days: Sequence[dt.date],
    *,
    source: str,
    input_url: str,
    progress: Progress | None = None,
    guard: DayGuard | None = None,
) -> ExportSummary:
    """Export every day of ``days`` in order; days without data are recorded as missing.
    A day ``guard`` refuses stops the run (DataError), its partition as it was."""
    exported: list[DayExport] = []
    missing: list[MissingDay] = []
    users: set[str] = set()
    items: set[str] = set()
    warehouse.plan(days)
    for done, day in enumerate(days, start=1):
        with log_context(date=day.isoformat(), source=source, warehouse=warehouse.name):
            try:
                result, table = _write_day(warehouse, events, day, guard)
            except MissingDataError as exc:
                log.warning("skipped: %s", exc)
                missing.append(MissingDay(day, str(exc)))
            else:
                exported.append(result)
                users.update(_unique(table["user"]))
                items.update(_unique(table["item"]))
        if progress is not None:
            progress(f"export {day.isoformat()}", done, len(days))
    return ExportSummary(
        source=source,
        warehouse=warehouse.name,
        input=input_url,
        days=tuple(exported),
        missing=tuple(missing),
        users=len(users),
        items=len(items),
        undated_rejected=dict(sorted(warehouse.undated().items())),
    )


def _unique(column: pa.ChunkedArray) -> list[str]:
    values: list[str] = pc.unique(column).to_pylist()
    return values


def _distinct(column: pa.ChunkedArray) -> int:
    return len(pc.unique(column))
