"""Export days: a warehouse's interactions of each day → ``events/date=YYYY-MM-DD/``.

Each day is written whole through :class:`dimrec.partitions.DayPartitions` (temporary name,
then rename): a re-run replaces the day, a crash leaves the previous file as it was.

A day the warehouse has no data for is recorded as missing and the run goes on with the
others (a backfill over a range with a gap still fills the rest); the caller reports the
missing days at the end (:meth:`ExportSummary.raise_for_missing`). Any other error — a
table lacking a needed column, an unreadable file, a warehouse failure — stops the run at
that day: it would most likely hit every day alike. Days written before it stay written.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from dimrec.config import ACTIONS
from dimrec.errors import MissingDataError
from dimrec.export.base import Warehouse
from dimrec.export.summary import DayExport, ExportSummary, MissingDay
from dimrec.logs import log_context
from dimrec.partitions import DayPartitions

log = logging.getLogger(__name__)

#: Called as progress(step, done, total) after each day ("export 2026-11-20", 3, 30).
Progress = Callable[[str, int, int], None]


def export_day(warehouse: Warehouse, events: DayPartitions, day: dt.date) -> DayExport:
    """Write ``day``'s events from ``warehouse`` to ``events``; return what was written."""
    return _write_day(warehouse, events, day)[0]


def _write_day(
    warehouse: Warehouse, events: DayPartitions, day: dt.date
) -> tuple[DayExport, pa.Table]:
    start = time.perf_counter()
    data = warehouse.interactions(day)
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
    )
    log.info(
        "exported %d events (%s), %d rejected, to %s",
        exported.events,
        ", ".join(f"{a} {n}" for a, n in counts.items()),
        sum(exported.rejected.values()),
        exported.path,
    )
    return exported, table


def export_range(
    warehouse: Warehouse,
    events: DayPartitions,
    days: Sequence[dt.date],
    *,
    source: str,
    input_url: str,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export every day of ``days`` in order; days without data are recorded as missing."""
    exported: list[DayExport] = []
    missing: list[MissingDay] = []
    users: set[str] = set()
    items: set[str] = set()
    warehouse.plan(days)
    for done, day in enumerate(days, start=1):
        with log_context(date=day.isoformat(), source=source, warehouse=warehouse.name):
            try:
                result, table = _write_day(warehouse, events, day)
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
