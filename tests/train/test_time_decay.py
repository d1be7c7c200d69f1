"""Time decay in the train stage: each day's profile scores are halved every half-life of age,
counted from the window's newest day; the evaluation weighs events the same way."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from train_helpers import hand_profiles, reference_neighbours, write_events

from dimrec import pipeline
from dimrec.config import Settings
from dimrec.errors import DataError
from dimrec.train.local.matrix import build_matrix, decay_factors

AS_OF = dt.date(2026, 6, 11)
D1, D2, D3 = (AS_OF - dt.timedelta(days=n) for n in (21, 11, 1))  # ages 20, 10, 0 at D3
DAYS = {
    D1: [("u1", "A", "purchase"), ("u1", "B", "purchase"), ("u2", "A", "basket")],
    D2: [("u2", "B", "purchase"), ("u3", "A", "browse"), ("u3", "C", "purchase")],
    D3: [("u1", "C", "basket"), ("u3", "B", "purchase"), ("u2", "C", "browse")],
}
FACTOR = {D1: 0.25, D2: 0.5, D3: 1.0}  # half-life 10 days


def decayed_scores() -> dict[tuple[str, str], float]:
    total: dict[tuple[str, str], float] = {}
    for day, rows in DAYS.items():
        for key, score in hand_profiles({day: rows}).items():
            total[key] = total.get(key, 0.0) + score * FACTOR[day]
    return total


def test_model_is_trained_on_decayed_scores(settings: Settings) -> None:
    write_events(settings, DAYS)
    params = settings.train_params(
        algorithm="exact", half_life_days=10.0, min_items=2, max_items=10
    )
    model = pipeline.train(
        settings, days_init=21, days_end=1, as_of=AS_OF, params=params, allow_missing=True
    )
    got = [(r["item"], r["neighbour"], r["similarity"]) for r in model.neighbours().to_pylist()]
    expected = reference_neighbours(decayed_scores(), min_items=2, max_items=10, top_k=100)
    assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in expected]
    np.testing.assert_allclose([s for *_, s in got], [s for *_, s in expected], rtol=1e-9)
    assert model.manifest.params.half_life_days == 10.0
    # Popularity sums the decayed scores too: A = 6·¼ + 2·¼ + 0.5·½ = 2.25.
    popularity = {r["item"]: r["score"] for r in model.popularity().to_pylist()}
    assert popularity["A"] == pytest.approx(2.25)


def test_without_decay_the_scores_are_plain_sums(settings: Settings) -> None:
    write_events(settings, DAYS)
    model = pipeline.train(
        settings,
        days_init=21,
        days_end=1,
        as_of=AS_OF,
        params=settings.train_params(algorithm="exact", min_items=2, max_items=10),
        allow_missing=True,
    )
    popularity = {r["item"]: r["score"] for r in model.popularity().to_pylist()}
    assert popularity["A"] == pytest.approx(6 + 2 + 0.5)


def test_decay_needs_the_day_in_each_path() -> None:
    factors = decay_factors(
        ["p/date=2026-01-11/part-0.parquet", "p/date=2026-01-01/part-0.parquet"],
        ["a", "b"],
        5.0,
    )
    assert factors.column("factor").to_pylist() == [1.0, 0.25]
    with pytest.raises(DataError, match="date=YYYY-MM-DD"):
        build_matrix(["/tmp/profiles.parquet"], min_items=1, max_items=5, half_life_days=7.0)


@pytest.mark.parametrize("half_life", [None, 3.0])
def test_window_sums_do_not_depend_on_row_order_or_threads(
    tmp_path: Path, half_life: float | None
) -> None:
    """Scores that binary floats do not hold exactly (weights like 0.1, decayed scores) give
    the same matrix and popularity, bit for bit, whatever the order of the rows and the
    number of DuckDB threads: a trained model does not change between two runs."""
    rng = np.random.default_rng(3)
    days = [AS_OF - dt.timedelta(days=n) for n in range(6)]
    n = 40_000
    users = rng.integers(0, 2_000, n)
    items = rng.integers(0, 300, n)
    day_of = rng.integers(0, len(days), n)
    table = pa.table(
        {
            "user": [f"u{u}" for u in users],
            "item": [f"i{i}" for i in items],
            "score": rng.choice([0.1, 0.3, 0.7, 1.9], n),
            "day": day_of,
        }
    )

    def write(folder: str, order: np.ndarray) -> list[str]:
        shuffled = table.take(order)
        urls = []
        for k, day in enumerate(days):
            rows = shuffled.filter(pc.equal(shuffled["day"], k)).drop_columns(["day"])
            rows = rows.group_by(["user", "item"]).aggregate([("score", "sum")])
            rows = rows.rename_columns(["user", "item", "score"])
            path = tmp_path / folder / f"date={day.isoformat()}" / "part-0.parquet"
            path.parent.mkdir(parents=True)
            pq.write_table(rows, path)
            urls.append(str(path))
        return urls

    first = build_matrix(
        write("a", np.arange(n)),
        min_items=1,
        max_items=10**6,
        threads=1,
        half_life_days=half_life,
    )
    again = build_matrix(
        write("b", rng.permutation(n)),
        min_items=1,
        max_items=10**6,
        threads=4,
        half_life_days=half_life,
    )
    assert first.popularity.equals(again.popularity)
    assert np.array_equal(first.matrix.data, again.matrix.data)
    assert np.array_equal(first.matrix.indices, again.matrix.indices)
