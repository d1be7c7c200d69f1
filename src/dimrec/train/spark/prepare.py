"""The prepare stage on Spark: days of events → their profiles, the same files as locally.

Which days need work, and what happens to the others, is decided exactly as by
:func:`dimrec.train.profiles.prepare_day` (which handles the cached and the missing days
itself). The days that need computing are read together, checked (null ids, actions
without a weight — the same errors as locally) and summed per (day, user, item) in one
Spark job; then each day's profiles come to the driver through Arrow, are sorted by user
and item like the local ones and written atomically with the same description of what they
were computed from, inside the same file (:func:`dimrec.train.profiles.write_profiles`), one
day at a time (so the driver holds one day, never the window).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence

import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from dimrec import partitions
from dimrec.config import Settings
from dimrec.errors import DataError
from dimrec.logs import log_context
from dimrec.partitions import EVENT_FILE_SCHEMA, EVENTS_SCHEMA, PROFILES_SCHEMA, DayPartitions
from dimrec.train.profiles import (  # the description's format has one owner: profiles.py
    PreparedDay,
    fingerprint,
    is_current,
    prepare_day,
    write_profiles,
)
from dimrec.train.spark.session import get_session, read_parquet_files

log = logging.getLogger(__name__)


def prepare_days_spark(
    settings: Settings,
    days: Sequence[dt.date],
    *,
    force: bool = False,
    weights: Mapping[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    session: SparkSession | None = None,
) -> list[PreparedDay]:
    """Make the profiles of ``days`` current, computing those that are missing or stale
    (all with ``force``) on Spark. Returns one :class:`PreparedDay` per day, in order.

    Raises what ``prepare_day`` raises (MissingDataError for a day without events,
    DataError for unusable events), before any day is written.
    """
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    weights = dict(weights) if weights is not None else settings.weights.as_dict()
    todo = [
        day
        for day in days
        if events.exists(day) and (force or not is_current(events, profiles, day, weights))
    ]
    done: dict[dt.date, PreparedDay] = {}
    for day in days:
        if day not in todo:
            with log_context(date=day.isoformat()):
                done[day] = prepare_day(events, profiles, day, weights, force=force)
    if todo:
        if session is None:
            session, _ = get_session(settings.spark)
        computed = _compute(
            session, events, profiles, todo, weights, progress, len(days) - len(todo)
        )
        done.update(computed)
    return [done[day] for day in days]


def _compute(
    session: SparkSession,
    events: DayPartitions,
    profiles: DayPartitions,
    days: Sequence[dt.date],
    weights: Mapping[str, float],
    progress: Callable[[int, int], None] | None,
    already: int,
) -> dict[dt.date, PreparedDay]:
    start = time.perf_counter()
    sources = {day: fingerprint(events, day) for day in days}  # before reading, as locally
    frame = _read_days(session, events, days)
    weight = F.lit(None).cast("double")
    for action in sorted(weights, reverse=True):
        weight = F.when(F.col("action") == action, F.lit(float(weights[action]))).otherwise(weight)
    scored = frame.withColumn("action_weight", weight)
    _check(scored, weights)
    own = F.coalesce(F.col("weight"), F.lit(1.0))  # an event's own weight; null: 1
    summed = (
        scored.groupBy("day", "user", "item")
        .agg(F.sum(F.col("action_weight") * own).alias("score"))
        .where(F.col("score") > 0)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = {
        row["day"]: int(row["n"])
        for row in frame.groupBy("day").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    results: dict[dt.date, PreparedDay] = {}
    try:
        for n, day in enumerate(days, start=1):
            label = day.isoformat()
            table = summed.where(F.col("day") == label).select(*PROFILES_SCHEMA.names).toArrow()
            table = table.sort_by([("user", "ascending"), ("item", "ascending")])
            table = table.cast(PROFILES_SCHEMA)
            n_events = counts.get(label, 0)
            write_profiles(profiles, day, table, weights, sources[day], events_rows=n_events)
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            log.info(
                "prepared %s on Spark: %d events → %d profiles in %.3fs",
                label,
                n_events,
                table.num_rows,
                seconds,
            )
            results[day] = PreparedDay(day, n_events, table.num_rows, False, seconds)
            if progress is not None:
                progress(already + n, already + len(days))
    finally:
        summed.unpersist()
    return results


def _read_days(session: SparkSession, events: DayPartitions, days: Sequence[dt.date]) -> DataFrame:
    frames = []
    for day in days:
        weighted = _has_weight(events, day)
        frame = read_parquet_files(
            session,
            [str(events.fs.unstrip_protocol(events.path(day)))],
            EVENT_FILE_SCHEMA if weighted else EVENTS_SCHEMA,
        ).withColumn("day", F.lit(day.isoformat()))
        if not weighted:  # written before events had a weight: every event weighs 1
            frame = frame.withColumn("weight", F.lit(None).cast("double"))
        frames.append(frame)
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame


def _has_weight(events: DayPartitions, day: dt.date) -> bool:
    """Whether the day's events file has the weight column (from its footer)."""
    with events.fs.open(events.path(day), "rb") as file:
        return "weight" in pq.read_schema(file).names


def _check(scored: DataFrame, weights: Mapping[str, float]) -> None:
    """The errors of ``profile_scores``: null ids or actions, actions without a weight, an
    event weight that is not a positive number."""
    bad_own = (
        scored.where(
            F.col("weight").isNotNull() & ~(F.col("weight") > 0) | F.isnan(F.col("weight"))
        )
        .groupBy("day")
        .count()
        .orderBy("day")
        .collect()
    )
    for row in bad_own:
        label = row["day"]
        raise DataError(
            f"events for {label} have {row['count']} row(s) whose weight is not a positive "
            f"number; export the day again (`dimrec export --date {label}`)"
        )
    problems = scored.where(
        F.col("user").isNull()
        | F.col("item").isNull()
        | F.col("action").isNull()
        | F.col("action_weight").isNull()
    )
    tally = (
        problems.groupBy("day")
        .agg(
            *[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in ("user", "item", "action")],
        )
        .orderBy("day")
        .collect()
    )
    for row in tally:
        label = row["day"]
        for column in ("user", "item", "action"):
            if row[column]:
                raise DataError(
                    f"events for {label} have {row[column]} row(s) with a null {column}; "
                    f"export the day again (`dimrec export --date {label}`)"
                )
        unknown = (
            problems.where((F.col("day") == label) & F.col("action").isNotNull())
            .groupBy("action")
            .count()
            .orderBy("action")
            .collect()
        )
        named = ", ".join(f"{r['action']!r} ({r['count']} rows)" for r in unknown)
        raise DataError(
            f"events for {label} hold action(s) without a weight: {named}; "
            f"weighted actions are {', '.join(sorted(weights))}"
        )
