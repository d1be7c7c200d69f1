"""Helpers of the evaluation tests: events written by hand, as the export would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyarrow as pa

from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.tune import TuneGrid
from dimrec.partitions import EVENTS_SCHEMA

DAY0 = dt.date(2026, 3, 1)

#: user, item, action, day offset from DAY0, hour (a fraction counts minutes: 9.25 is 9:15)
Row = tuple[str, str, str, int, float]


def table(rows: Iterable[Row]) -> pa.Table:
    rows = list(rows)
    return pa.table(
        {
            "user": [r[0] for r in rows],
            "item": [r[1] for r in rows],
            "action": [r[2] for r in rows],
            "ts": [
                dt.datetime.combine(DAY0 + dt.timedelta(days=r[3]), dt.time(0), dt.UTC)
                + dt.timedelta(hours=r[4])
                for r in rows
            ],
        },
        schema=EVENTS_SCHEMA,
    )


def interactions(rows: Iterable[Row]) -> Interactions:
    return Interactions.from_table(table(rows))


def day(offset: int) -> dt.date:
    return DAY0 + dt.timedelta(days=offset)


def paired_shop(days: int = 5, pairs: int = 10, teachers: int = 5, popular: int = 40) -> list[Row]:
    """A shop whose answer is known: item ``a{k}`` is always bought with ``b{k}``.

    Each day, ``teachers`` users buy both items of every pair and ``popular`` users buy only
    ``pop`` (one item each: left out of the matrix by min_items = 2, but the most popular
    item). Shopper ``s{d}_{k}`` looks at ``a{k}`` on day d and buys ``b{k}`` on day d + 1: a
    neighbour-based recommender answers b{k} first.
    """
    rows: list[Row] = []
    for d in range(days):
        for k in range(pairs):
            for t in range(teachers):
                user = f"t{d}_{k}_{t}"
                rows += [(user, f"a{k}", "purchase", d, 8), (user, f"b{k}", "purchase", d, 9)]
            rows.append((f"s{d}_{k}", f"a{k}", "browse", d, 10))
            if d > 0:
                rows.append((f"s{d - 1}_{k}", f"b{k}", "purchase", d, 11))
        rows += [(f"p{d}_{n}", "pop", "purchase", d, 12) for n in range(popular)]
    return rows


def closed_day_shop(days: int = 7, closed: tuple[int, ...] = (5,), pairs: int = 10) -> list[Row]:
    """The paired shop of :func:`paired_shop`, closed on the ``closed`` days (no events at
    all): shopper ``x{d}_{k}`` looks at ``a{k}`` on open day d and buys ``b{k}`` on the next
    open day."""
    open_days = [d for d in range(days) if d not in closed]
    rows: list[Row] = []
    for n, d in enumerate(open_days):
        for k in range(pairs):
            for t in range(5):
                user = f"t{d}_{k}_{t}"
                rows += [(user, f"a{k}", "purchase", d, 8), (user, f"b{k}", "purchase", d, 9)]
            rows.append((f"x{d}_{k}", f"a{k}", "browse", d, 10))
            if n > 0:
                rows.append((f"x{open_days[n - 1]}_{k}", f"b{k}", "purchase", d, 11))
    return rows


def visits(days: int = 6, per_day: int = 30, items: int = 6) -> list[Row]:
    """Session data: every visitor comes once and walks ``i{n}`` → ``i{n+1}`` → ``i{n+2}``
    (items in a ring) a minute apart; nobody returns."""
    rows: list[Row] = []
    for d in range(days):
        for v in range(per_day):
            first = v % items
            for step in range(3):
                item = f"i{(first + step) % items}"
                rows.append((f"v{d}_{v}", item, "browse", d, 9 + step / 60))
    return rows


def decoy_shop(days: int = 6, pairs: int = 8) -> list[Row]:
    """The paired shop with a decoy: six users a day buy ``a{k}`` with ``d{k}``, five with
    ``b{k}``, so ``d{k}`` is ``a{k}``'s nearest neighbour, but shoppers who look at ``a{k}``
    buy ``b{k}`` the next day: a model that keeps one neighbour per item misses every one."""
    rows: list[Row] = []
    for d in range(days):
        for k in range(pairs):
            for t in range(5):
                rows += [(f"t{d}_{k}_{t}", f"a{k}", "purchase", d, 8)]
                rows += [(f"t{d}_{k}_{t}", f"b{k}", "purchase", d, 8)]
            for t in range(6):
                rows += [(f"q{d}_{k}_{t}", f"a{k}", "purchase", d, 8)]
                rows += [(f"q{d}_{k}_{t}", f"d{k}", "purchase", d, 8)]
            rows.append((f"s{d}_{k}", f"a{k}", "browse", d, 10))
            if d > 0:
                rows.append((f"s{d - 1}_{k}", f"b{k}", "purchase", d, 11))
    return rows


#: A grid that tunes in a second or two: exact and RP3beta at one setting each.
SMALL_GRID = TuneGrid(
    algorithms=["exact", "rp3beta"],
    rp3_alpha=[1.0],
    rp3_beta=[0.0],
    weighting=["none"],
    weights=[{"browse": 0.5, "basket": 2.0, "purchase": 6.0}],
    user_filters=[(2, 100)],
    half_life_days=[None],
    comparison_thresholds=[0.5],
)
