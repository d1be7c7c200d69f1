"""Splits and test tasks on events worked by hand: who is tested, on what, with what."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from evaluate_helpers import day, interactions, table

from dimrec.errors import DataError, InvalidInputError, SchemaError
from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.split import SplitSpec, TimeSplit, UserSplit
from dimrec.evaluate.task import Task, build_task, choose_mode

ROWS = [
    ("u1", "a", "browse", 0, 9),
    ("u1", "b", "purchase", 1, 9),
    ("u2", "a", "basket", 1, 10),
    ("u2", "c", "browse", 2, 8),
    ("u1", "c", "purchase", 3, 9),  # test day: new item for u1
    ("u1", "a", "purchase", 3, 10),  # test day: u1 had a before, not a target
    ("u2", "d", "browse", 3, 11),  # browse is not a target action by default
    ("u3", "a", "purchase", 3, 12),  # u3 has no history: not a test shopper
    ("u2", "e", "basket", 4, 9),  # after the one test day
]


def names(ev: Interactions, codes: np.ndarray, vocab: str) -> list[str]:
    return [str(getattr(ev, vocab)[c]) for c in codes]


def test_time_split_and_history_task() -> None:
    ev = interactions(ROWS)
    data = TimeSplit(day(2), test_days=1).apply(ev)
    assert len(data.history) == 4
    assert len(data.test) == 4
    assert data.window(2).day.min() == data.history.day.max() - 1  # the last two days
    task = build_task(data)
    assert names(ev, task.shoppers, "users") == ["u1"]
    assert names(ev, task.targets.indices, "items") == ["c"]
    # basket too when asked; u2's d is a browse and never a target.
    assert len(build_task(data, target_actions=["browse"])) == 1


def test_queries_weigh_the_window_history() -> None:
    ev = interactions(ROWS)
    data = TimeSplit(day(2), test_days=1).apply(ev)
    task = build_task(data)
    weights = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}
    query, inputs = task.queries(data.window(None), weights)
    row = dict(zip(names(ev, query.indices, "items"), query.data.tolist(), strict=True))
    assert row == {"a": 0.5, "b": 6.0}
    assert inputs.nnz == 2
    # A one-day window holds only day 2: u1 did nothing then.
    query, _ = task.queries(data.window(1), weights)
    assert query.nnz == 0


def test_validation_is_carved_from_the_history_only() -> None:
    ev = interactions(ROWS)
    split = TimeSplit(day(3), test_days=1)
    rule, period = split.validation(ev)
    assert rule == TimeSplit(day(2), test_days=1)
    assert int(period.day.max()) == int(split.apply(ev).history.day.max())
    assert (period.day <= split.apply(ev).history.day.max()).all()
    with pytest.raises(DataError, match="too short"):
        TimeSplit(day(0), test_days=1).validation(ev)


def test_validation_tests_on_days_that_have_events() -> None:
    # A shop closed on day 5 (no events): the test is day 6; validation must not test on
    # the closed day 5 but on day 4, the history's last day with events.
    rows = [(f"u{d}", "a", "purchase", d, 9) for d in (0, 1, 2, 3, 4, 6)]
    ev = interactions(rows)
    rule, period = TimeSplit(day(5), test_days=1).validation(ev)
    assert rule == TimeSplit(day(3), test_days=1)
    assert len(rule.apply(period).test) == 1  # day 4
    # Only one day with events before the cut-off: nothing to carve a validation from.
    with pytest.raises(DataError, match=r"too short.*export more days"):
        TimeSplit(day(0), test_days=1).validation(ev)


def test_the_default_test_holds_enough_events() -> None:
    # 40 events a day for 30 days (1,200): the default test needs 10% of them (120), three
    # days' worth, as 1,000 events would need more.
    rows = [(f"u{n}", f"i{n % 7}", "purchase", d, 9) for d in range(30) for n in range(40)]
    ev = interactions(rows)
    assert SplitSpec().make(ev) == TimeSplit(day(26), test_days=3)
    assert SplitSpec(test_days=1).make(ev) == TimeSplit(day(28), test_days=1)
    assert SplitSpec(cutoff=day(10)).make(ev) == TimeSplit(day(10), test_days=1)
    # A busy day (2,000 events) is a test of its own.
    busy = rows + [(f"b{n}", "i1", "browse", 30, 9) for n in range(2000)]
    assert SplitSpec().make(interactions(busy)) == TimeSplit(day(29), test_days=1)


def test_auto_mode_goes_by_returning_shoppers() -> None:
    m = 1 / 60
    # Returning shoppers: u1 and u2 come back on the test day (day 2).
    returning = [
        ("u1", "a", "browse", 0, 9),
        ("u1", "b", "browse", 0, 9 + m),
        ("u2", "b", "browse", 1, 9),
        ("u2", "c", "browse", 1, 9 + m),
        ("u1", "c", "purchase", 2, 9),
        ("u2", "a", "purchase", 2, 9),
        ("u3", "a", "browse", 2, 9),  # new, with a two-item session
        ("u3", "b", "browse", 2, 9 + m),
    ]
    data = TimeSplit(day(1)).apply(interactions(returning))
    mode, why = choose_mode(data)
    assert mode == "history"
    assert "67% of the test's 3 users" in why
    # Visitors who never return: session data.
    visits = [(f"v{n}", f"i{n % 3}", "browse", n // 2, 9 + (n % 2) * m) for n in range(8)]
    data = TimeSplit(day(2)).apply(interactions(visits))
    mode, why = choose_mode(data)
    assert mode == "session"
    assert "only 0%" in why
    assert choose_mode(data, "history") == ("history", "history mode (asked for)")
    # Mostly new visitors, but every session holds one item: only history mode finds a
    # shopper (u1, back to buy c), so it is chosen after all.
    lone = [("u1", "a", "browse", 0, 9), ("u1", "c", "purchase", 2, 9)]
    lone += [(f"new{n}", "b", "browse", 2, 10) for n in range(9)]
    data = TimeSplit(day(1)).apply(interactions(lone))
    mode, why = choose_mode(data)
    assert mode == "history"
    assert why == (
        "history mode (10% of the test's 10 users were seen before it, but session mode "
        "finds no shopper)"
    )


def test_cut_off_at_a_fraction_of_the_date_range() -> None:
    ev = interactions(ROWS)  # days 0..4
    split = TimeSplit.at_fraction(ev, 0.8)
    assert split == TimeSplit(day(3), test_days=1)
    assert SplitSpec(cutoff_fraction=0.5).make(ev) == TimeSplit(day(2), test_days=2)
    assert SplitSpec(test_days=2).make(ev) == TimeSplit(day(2), test_days=2)


def test_per_user_split_takes_each_users_last_events() -> None:
    rows = [("u1", f"i{k}", "purchase", k, 9) for k in range(10)]
    rows += [("u2", "x", "purchase", 0, 9), ("u2", "y", "purchase", 0, 10)]
    rows += [("u3", "z", "purchase", 5, 9)]
    ev = interactions(rows)
    data = UserSplit(0.2).apply(ev)
    test = sorted(
        zip(names(ev, data.test.user, "users"), names(ev, data.test.item, "items"), strict=True)
    )
    # u1: the last 2 of 10 by time; u2: round(0.4) = 0 but at least one of two; u3: alone, none.
    assert test == [("u1", "i8"), ("u1", "i9"), ("u2", "y")]
    rule, period = UserSplit(0.2).validation(ev)
    assert rule == UserSplit(0.2)
    assert len(period) == len(data.history)


def test_session_task_asks_each_session_with_its_first_half() -> None:
    m = 1 / 60  # a minute, in hours
    rows = [
        ("s1", "a", "browse", 5, 9),
        ("s1", "a", "browse", 5, 9 + 5 * m),
        ("s1", "b", "browse", 5, 9 + 10 * m),
        ("s1", "c", "purchase", 5, 9 + 15 * m),
        ("s1", "a", "purchase", 5, 9 + 20 * m),  # a query item: never a target
        ("s1", "d", "basket", 5, 9 + 25 * m),
        ("s1", "e", "browse", 5, 15),  # hours later: a second session
        ("s1", "f", "browse", 5, 15 + 10 * m),
        ("s1", "a", "browse", 6, 9),  # another day, one item: nothing to predict
        ("s2", "b", "basket", 5, 9),  # one item only: nothing to predict
        ("h", "a", "browse", 1, 9),
    ]
    ev = interactions(rows)
    data = TimeSplit(day(4), test_days=2).apply(ev)
    weights = {"browse": 0.5, "basket": 2, "purchase": 6}

    def asked(task: Task) -> list[tuple[str, list[str], dict[str, float]]]:
        query, _ = task.queries(data.window(None), weights)
        return [
            (
                str(ev.users[task.shoppers[r]]),
                names(ev, task.targets[r].indices, "items"),
                dict(
                    zip(names(ev, query[r].indices, "items"), query[r].data.tolist(), strict=True)
                ),
            )
            for r in range(len(task))
        ]

    # Session 1 touches a, b, c, d: its first half (a, b) asks for what follows (c, d).
    assert asked(build_task(data, mode="session")) == [
        ("s1", ["c", "d"], {"a": 1.0, "b": 0.5}),
        ("s1", ["f"], {"e": 0.5}),
    ]
    first = build_task(data, mode="session", session_items=1)
    assert asked(first)[0] == ("s1", ["b", "c", "d"], {"a": 1.0})
    bought = build_task(data, mode="session", target_actions=["purchase"])
    assert asked(bought) == [("s1", ["c"], {"a": 1.0, "b": 0.5})]
    with pytest.raises(InvalidInputError, match="'half' or a number"):
        build_task(data, mode="session", session_items=0)


def test_bad_input_is_named() -> None:
    ev = interactions(ROWS)
    with pytest.raises(DataError, match="no events in the 1 test day"):
        TimeSplit(day(9)).apply(ev)
    with pytest.raises(InvalidInputError, match="at most one"):
        SplitSpec(cutoff=day(1), per_user_fraction=0.2)
    with pytest.raises(InvalidInputError, match="test_fraction"):
        UserSplit(1.5)
    with pytest.raises(InvalidInputError, match="target actions"):
        build_task(TimeSplit(day(2)).apply(ev), target_actions=["buy"])
    with pytest.raises(DataError, match="no test shopper"):
        build_task(TimeSplit(day(3)).apply(ev), target_actions=["browse"])  # day 4: a basket
    bad = table(ROWS).set_column(2, "action", pa.array(["view"] * len(ROWS)))
    with pytest.raises(DataError, match="unknown action"):
        Interactions.from_table(bad)
    with pytest.raises(SchemaError, match="ts"):
        Interactions.from_table(table(ROWS).drop(["ts"]))


def test_partition_day_wins_over_the_timestamp() -> None:
    t = table(ROWS[:2])
    ev = Interactions.from_table(t, day=pa.array([dt.date(2026, 1, 1)] * 2, pa.date32()))
    assert ev.first_day() == ev.last_day() == dt.date(2026, 1, 1)


def test_time_decay_halves_a_score_every_half_life() -> None:
    ev = interactions(
        [("u", "a", "purchase", 0, 9), ("u", "b", "purchase", 10, 23), ("u", "c", "browse", 20, 0)]
    )
    weights = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}
    # Ages in whole days back from the newest day (20): 20, 10 and 0.
    np.testing.assert_allclose(ev.scores(weights, half_life_days=10), [1.5, 3.0, 0.5])
    np.testing.assert_allclose(
        ev.scores(weights, half_life_days=10, as_of_day=int(ev.day.max()) + 10), [0.75, 1.5, 0.25]
    )
    np.testing.assert_allclose(ev.scores(weights), [6.0, 6.0, 0.5])


def test_an_events_weight_multiplies_its_score() -> None:
    t = table(
        [("u", "a", "purchase", 0, 9), ("u", "b", "browse", 0, 10), ("v", "a", "basket", 0, 9)]
    )
    weighted = t.append_column("weight", pa.array([3.0, None, 2.0], pa.float64()))
    ev = Interactions.from_table(weighted)
    weights = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}
    np.testing.assert_allclose(ev.scores(weights), [18.0, 0.5, 4.0])
    np.testing.assert_allclose(ev.select(ev.user == 0).scores(weights), [18.0, 0.5])
    assert Interactions.from_table(t).weight is None  # no weights: every event counts once
