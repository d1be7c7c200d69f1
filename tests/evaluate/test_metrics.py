"""Ranking metrics on rankings worked by hand, and the paired bootstrap on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from dimrec.evaluate.metrics import coverage, paired_bootstrap, per_shopper, relevance


def targets_of(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


RANKED = np.array(
    [
        [3, 1, 7, -1],  # targets {1, 7, 9}: hits at ranks 2 and 3
        [5, -1, -1, -1],  # targets {5}: a hit at rank 1, then nothing recommended
        [0, 2, 4, 6],  # targets {8}: no hit
    ]
)
TARGETS = targets_of([[1, 7, 9], [5], [8]])


def test_relevance() -> None:
    rel = relevance(RANKED, TARGETS)
    assert rel.tolist() == [
        [False, True, True, False],
        [True, False, False, False],
        [False, False, False, False],
    ]


def test_metrics_at_3_by_hand() -> None:
    rel = relevance(RANKED, TARGETS)
    m = per_shopper(rel, np.diff(TARGETS.indptr), 3)
    d2, d3 = 1 / math.log2(3), 1 / math.log2(4)
    assert m["hr"].tolist() == [1.0, 1.0, 0.0]
    np.testing.assert_allclose(m["precision"], [2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(m["recall"], [2 / 3, 1.0, 0.0])
    # DCG = 1/log2(3) + 1/log2(4); ideal with 3 targets = 1 + 1/log2(3) + 1/log2(4).
    np.testing.assert_allclose(m["ndcg"], [(d2 + d3) / (1 + d2 + d3), 1.0, 0.0])
    # AP@3: (P@2 + P@3) / min(3, 3) = (1/2 + 2/3) / 3.
    np.testing.assert_allclose(m["map"], [(1 / 2 + 2 / 3) / 3, 1.0, 0.0])


def test_metrics_at_1_and_beyond_the_ranking() -> None:
    rel = relevance(RANKED, TARGETS)
    sizes = np.diff(TARGETS.indptr)
    at1 = per_shopper(rel, sizes, 1)
    assert at1["hr"].tolist() == [0.0, 1.0, 0.0]
    assert at1["ndcg"].tolist() == [0.0, 1.0, 0.0]
    # k = 6 is longer than the rankings: the missing ranks count as misses.
    at6 = per_shopper(rel, sizes, 6)
    np.testing.assert_allclose(at6["precision"], [2 / 6, 1 / 6, 0.0])
    np.testing.assert_allclose(at6["map"], [(1 / 2 + 2 / 3) / 3, 1.0, 0.0])


def test_ndcg_ideal_is_capped_at_k() -> None:
    # 5 targets, k = 2, both top items relevant: perfect at k, NDCG 1 and MAP 1.
    ranked = np.array([[0, 1]])
    rel = relevance(ranked, targets_of([[0, 1, 2, 3, 4]]))
    m = per_shopper(rel, np.array([5]), 2)
    assert m["ndcg"][0] == pytest.approx(1.0)
    assert m["map"][0] == pytest.approx(1.0)
    assert m["recall"][0] == pytest.approx(2 / 5)


def test_coverage() -> None:
    # Distinct recommended items in the top 2: {3, 1, 5, 0, 2} = 5 of a catalogue of 10.
    assert coverage(RANKED, 2, 10) == pytest.approx(0.5)
    assert coverage(RANKED, 4, 10) == pytest.approx(0.8)


def test_bootstrap_of_identical_and_shifted_systems() -> None:
    a = np.random.default_rng(0).random(500)
    same = paired_bootstrap(a, a)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)
    assert not same.significant
    shifted = paired_bootstrap(a + 0.25, a)
    assert shifted.mean == pytest.approx(0.25)
    assert shifted.low == pytest.approx(0.25)
    assert shifted.high == pytest.approx(0.25)
    assert shifted.significant


def test_bootstrap_interval_has_the_normal_width() -> None:
    # Differences with mean 0.5 and sd 1 over 1,000 shoppers: the 95% interval is about
    # ±1.96/sqrt(1000) = ±0.062 around the sample mean.
    rng = np.random.default_rng(1)
    b = rng.random(1000)
    a = b + rng.normal(0.5, 1.0, 1000)
    d = paired_bootstrap(a, b, samples=4000, seed=3)
    assert d.low < d.mean < d.high
    assert d.high - d.low == pytest.approx(2 * 1.96 / math.sqrt(1000), rel=0.15)
    assert d.low < 0.5 < d.high


def test_bootstrap_needs_pairs() -> None:
    with pytest.raises(ValueError, match="same shoppers"):
        paired_bootstrap([1.0, 2.0], [1.0])
