"""Sequential rules against sessions worked by hand, a plain-Python reference, and the local
engine reading events (order, pauses, the user filter, time decay)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from dimrec import partitions
from dimrec.config import Settings
from dimrec.errors import InvalidInputError
from dimrec.params import TrainParams
from dimrec.train.local.engine import LocalEngine
from dimrec.train.local.sequential import compute_sequential_neighbours
from dimrec.train.neighbours import Neighbours
from dimrec.train.sessions import SessionItems
from train.test_rp3beta import lists


def sessions_of(*sessions: list[int], seconds: list[int] | None = None) -> SessionItems:
    """Sessions of items in order, one a second unless ``seconds`` gives each event's."""
    items = np.array([i for s in sessions for i in s], dtype=np.int32)
    starts = np.cumsum([0, *(len(s) for s in sessions[:-1])]).astype(np.int64)
    ts = np.arange(len(items)) if seconds is None else np.array(seconds)
    return SessionItems(items, starts, np.ones(len(items)), ts.astype(np.int64))


def rules(sessions: SessionItems, n_items: int, **params: object) -> Neighbours:
    matrix = sp.csr_matrix((1, n_items))
    return compute_sequential_neighbours(
        matrix, TrainParams(algorithm="sequential", **params), sessions=sessions
    )


def test_hand_worked_rules() -> None:
    # Session 0 goes 0 → 1 → 2; session 1 is 1, 1 again (one step), then 0; session 2 is 2.
    sessions = sessions_of([0, 1, 2], [1, 1, 0], [2])
    # Within two steps: 0→1 (1), 1→2 (1), 0→2 (½, two steps away); 1→0 (1).
    assert lists(rules(sessions, 3, sr_steps=2)) == {
        0: [(1, 1.0), (2, 0.5)],
        1: [(0, 1.0), (2, 1.0)],  # a tie: by id
    }
    assert lists(rules(sessions, 3, sr_steps=1)) == {0: [(1, 1.0)], 1: [(0, 1.0), (2, 1.0)]}
    assert lists(rules(sessions, 3, sr_steps=2, top_k=1)) == {0: [(1, 1.0)], 1: [(0, 1.0)]}
    # A session's weight (its day's decay) scales its rules.
    halved = SessionItems(sessions.items, sessions.starts, np.r_[[0.5] * 3, [1.0] * 4], sessions.ts)
    assert lists(rules(halved, 3, sr_steps=2)) == {
        0: [(1, 0.5), (2, 0.25)],
        1: [(0, 1.0), (2, 0.5)],
    }


def test_events_of_one_second_are_one_step() -> None:
    # A basket of A and B bought together (one second), then C, then D with C again.
    sessions = sessions_of([0, 1, 2, 3, 2], seconds=[5, 5, 6, 7, 7])
    # Steps {A, B} → {C} → {C, D}; C is in the step before: dropped, step 3 is {D}.
    assert lists(rules(sessions, 4, sr_steps=2)) == {
        0: [(2, 1.0), (3, 0.5)],
        1: [(2, 1.0), (3, 0.5)],  # nothing between A and B: they came together
        2: [(3, 1.0)],
    }
    # One basket per session (a purchase log): no order, no rules.
    assert len(rules(sessions_of([0, 1, 2], seconds=[9, 9, 9]), 3, sr_steps=5)) == 0


def reference_rules(
    sessions: list[list[tuple[int, int]]], steps: int
) -> dict[tuple[int, int], float]:
    """Plain Python: a session's (second, item) events grouped by second into steps (sets),
    each step without the items of the step before (empty ones dropped); every i of a step
    and j of a step at most ``steps`` later add 1/distance to i → j."""
    out: dict[tuple[int, int], float] = defaultdict(float)
    for session in sessions:
        grouped: dict[int, set[int]] = defaultdict(set)
        for second, item in session:
            grouped[second].add(item)
        raw = [grouped[second] for second in sorted(grouped)]
        kept = [items - raw[n - 1] if n else items for n, items in enumerate(raw)]
        kept = [items for items in kept if items]
        for p, before in enumerate(kept):
            for q in range(p + 1, min(p + steps, len(kept) - 1) + 1):
                for i in before:
                    for j in kept[q]:
                        if i != j:
                            out[(i, j)] += 1.0 / (q - p)
    return dict(out)


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_rules_equal_a_plain_python_reference(steps: int) -> None:
    rng = np.random.default_rng(steps)
    sessions = []
    for _ in range(300):
        size = int(rng.integers(1, 15))
        seconds = np.sort(rng.integers(0, 8, size))  # often several events a second
        sessions.append(
            list(zip(seconds.tolist(), rng.integers(0, 12, size).tolist(), strict=True))
        )
    given = sessions_of(
        *([item for _, item in s] for s in sessions),
        seconds=[second for s in sessions for second, _ in s],
    )
    got = rules(given, 12, sr_steps=steps, top_k=12)
    expected = reference_rules(sessions, steps)
    actual = {
        (i, j): s
        for i, j, s in zip(
            got.item.tolist(), got.neighbour.tolist(), got.similarity.tolist(), strict=True
        )
    }
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-12)


def test_without_sessions_it_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="in time order"):
        compute_sequential_neighbours(sp.csr_matrix((1, 2)), TrainParams(algorithm="sequential"))


def test_the_local_engine_learns_from_the_events_order(tmp_path: Path) -> None:
    day1, day2 = dt.date(2026, 5, 1), dt.date(2026, 5, 2)
    minute = dt.timedelta(minutes=1)
    start = dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC)
    # user, item, action, time (written out of order: the times decide).
    rows = {
        day1: [
            ("u1", "B", "browse", start + 2 * minute),
            ("u1", "A", "browse", start),
            ("u1", "C", "basket", start + 3 * minute),
            ("u1", "A", "browse", start + 60 * minute),  # after a pause: a new session
            ("u1", "D", "browse", start + 61 * minute),
            ("u9", "A", "browse", start),  # one item only: left out by min_items = 2
        ],
        day2: [
            ("u2", "C", "browse", start + dt.timedelta(days=1)),
            ("u2", "A", "purchase", start + dt.timedelta(days=1, minutes=1)),
        ],
    }
    events = partitions.events(str(tmp_path / "events"))
    profiles = partitions.profiles(str(tmp_path / "profiles"))
    for day, day_rows in rows.items():
        table = pa.table(
            {
                "user": [r[0] for r in day_rows],
                "item": [r[1] for r in day_rows],
                "action": [r[2] for r in day_rows],
                "ts": [r[3] for r in day_rows],
            },
            schema=partitions.EVENTS_SCHEMA,
        )
        events.write(day, table)
        scored = {(r[0], r[1]): 1.0 for r in day_rows}
        profiles.write(
            day,
            pa.table(
                {
                    "user": [k[0] for k in scored],
                    "item": [k[1] for k in scored],
                    "score": list(scored.values()),
                },
                schema=partitions.PROFILES_SCHEMA,
            ),
        )
    days = sorted(rows)
    profile_urls = [profiles.path(d) for d in days]
    event_urls = [events.path(d) for d in days]
    params = TrainParams(algorithm="sequential", sr_steps=2, top_k=5)
    result = LocalEngine(threads=1).train(profile_urls, params, event_urls=event_urls)
    got = {(r["item"], r["neighbour"]): r["similarity"] for r in result.neighbours.to_pylist()}
    # u1: A → B → C (A→B 1, B→C 1, A→C ½), then A → D; u2 (day 2): C → A.
    assert got == {
        ("A", "B"): 1.0,
        ("A", "C"): 0.5,
        ("A", "D"): 1.0,
        ("B", "C"): 1.0,
        ("C", "A"): 1.0,
    }
    # With a one-day half-life, day 1 (one day older than day 2) counts half.
    decayed = params.model_copy(update={"half_life_days": 1.0})
    result = LocalEngine(threads=1).train(profile_urls, decayed, event_urls=event_urls)
    got = {(r["item"], r["neighbour"]): r["similarity"] for r in result.neighbours.to_pylist()}
    assert got == {
        ("A", "B"): 0.5,
        ("A", "C"): 0.25,
        ("A", "D"): 0.5,
        ("B", "C"): 0.5,
        ("C", "A"): 1.0,
    }


def test_through_the_pipeline_pruned_events_leave_their_days_out(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from dimrec import pipeline
    from dimrec.errors import MissingDataError
    from train.train_helpers import events_table

    as_of = dt.date(2026, 5, 3)
    day1, day2 = as_of - dt.timedelta(days=2), as_of - dt.timedelta(days=1)
    store = partitions.events(settings.paths.events_url())
    for day, rows in {
        day1: [("u1", "A", "browse"), ("u1", "B", "browse")],
        day2: [("u2", "B", "browse"), ("u2", "C", "basket")],
    }.items():
        start = dt.datetime.combine(day, dt.time(9), dt.UTC)
        minutes = pa.array([start + dt.timedelta(minutes=n) for n in range(len(rows))])
        store.write(
            day, events_table(rows).set_column(3, "ts", minutes.cast(store.schema.field("ts").type))
        )
    params = settings.train_params(algorithm="sequential", sr_steps=1)

    def rules() -> set[tuple[str, str]]:
        model = pipeline.train(settings, days_init=2, days_end=1, as_of=as_of, params=params)
        return {(r["item"], r["neighbour"]) for r in model.neighbours().to_pylist()}

    assert rules() == {("A", "B"), ("B", "C")}
    events = store
    Path(events.path(day1)).unlink()  # pruned: day 1's profiles stay, its events are gone
    with caplog.at_level("WARNING"):
        assert rules() == {("B", "C")}
    assert f"the events of {day1.isoformat()} are gone" in caplog.text
    Path(events.path(day2)).unlink()
    with pytest.raises(MissingDataError, match="learns from the order of events"):
        rules()
