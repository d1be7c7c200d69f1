"""BM25 / TF-IDF weighting of the user × item matrix: known answers, and the local engine
applies it before any algorithm's kernel."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import scipy.sparse as sp
from train_helpers import hand_profiles, write_events

from dimrec import pipeline
from dimrec.config import Settings
from dimrec.train.local.ease import compute_ease_neighbours
from dimrec.train.local.weighting import apply_weighting, bm25_weight, tfidf_weight

# 3 users × 4 items; user 0 touched 1 item, user 1 two, user 2 all four.
X = sp.csr_matrix(
    np.array([[4.0, 0, 0, 0], [1.0, 9.0, 0, 0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float64)
)


def test_tfidf_by_hand() -> None:
    # idf(user) = ln(4 items) − ln(1 + items of the user): ln 2, ln(4/3), ln(4/5) < 0 → 0.
    got = tfidf_weight(X).toarray()
    expected = np.array(
        [
            [2 * math.log(2), 0, 0, 0],
            [1 * math.log(4 / 3), 3 * math.log(4 / 3), 0, 0],
            [0, 0, 0, 0],
        ]
    )
    np.testing.assert_allclose(got, expected)


def test_bm25_by_hand() -> None:
    # Item totals 6, 10, 1, 1 (mean 4.5); norm(item) = 0.25 + 0.75 · total / 4.5.
    got = bm25_weight(X, k1=1.2, b=0.75).toarray()
    norm = 0.25 + 0.75 * np.array([6.0, 10.0, 1.0, 1.0]) / 4.5
    idf = np.array([math.log(2), math.log(4 / 3), 0.0])
    dense = X.toarray()
    expected = np.where(dense > 0, dense * 2.2 / (1.2 * norm[None, :] + dense) * idf[:, None], 0.0)
    np.testing.assert_allclose(got, expected)


def test_none_is_the_same_matrix() -> None:
    assert apply_weighting(X, "none") is X
    with pytest.raises(ValueError, match="unknown weighting"):
        apply_weighting(X, "log")  # type: ignore[arg-type]


def test_engine_weights_the_matrix_before_ease(settings: Settings) -> None:
    day = dt.date(2026, 5, 1)
    rows = [
        (f"u{u}", f"i{i}", "purchase" if (u + i) % 3 else "browse")
        for u in range(12)
        for i in range(6)
        if (u * 7 + i * 3) % 5 < 3
    ]
    write_events(settings, {day: rows})
    params = settings.train_params(algorithm="ease", weighting="tfidf", max_items=10)
    params = params.model_copy(update={"ease_lambda": 2.0})
    model = pipeline.train(settings, days_init=0, days_end=0, as_of=day, params=params)
    # The same by hand: the window matrix (users and items sorted by id), TF-IDF, ease.
    scores = hand_profiles({day: rows})
    users = sorted({u for u, _ in scores})
    items = sorted({i for _, i in scores})
    dense = np.zeros((len(users), len(items)))
    for (u, i), s in scores.items():
        dense[users.index(u), items.index(i)] = s
    expected = compute_ease_neighbours(tfidf_weight(sp.csr_matrix(dense)), params)
    got = model.neighbours().to_pylist()
    assert [(r["item"], r["neighbour"]) for r in got] == [
        (items[i], items[j]) for i, j in zip(expected.item, expected.neighbour, strict=True)
    ]
    np.testing.assert_allclose([r["similarity"] for r in got], expected.similarity, rtol=1e-9)
