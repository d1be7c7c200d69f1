"""Test data of the engines: a seeded shop written as daily profile partitions, its events as
export writes them, and brute-force references in NumPy and plain Python (no dimrec code)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from dimrec import partitions

AS_OF = dt.date(2026, 11, 21)
SCORES = np.array([0.5, 2.0, 6.0])  # browse, basket, purchase
#: Item id prefixes whose binary UTF-8 order differs from a case-insensitive or locale one.
PREFIXES = ["", "B", "a", "Z", "é", "ä", "日本", "😀", "item-"]


@dataclass(frozen=True)
class Shop:
    days: dict[dt.date, pa.Table]
    """Each day's profiles (user, item, score)."""

    def write(self, profiles_url: str) -> list[str]:
        """Write the days as profile partitions; their file URLs, oldest first."""
        store = partitions.profiles(profiles_url)
        for day, table in sorted(self.days.items()):
            store.write(day, table)
        return [str(store.fs.unstrip_protocol(store.path(day))) for day in sorted(self.days)]

    def write_events(self, events_url: str) -> list[str]:
        """One browse event per profile row, a minute apart, as events partitions: the order
        a sequential algorithm sees is each user's items of a day in id order. Their URLs."""
        store = partitions.events(events_url)
        for day, table in sorted(self.days.items()):
            n = table.num_rows
            start = dt.datetime.combine(day, dt.time(0), dt.UTC)
            events = pa.table(
                {
                    "user": table.column("user"),
                    "item": table.column("item"),
                    "action": pa.array(["browse"] * n),
                    "ts": pa.array(
                        [start + dt.timedelta(minutes=m) for m in range(n)],
                        pa.timestamp("us", tz="UTC"),
                    ),
                },
                schema=partitions.EVENTS_SCHEMA,
            )
            store.write(day, events)
        return [str(store.fs.unstrip_protocol(store.path(day))) for day in sorted(self.days)]

    def summed(self) -> dict[tuple[str, str], float]:
        """(user, item) → score over all days, in plain Python."""
        scores: dict[tuple[str, str], float] = defaultdict(float)
        for table in self.days.values():
            for row in table.to_pylist():
                scores[(row["user"], row["item"])] += row["score"]
        return dict(scores)


def shop(
    n_users: int,
    n_items: int,
    seed: int,
    *,
    n_days: int = 3,
    themes: int = 10,
    binary: bool = False,
    twins: int = 0,
) -> Shop:
    """Shoppers with 3..12 items each, 80% from their favourite theme, Zipf popularity;
    scores browse 0.5 / basket 2 / purchase 6 spread over ``n_days`` days (a (user, item) may
    recur on several days), or 1.0 on one day when ``binary``. The first ``twins`` items get
    a twin whose column is identical: exact ties, broken by id."""
    rng = np.random.default_rng(seed)
    popularity = (1.0 / np.arange(1, n_items + 1))[rng.permutation(n_items)]
    theme_of_item = rng.integers(0, themes, n_items)
    theme_of_user = rng.integers(0, themes, n_users)
    per_user = rng.integers(3, 13, n_users)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.empty(len(users), dtype=np.int64)
    anywhere = rng.random(len(users)) < 0.2
    user_theme = np.repeat(theme_of_user, per_user)
    for theme in range(-1, themes):
        members = np.arange(n_items) if theme < 0 else np.flatnonzero(theme_of_item == theme)
        slots = np.flatnonzero(anywhere if theme < 0 else ~anywhere & (user_theme == theme))
        if len(members) == 0:
            members = np.arange(n_items)
        cdf = np.cumsum(popularity[members])
        picks = np.searchsorted(cdf, rng.random(len(slots)) * cdf[-1])
        items[slots] = members[np.minimum(picks, len(members) - 1)]
    if binary:
        pairs = np.unique(users * n_items + items)
        users, items = pairs // n_items, pairs % n_items
        scores = np.ones(len(users))
    else:
        scores = rng.choice(SCORES, len(users), p=[0.6, 0.3, 0.1])
    days = rng.integers(0, n_days, len(users))
    names = [f"{PREFIXES[i % len(PREFIXES)]}{i:04d}" for i in range(n_items)]
    twin_of = {i: f"{names[i]}-twin" for i in range(twins)}
    out: dict[dt.date, pa.Table] = {}
    for d in range(n_days):
        day = AS_OF - dt.timedelta(days=n_days - d)
        summed: dict[tuple[str, str], float] = defaultdict(float)
        for u, i, s in zip(users[days == d], items[days == d], scores[days == d], strict=True):
            summed[(f"user{u:05d}", names[i])] += float(s)
            if i in twin_of:
                summed[(f"user{u:05d}", twin_of[i])] += float(s)
        keys = sorted(summed)
        out[day] = pa.table(
            {
                "user": [k[0] for k in keys],
                "item": [k[1] for k in keys],
                "score": [summed[k] for k in keys],
            },
            schema=partitions.PROFILES_SCHEMA,
        )
    return Shop(out)


@dataclass(frozen=True)
class Reference:
    items: list[str]
    cosine: npt.NDArray[np.float64]
    """items × items, diagonal zero."""


def reference_cosine(
    scores: Mapping[tuple[str, str], float], *, min_items: int, max_items: int
) -> Reference:
    """Exact cosine between the item columns of the kept users, densely in NumPy."""
    by_user: dict[str, dict[str, float]] = defaultdict(dict)
    for (user, item), score in scores.items():
        by_user[user][item] = score
    kept = [u for u, row in by_user.items() if min_items <= len(row) <= max_items]
    items = sorted({item for u in kept for item in by_user[u]}, key=str.encode)
    column = {item: c for c, item in enumerate(items)}
    matrix = np.zeros((len(kept), len(items)))
    for r, user in enumerate(kept):
        for item, score in by_user[user].items():
            matrix[r, column[item]] = score
    unit = matrix / np.linalg.norm(matrix, axis=0)
    cosine = unit.T @ unit
    np.fill_diagonal(cosine, 0.0)
    return Reference(items, cosine)


def lists(table: pa.Table) -> dict[str, list[tuple[str, float]]]:
    """A neighbours table as item → [(neighbour, similarity)] in table order."""
    out: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in table.to_pylist():
        out[row["item"]].append((row["neighbour"], row["similarity"]))
    return dict(out)


ACTIONS = np.array(["browse", "basket", "purchase"])


def shop_events(
    n_users: int, n_items: int, seed: int, *, n_days: int = 3
) -> dict[dt.date, pa.Table]:
    """Seeded raw events (user, item, action) of ``n_days`` days before AS_OF, as export
    writes them: a few items a shopper, Zipf popularity, actions mostly browse."""
    rng = np.random.default_rng(seed)
    popularity = (1.0 / np.arange(1, n_items + 1))[rng.permutation(n_items)]
    cdf = np.cumsum(popularity)
    names = [f"{PREFIXES[i % len(PREFIXES)]}{i:04d}" for i in range(n_items)]
    out = {}
    for d in range(n_days):
        day = AS_OF - dt.timedelta(days=n_days - d)
        per_user = rng.integers(1, 9, n_users)
        users = np.repeat(np.arange(n_users), per_user)
        items = np.minimum(np.searchsorted(cdf, rng.random(len(users)) * cdf[-1]), n_items - 1)
        actions = rng.choice(ACTIONS, len(users), p=[0.7, 0.2, 0.1])
        out[day] = pa.table(
            {
                "user": [f"user{u:05d}" for u in users],
                "item": [names[i] for i in items],
                "action": actions.tolist(),
                "ts": pa.array([None] * len(users), pa.timestamp("us", tz="UTC")),
            },
            schema=partitions.EVENTS_SCHEMA,
        )
    return out


def write_events(events_url: str, days: Mapping[dt.date, pa.Table]) -> None:
    store = partitions.events(events_url)
    for day, table in days.items():
        store.write(day, table)


def reference_popularity(scores: Mapping[tuple[str, str], float]) -> list[tuple[str, float, int]]:
    """(item, summed score, distinct users) over all users, best first: score desc, users
    desc, id asc (binary UTF-8)."""
    total: dict[str, float] = defaultdict(float)
    users: dict[str, int] = defaultdict(int)
    for (_, item), score in scores.items():
        total[item] += score
        users[item] += 1
    return sorted(
        ((item, total[item], users[item]) for item in total),
        key=lambda row: (-row[1], -row[2], row[0].encode()),
    )


def decayed(shop: Shop, half_life_days: float) -> dict[tuple[str, str], float]:
    """(user, item) → Σ over days of score × 0.5^(age / half-life), age in days from the
    newest day, in plain Python."""
    newest = max(shop.days)
    scores: dict[tuple[str, str], float] = defaultdict(float)
    for day, table in shop.days.items():
        factor = 0.5 ** ((newest - day).days / half_life_days)
        for row in table.to_pylist():
            scores[(row["user"], row["item"])] += row["score"] * factor
    return dict(scores)


def count_twin_ties(neighbours: pa.Table) -> int:
    """How many lists hold an item and its twin (an identical column): each time, asserts
    that they tie and that the lower id comes first, right before its twin."""
    tied = 0
    for listed in lists(neighbours).values():
        position = {n: p for p, (n, _) in enumerate(listed)}
        for name, p in position.items():
            twin = position.get(f"{name}-twin")
            if twin is not None:
                assert twin == p + 1
                assert listed[p][1] == listed[twin][1]
                tied += 1
    return tied
