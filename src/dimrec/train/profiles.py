"""Daily profiles: one day of events → (user, item, score).

A profile's score sums the weights of the user's actions on the item that day (defaults
browse 0.5, basket 2, purchase 6), each multiplied by the event's own weight when it has one
(a quantity from a flat log's weight column; 1 otherwise). Profiles are cached per day in
``profiles/date=YYYY-MM-DD/part-0.parquet``, written atomically, and recomputed only when:

- the day has no profiles yet, or ``force`` is given;
- they are stale: the day's events were exported again since (their size or modification
  time changed), or they were computed with other weights;
- their file cannot be read (it is then recomputed from the events).

What a day's profiles were computed from (weights, the events file's size and modification
time, row counts) is their *description*, kept inside the same Parquet file, in its
key-value metadata under ``dimrec.prepared``. The file and its description are written in
one atomic rename, so no crash can pair profiles with another run's description: a reader
sees the old file with its own description, or the new one with its own.

Rows with a zero score (an action weighted 0) are left out: they carry no signal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dimrec.errors import DataError, MissingDataError
from dimrec.fsio import join
from dimrec.partitions import PROFILES_SCHEMA, DayPartitions

log = logging.getLogger(__name__)

#: The key of the description in a profiles file's Parquet key-value metadata.
DESCRIPTION_KEY = b"dimrec.prepared"
#: The record beside a day's profiles written by earlier versions; never trusted, removed.
LEGACY_SIDECAR = "_prepared.json"


@dataclass(frozen=True)
class PreparedDay:
    """What preparing one day did."""

    day: dt.date
    events: int
    """Event rows read (0 when the cached profiles were kept)."""
    profiles: int
    """Profile rows in the day's partition."""
    cached: bool
    """True when the existing profiles were current and kept as they were."""
    seconds: float


def profile_scores(events: pa.Table, weights: Mapping[str, float], *, day: dt.date) -> pa.Table:
    """Sum the action weights of each (user, item) of ``events``.

    Returns a table of ``PROFILES_SCHEMA`` sorted by user then item, without zero scores.
    Raises DataError naming the problem when an action has no weight or a user or item is
    null (export validates both, so either means the events were not written by dimrec).
    """
    label = day.isoformat()
    for column in ("user", "item", "action"):
        nulls = events.column(column).null_count
        if nulls:
            raise DataError(
                f"events for {label} have {nulls} row(s) with a null {column}; "
                f"export the day again (`dimrec export --date {label}`)"
            )
    actions = sorted(weights)
    index = pc.index_in(events.column("action"), value_set=pa.array(actions, pa.string()))
    if index.null_count:
        unknown = pc.value_counts(pc.filter(events.column("action"), pc.is_null(index)))
        named = ", ".join(
            f"{entry['values']!r} ({entry['counts']} rows)" for entry in unknown.to_pylist()
        )
        raise DataError(
            f"events for {label} hold action(s) without a weight: {named}; "
            f"weighted actions are {', '.join(actions)}"
        )
    weight = pc.take(pa.array([float(weights[a]) for a in actions], pa.float64()), index)
    if "weight" in events.column_names:  # an event's own weight (a quantity); null: 1
        own = pc.fill_null(events.column("weight").cast(pa.float64()), 1.0)
        bad = pc.sum(pc.invert(pc.and_(pc.is_finite(own), pc.greater(own, 0.0)))).as_py()
        if bad:
            raise DataError(
                f"events for {label} have {bad} row(s) whose weight is not a positive "
                f"number; export the day again (`dimrec export --date {label}`)"
            )
        weight = pc.multiply(weight, own)
    scored = pa.table(
        {"user": events.column("user"), "item": events.column("item"), "score": weight}
    )
    summed = scored.group_by(["user", "item"], use_threads=False).aggregate([("score", "sum")])
    summed = summed.rename_columns(["user", "item", "score"])
    summed = summed.filter(pc.greater(summed.column("score"), 0.0))
    summed = summed.sort_by([("user", "ascending"), ("item", "ascending")])
    return summed.select(PROFILES_SCHEMA.names).cast(PROFILES_SCHEMA)


def prepare_day(
    events: DayPartitions,
    profiles: DayPartitions,
    day: dt.date,
    weights: Mapping[str, float],
    *,
    force: bool = False,
) -> PreparedDay:
    """Make ``day``'s profiles current: keep them when they are, else compute and write them.

    When the day's events are gone (pruned) its existing profiles are kept as they are,
    unless they are known to have other weights (DataError: they cannot be recomputed).
    Raises MissingDataError when the day has no events and no profiles, or no events and
    ``force`` is given.
    """
    start = time.perf_counter()
    label = day.isoformat()
    current = None if force else current_description(events, profiles, day, weights)
    if current is not None:
        rows = current.get("rows", {}).get("profiles")
        if not isinstance(rows, int):
            rows = profiles.read(day).num_rows
        return PreparedDay(day, 0, rows, True, time.perf_counter() - start)
    if not events.exists(day):
        if force or not profiles.exists(day):
            raise MissingDataError(
                f"no events for {label} (expected {events.path(day)}); "
                f"export the day first (`dimrec export --date {label}`)"
            )
        recorded = _weights_of(read_description(profiles, day, strict=True))
        if recorded is not None:
            raise DataError(
                f"profiles for {label} were computed with weights {recorded}, not "
                f"{_as_floats(weights)}, and the day's events are gone; export the day "
                "again or train with the weights it was prepared with"
            )
        log.warning(
            "profiles for %s have no record of their weights; using them as they are", label
        )
        rows = profiles.read(day).num_rows
        return PreparedDay(day, 0, rows, True, time.perf_counter() - start)
    source = fingerprint(events, day)
    table = events.read(day)
    result = profile_scores(table, weights, day=day)
    write_profiles(profiles, day, result, weights, source, events_rows=table.num_rows)
    seconds = time.perf_counter() - start
    log.info(
        "prepared %s: %d events → %d profiles in %.3fs",
        day.isoformat(),
        table.num_rows,
        result.num_rows,
        seconds,
    )
    return PreparedDay(day, table.num_rows, result.num_rows, False, seconds)


def write_profiles(
    profiles: DayPartitions,
    day: dt.date,
    table: pa.Table,
    weights: Mapping[str, float],
    source: dict[str, Any],
    *,
    events_rows: int,
) -> None:
    """Replace ``day``'s profiles with ``table`` and its description — what they were
    computed from: ``weights`` and the events file ``source`` (its :func:`fingerprint`
    taken before it was read) — in one atomic write."""
    description = {
        "weights": {k: float(v) for k, v in sorted(weights.items())},
        "events": source,
        "rows": {"events": events_rows, "profiles": table.num_rows},
        "prepared_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(description, sort_keys=True).encode()
    profiles.write(day, table, metadata={DESCRIPTION_KEY: text})
    legacy = join(profiles.path(day).rpartition("/")[0], LEGACY_SIDECAR)
    if profiles.fs.exists(legacy):
        profiles.fs.rm(legacy)


def is_current(
    events: DayPartitions, profiles: DayPartitions, day: dt.date, weights: Mapping[str, float]
) -> bool:
    """Whether ``day``'s profiles exist, were computed with ``weights`` and, when the day's
    events still exist, from the events as they are now."""
    return current_description(events, profiles, day, weights) is not None


def prepared_weights(profiles: DayPartitions, day: dt.date) -> dict[str, float] | None:
    """The weights ``day``'s profiles were computed with; None when unrecorded. DataError
    when the file cannot be read."""
    return _weights_of(read_description(profiles, day, strict=True))


def current_description(
    events: DayPartitions, profiles: DayPartitions, day: dt.date, weights: Mapping[str, float]
) -> dict[str, Any] | None:
    """The description of ``day``'s profiles when they are current, else None."""
    if not profiles.exists(day):
        return None
    description = read_description(profiles, day)
    if description is None or _weights_of(description) != _as_floats(weights):
        return None
    if events.exists(day) and description.get("events") != fingerprint(events, day):
        return None  # exported again since
    return description  # when the events were pruned, the profiles are all there is: current


def read_description(
    profiles: DayPartitions, day: dt.date, *, strict: bool = False
) -> dict[str, Any] | None:
    """The description stored in ``day``'s profiles file; None when it has none (or, unless
    ``strict``, when the file cannot be read: it is then prepared again)."""
    try:
        metadata = profiles.metadata(day)
    except DataError:
        if strict:
            raise
        log.warning("%s is unreadable; the day will be prepared again", profiles.path(day))
        return None
    raw = metadata.get(DESCRIPTION_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _weights_of(description: dict[str, Any] | None) -> dict[str, float] | None:
    if description is None or not isinstance(description.get("weights"), dict):
        return None
    return _as_floats(description["weights"])


def _as_floats(weights: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in weights.items()}


def fingerprint(events: DayPartitions, day: dt.date) -> dict[str, Any]:
    """Size and modification time of the day's events file: they change when it is rewritten."""
    path = events.path(day)
    size = int(events.fs.info(path)["size"])
    try:
        modified: str | None = events.fs.modified(path).isoformat()
    except (NotImplementedError, AttributeError):
        modified = None
    return {"size": size, "modified": modified}
