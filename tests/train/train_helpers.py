"""Test helpers of the train stage: events written as export would, and an independent
brute-force cosine reference in plain Python (no dimrec code)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

import pyarrow as pa

from dimrec import partitions
from dimrec.config import Settings

WEIGHTS = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}

Event = tuple[str, str, str]  # user, item, action


def events_table(rows: Iterable[Event]) -> pa.Table:
    rows = list(rows)
    return pa.table(
        {
            "user": [r[0] for r in rows],
            "item": [r[1] for r in rows],
            "action": [r[2] for r in rows],
            "ts": pa.array([None] * len(rows), pa.timestamp("us", tz="UTC")),
        },
        schema=partitions.EVENTS_SCHEMA,
    )


def write_events(settings: Settings, days: Mapping[dt.date, Iterable[Event]]) -> None:
    store = partitions.events(settings.paths.events_url())
    for day, rows in days.items():
        store.write(day, events_table(rows))


def hand_profiles(
    days: Mapping[dt.date, Iterable[Event]], weights: Mapping[str, float] = WEIGHTS
) -> dict[tuple[str, str], float]:
    """(user, item) → score summed over all the given days, in plain Python."""
    scores: dict[tuple[str, str], float] = defaultdict(float)
    for rows in days.values():
        for user, item, action in rows:
            scores[(user, item)] += weights[action]
    return dict(scores)


def reference_neighbours(
    scores: Mapping[tuple[str, str], float], *, min_items: int, max_items: int, top_k: int
) -> list[tuple[str, str, float]]:
    """Brute-force top-K cosine lists, canonical order, in plain Python (no dimrec code)."""
    by_user: dict[str, dict[str, float]] = defaultdict(dict)
    for (user, item), score in scores.items():
        by_user[user][item] = score
    kept = {u: items for u, items in by_user.items() if min_items <= len(items) <= max_items}
    columns: dict[str, dict[str, float]] = defaultdict(dict)
    for user, items in kept.items():
        for item, score in items.items():
            columns[item][user] = score
    norm = {item: math.sqrt(sum(v * v for v in col.values())) for item, col in columns.items()}
    rows: list[tuple[str, str, float]] = []
    for a in sorted(columns):
        sims = []
        for b in columns:
            if a == b:
                continue
            dot = sum(v * columns[b].get(u, 0.0) for u, v in columns[a].items())
            if dot:
                sims.append((b, dot / (norm[a] * norm[b])))
        sims.sort(key=lambda pair: (-pair[1], pair[0].encode()))
        rows.extend((a, b, s) for b, s in sims[:top_k])
    return rows
