"""DIMSUM of the local engine: exact at γ = ∞, the sampling distribution, seeds and threads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from dimrec.params import TrainParams
from dimrec.train.dimsum import column_norms, dimsum_gamma, fixed_point_bits, scaled_matrix
from dimrec.train.local.cosine import compute_neighbours
from dimrec.train.neighbours import Neighbours

SHOP_WEIGHTS = np.array([0.5, 2.0, 6.0])  # browse, basket, purchase


def shop_matrix(
    n_users: int, n_items: int, seed: int, *, themes: int = 20, binary: bool = False
) -> sp.csr_matrix:
    """Shoppers with 3..12 items each: 80% from their favourite theme, 20% from anywhere,
    item popularity Zipf (1/rank) in both; scores browse 0.5, basket 2 or purchase 6."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    popularity = popularity[rng.permutation(n_items)]
    theme_of_item = rng.integers(0, themes, n_items)
    theme_weight = 1.0 / np.arange(1, themes + 1)
    theme_of_user = rng.choice(themes, n_users, p=theme_weight / theme_weight.sum())
    per_user = rng.integers(3, 13, n_users)
    rows = np.repeat(np.arange(n_users), per_user)
    items = np.empty(len(rows), dtype=np.int64)
    anywhere = rng.random(len(rows)) < 0.2
    for theme in range(-1, themes):
        members = np.arange(n_items) if theme < 0 else np.flatnonzero(theme_of_item == theme)
        if theme < 0:
            slots = np.flatnonzero(anywhere)
        else:
            slots = np.flatnonzero(~anywhere & (np.repeat(theme_of_user, per_user) == theme))
        cdf = np.cumsum(popularity[members])
        picks = np.searchsorted(cdf, rng.random(len(slots)) * cdf[-1])
        items[slots] = members[np.minimum(picks, len(members) - 1)]
    scores = (
        np.ones(len(rows)) if binary else rng.choice(SHOP_WEIGHTS, len(rows), p=[0.6, 0.3, 0.1])
    )
    matrix = sp.csr_matrix((scores, (rows, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    return matrix


def dense(neighbours: Neighbours, n_items: int) -> np.ndarray:
    out = np.zeros((n_items, n_items))
    out[neighbours.item, neighbours.neighbour] = neighbours.similarity
    return out


def all_pairs(matrix: sp.csr_matrix, **params: object) -> np.ndarray:
    """Every estimated similarity: top_k = number of items, so nothing is cut."""
    n_items = matrix.shape[1]
    return dense(compute_neighbours(matrix, TrainParams(top_k=n_items, **params)), n_items)


def assert_same(a: Neighbours, b: Neighbours) -> None:
    np.testing.assert_array_equal(a.item, b.item)
    np.testing.assert_array_equal(a.neighbour, b.neighbour)
    np.testing.assert_array_equal(a.similarity, b.similarity)


@pytest.mark.parametrize("threshold", [0.0, 1e-6])
def test_dimsum_with_infinite_gamma_equals_exact_bit_for_bit(threshold: float) -> None:
    matrix = shop_matrix(3000, 150, seed=1)
    assert math.isinf(dimsum_gamma(threshold, 150))
    for top_k in (5, 150):
        exact = compute_neighbours(matrix, TrainParams(top_k=top_k))
        dimsum = compute_neighbours(
            matrix, TrainParams(top_k=top_k, algorithm="dimsum", threshold=threshold, seed=9)
        )
        assert len(exact) > 0
        assert_same(exact, dimsum)


def test_dimsum_samples_the_popular_columns_only() -> None:
    matrix = shop_matrix(10_000, 300, seed=2)
    gamma = dimsum_gamma(0.1, 300)
    norms = column_norms(matrix)
    scaled = scaled_matrix(matrix, gamma, seed=0)
    assert scaled.sampled_items == int((norms > gamma).sum()) > 0
    assert scaled.entries_kept < scaled.entries_in
    # Columns at or below γ keep every entry, scaled to unit norm.
    small = np.flatnonzero((norms <= gamma) & (norms > 0))
    np.testing.assert_allclose(column_norms(scaled.matrix)[small], 1.0)
    # A sampled column keeps each entry with probability γ/‖c‖: its expected kept count.
    entries = np.bincount(matrix.indices, minlength=300)
    kept = np.bincount(scaled.matrix.indices, minlength=300)
    big = np.flatnonzero(norms > gamma)
    expected = entries[big] * gamma / norms[big]
    spread = np.sqrt(entries[big] * (gamma / norms[big]) * (1 - gamma / norms[big]))
    assert np.all(np.abs(kept[big] - expected) <= 5 * spread + 1)


def test_dimsum_estimates_have_the_schemes_mean_and_variance() -> None:
    """Over 24 seeds, every estimate of a similarity ≥ 0.1 averages to the exact cosine, with
    the variance the scheme implies: in each row the pair is emitted with probability
    p_i·p_j (independent draws), contributing w_r = a_ri·a_rj/(q_i·q_j), so
    Var = Σ_r w_r²·p_i·p_j·(1 − p_i·p_j), with q_i = min(γ, ‖c_i‖), p_i = min(1, γ/‖c_i‖)."""
    n_items, threshold, seeds = 300, 0.1, 24
    matrix = shop_matrix(10_000, n_items, seed=3)
    exact = all_pairs(matrix)
    pairs = np.argwhere(np.triu(exact >= threshold, 1))
    assert len(pairs) > 200

    gamma = math.sqrt(10 * math.log(n_items) / threshold)
    norms = column_norms(matrix)
    p = np.minimum(1.0, gamma / norms)
    q = np.minimum(gamma, norms)
    assert (p < 1).sum() > 50  # sampling happens, for most of these pairs
    columns = matrix.toarray()
    weights = columns[:, pairs[:, 0]] * columns[:, pairs[:, 1]] / (q[pairs[:, 0]] * q[pairs[:, 1]])
    emit = p[pairs[:, 0]] * p[pairs[:, 1]]
    variance = (weights**2).sum(axis=0) * emit * (1 - emit)
    assert np.all(variance[emit < 1] > 0)

    estimates = np.array(
        [
            all_pairs(matrix, algorithm="dimsum", threshold=threshold, seed=seed)[
                pairs[:, 0], pairs[:, 1]
            ]
            for seed in range(seeds)
        ]
    )
    truth = exact[pairs[:, 0], pairs[:, 1]]
    sampled = emit < 1
    z = (estimates.mean(axis=0) - truth)[sampled] / np.sqrt(variance[sampled] / seeds)
    assert np.mean(np.abs(z) <= 4) >= 0.99  # unbiased
    assert abs(z.mean()) < 0.5
    ratio = estimates.var(axis=0, ddof=1)[sampled] / variance[sampled]
    assert 0.8 <= ratio.mean() <= 1.25  # and exactly as spread as the scheme says
    # Pairs of unsampled items are exact, up to the 12-decimal rounding.
    np.testing.assert_allclose(
        estimates[:, ~sampled],
        np.broadcast_to(truth[~sampled], estimates[:, ~sampled].shape),
        atol=1e-11,
    )


def within_20_percent(matrix: sp.csr_matrix, seed: int) -> float:
    exact = all_pairs(matrix)
    estimate = all_pairs(matrix, algorithm="dimsum", threshold=0.1, seed=seed)
    above = exact >= 0.1
    return float(np.mean(np.abs(estimate[above] - exact[above]) <= 0.2 * exact[above]))


def test_dimsum_threshold_01_binary_scores_within_20_percent() -> None:
    """With 0/1 scores a pair of sampled items is emitted about γ²·cos ≥ 10·ln(n) times, so
    pairs ≥ 0.1 are estimated within 20% for most pairs: 0.96 here (sampling seeds 0..3),
    0.93–0.96 on other data of this shape; the assertion leaves room for that spread."""
    matrix = shop_matrix(40_000, 1000, seed=4, themes=50, binary=True)
    assert (column_norms(matrix) > dimsum_gamma(0.1, 1000)).sum() > 50
    assert within_20_percent(matrix, seed=0) >= 0.92


@pytest.mark.xfail(
    strict=True,
    reason="MLlib's γ = sqrt(10·ln(n)/threshold) does not give 20% relative error for 95% of "
    "the pairs ≥ threshold when scores vary (0.5/2/6): a row's contribution then varies "
    "12-fold, which about doubles the relative spread; measured ≈ 41% within 20% here",
)
def test_dimsum_threshold_01_shop_scores_within_20_percent_for_95_percent() -> None:
    matrix = shop_matrix(20_000, 400, seed=5)
    assert (column_norms(matrix) > dimsum_gamma(0.1, 400)).sum() > 50
    assert within_20_percent(matrix, seed=0) >= 0.95


def test_dimsum_is_reproducible_by_seed_and_independent_of_threads() -> None:
    matrix = shop_matrix(5000, 200, seed=6)
    params = TrainParams(top_k=20, algorithm="dimsum", threshold=0.1, seed=11)
    first = compute_neighbours(matrix, params, threads=1)
    assert_same(first, compute_neighbours(matrix, params, threads=2))
    assert_same(first, compute_neighbours(matrix, params, threads=3))
    other = compute_neighbours(matrix, params.model_copy(update={"seed": 12}), threads=2)
    assert not np.array_equal(first.similarity, other.similarity)
    negative = compute_neighbours(matrix, params.model_copy(update={"seed": -11}), threads=2)
    assert not np.array_equal(first.similarity, negative.similarity)


def test_exact_is_independent_of_threads() -> None:
    matrix = shop_matrix(5000, 200, seed=7)
    params = TrainParams(top_k=15)
    assert_same(
        compute_neighbours(matrix, params, threads=1), compute_neighbours(matrix, params, threads=2)
    )


@pytest.mark.parametrize(
    ("norms", "scale", "bits"),
    [
        ([3.0, 4.0], [3.0, 4.0], 52),  # exact: every scaled column has norm 1
        ([0.0, 8.0, 2.0], [1.0, 2.0, 2.0], 57),  # largest ratio 4: sums ≤ 16 = 2**4
        ([1e6, 1.0], [1.0, 1.0], 21),  # ratio 1e6 < 2**20: sums < 2**40
    ],
)
def test_fixed_point_bits_leave_room_for_the_largest_sum(
    norms: list[float], scale: list[float], bits: int
) -> None:
    got = fixed_point_bits(np.array(norms), np.array(scale))
    assert got == min(bits, 52)
    largest = (max(n / s for n, s in zip(norms, scale, strict=True)) ** 2) * 2.0**got
    assert largest < 2.0**61
