"""DIMSUM of the local engine: exact at γ = ∞, the sampling distribution, seeds and threads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from dimrec.evaluate.datasets import load_dataset
from dimrec.evaluate.interactions import Interactions
from dimrec.params import DEFAULT_WEIGHTS, TrainParams
from dimrec.train.dimsum import (
    DIMSUM_FROM_PRODUCTS,
    DIMSUM_MAX_SHARE,
    choose_cosine,
    column_norms,
    dimsum_gamma,
    dimsum_products,
    exact_products,
    fixed_point_bits,
    scaled_matrix,
)
from dimrec.train.local.cosine import compute_neighbours
from dimrec.train.neighbours import Neighbours


def shop_matrix(
    n_users: int,
    n_items: int,
    seed: int,
    *,
    themes: int = 20,
    binary: bool = False,
    weights: tuple[float, float, float] = (0.5, 2.0, 6.0),
) -> sp.csr_matrix:
    """Shoppers with 3..12 items each: 80% from their favourite theme, 20% from anywhere,
    item popularity Zipf (1/rank) in both; scores browse, basket or purchase (``weights``:
    0.5, 2 and 6 by default), summed when an item recurs."""
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
    scores = np.ones(len(rows)) if binary else rng.choice(weights, len(rows), p=[0.6, 0.3, 0.1])
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
    return dense(
        compute_neighbours(
            matrix, TrainParams.model_validate({"algorithm": "exact", "top_k": n_items, **params})
        ),
        n_items,
    )


def assert_same(a: Neighbours, b: Neighbours) -> None:
    np.testing.assert_array_equal(a.item, b.item)
    np.testing.assert_array_equal(a.neighbour, b.neighbour)
    np.testing.assert_array_equal(a.similarity, b.similarity)


@pytest.mark.parametrize("threshold", [0.0, 1e-6])
def test_dimsum_with_infinite_gamma_equals_exact_bit_for_bit(threshold: float) -> None:
    matrix = shop_matrix(3000, 150, seed=1)
    assert math.isinf(dimsum_gamma(threshold, 150))
    for top_k in (5, 150):
        exact = compute_neighbours(matrix, TrainParams(algorithm="exact", top_k=top_k))
        dimsum = compute_neighbours(
            matrix, TrainParams(top_k=top_k, algorithm="dimsum", threshold=threshold, seed=9)
        )
        assert len(exact) > 0
        assert_same(exact, dimsum)


def unit_entries(matrix: sp.csr_matrix) -> np.ndarray:
    """x = a/‖c‖ of every entry, in NumPy."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    return matrix.data / norms[matrix.indices]


def test_dimsum_keeps_each_entry_in_proportion_to_its_share_of_the_column() -> None:
    """An entry of unit score x = a/‖c‖ is kept with probability min(1, γ·x) and then worth
    max(x, 1/γ): entries with γ·x ≥ 1 are all kept as they are; the others are drawn, and a
    column keeps Σ γ·x of them on average."""
    matrix = shop_matrix(10_000, 300, seed=2)
    gamma = dimsum_gamma(0.1, 300)
    unit = unit_entries(matrix)
    scaled = scaled_matrix(matrix, gamma, seed=0)
    sure = gamma * unit >= 1.0
    assert sure.sum() > 1000
    assert (~sure).sum() > 10_000
    assert scaled.sampled_items == len(np.unique(matrix.indices[~sure])) > 50
    assert scaled.entries_kept < scaled.entries_in
    # Same rows: the kept entries are a subset of the input's, each with its value.
    kept = scaled.matrix.tocoo()
    position = {(r, c): n for n, (r, c) in enumerate(zip(*matrix.nonzero(), strict=True))}
    index = np.array([position[(r, c)] for r, c in zip(kept.row, kept.col, strict=True)])
    np.testing.assert_array_equal(kept.data, np.maximum(unit[index], 1 / gamma))
    assert set(np.flatnonzero(sure)) <= set(index)
    # Drawn entries: kept counts per column within 5 standard deviations of Σ γ·x.
    drawn_kept = np.zeros(matrix.nnz, dtype=bool)
    drawn_kept[index] = True
    p = np.where(sure, 1.0, gamma * unit)
    columns = matrix.indices
    expected = np.bincount(columns, weights=p * ~sure, minlength=300)
    got = np.bincount(columns, weights=drawn_kept & ~sure, minlength=300)
    spread = np.sqrt(np.bincount(columns, weights=p * (1 - p), minlength=300))
    assert np.all(np.abs(got - expected) <= 5 * spread + 1)


def test_dimsum_estimates_have_the_schemes_mean_and_variance() -> None:
    """Over 24 seeds, every estimate of a similarity ≥ 0.1 averages to the exact cosine, with
    the variance the scheme implies: in each row the pair is emitted with probability
    P_r = p_ri·p_rj (independent draws, p = min(1, γ·x), x = a/‖c‖), contributing
    w_r = b_ri·b_rj (b = max(x, 1/γ)), so Var = Σ_r w_r²·P_r·(1 − P_r)."""
    n_items, threshold, seeds = 300, 0.1, 24
    matrix = shop_matrix(10_000, n_items, seed=3)
    exact = all_pairs(matrix)
    pairs = np.argwhere(np.triu(exact >= threshold, 1))
    assert len(pairs) > 200

    gamma = math.sqrt(100 / threshold)  # 10·ln(300) < 100: γ² = 100/t
    assert gamma == dimsum_gamma(threshold, n_items)
    unit = sp.csr_matrix((unit_entries(matrix), matrix.indices, matrix.indptr)).toarray()
    p = np.where(unit > 0, np.minimum(1.0, gamma * unit), 0.0)
    b = np.maximum(unit, 1 / gamma)
    emit = p[:, pairs[:, 0]] * p[:, pairs[:, 1]]
    weight = b[:, pairs[:, 0]] * b[:, pairs[:, 1]]
    variance = (weight**2 * emit * (1 - emit)).sum(axis=0)
    sampled = variance > 0
    assert sampled.sum() > 200  # sampling happens, for most of these pairs

    estimates = np.array(
        [
            all_pairs(matrix, algorithm="dimsum", threshold=threshold, seed=seed)[
                pairs[:, 0], pairs[:, 1]
            ]
            for seed in range(seeds)
        ]
    )
    truth = exact[pairs[:, 0], pairs[:, 1]]
    z = (estimates.mean(axis=0) - truth)[sampled] / np.sqrt(variance[sampled] / seeds)
    assert np.mean(np.abs(z) <= 4) >= 0.99  # unbiased
    assert abs(z.mean()) < 0.5
    ratio = estimates.var(axis=0, ddof=1)[sampled] / variance[sampled]
    assert 0.8 <= ratio.mean() <= 1.25  # and exactly as spread as the scheme says
    # Pairs whose entries are all kept are exact, up to the 12-decimal rounding.
    np.testing.assert_allclose(
        estimates[:, ~sampled],
        np.broadcast_to(truth[~sampled], estimates[:, ~sampled].shape),
        atol=1e-11,
    )


def within_20_percent(matrix: sp.csr_matrix, seed: int, threshold: float = 0.1) -> float:
    """The share of the pairs with cosine ≥ threshold whose estimate is within 20% (a pair
    left out counts as an error of 100%)."""
    exact = all_pairs(matrix)
    estimate = all_pairs(matrix, algorithm="dimsum", threshold=threshold, seed=seed)
    above = exact >= threshold
    assert above.sum() > 200
    return float(np.mean(np.abs(estimate[above] - exact[above]) <= 0.2 * exact[above]))


def test_dimsum_threshold_01_binary_scores_within_20_percent() -> None:
    """With 0/1 scores the sampling is DIMSUM's (p = γ/‖c‖): a pair of sampled items is
    emitted about γ²·cos ≥ 10·ln(n) ≈ 69 times; 0.92–0.96 with MLlib's γ on this data, with
    the floor γ²·t ≥ 100 ≥ 0.99."""
    matrix = shop_matrix(40_000, 1000, seed=4, themes=50, binary=True)
    assert (column_norms(matrix) > dimsum_gamma(0.1, 1000)).sum() > 50
    assert within_20_percent(matrix, seed=0) >= 0.95


@pytest.mark.parametrize(
    "weights",
    [
        (0.5, 2.0, 6.0),  # the default action weights: ≈ 0.41 with MLlib's sampling
        (1 / 12, 1 / 3, 1.0),  # the same divided by 6
        (50.0, 200.0, 600.0),  # × 100
        (0.01, 1.0, 100.0),  # a 10,000-fold spread
    ],
)
def test_dimsum_threshold_01_is_within_20_percent_for_95_percent_whatever_the_weights(
    weights: tuple[float, float, float],
) -> None:
    matrix = shop_matrix(20_000, 400, seed=5, weights=weights)
    scaled = scaled_matrix(matrix, dimsum_gamma(0.1, 400), seed=0)
    assert scaled.entries_kept < 0.7 * scaled.entries_in  # sampling happens
    assert within_20_percent(matrix, seed=0) >= 0.95


@pytest.mark.parametrize("factor", [6.0, 1 / 6, 1e-3, 1e4])
def test_dimsum_scores_times_c_give_the_same_sample(factor: float) -> None:
    """Multiplying every score by c (or the scores of some items by their own c) keeps the
    same entries with the same values: the same model, to the rounding of the norms."""
    matrix = shop_matrix(10_000, 300, seed=8)
    gamma = dimsum_gamma(0.1, 300)
    scaled = scaled_matrix(matrix, gamma, seed=4)
    assert scaled.entries_kept < 0.8 * scaled.entries_in
    per_item = np.where(np.arange(300) % 3 == 0, factor, 1.0)
    for other in (matrix * factor, matrix @ sp.diags(per_item)):
        other = sp.csr_matrix(other)
        other.sort_indices()
        again = scaled_matrix(other, gamma, seed=4)
        np.testing.assert_array_equal(again.matrix.indptr, scaled.matrix.indptr)
        np.testing.assert_array_equal(again.matrix.indices, scaled.matrix.indices)
        np.testing.assert_allclose(again.matrix.data, scaled.matrix.data, rtol=1e-13)
        params = TrainParams(top_k=20, algorithm="dimsum", threshold=0.1, seed=4)
        first, second = compute_neighbours(matrix, params), compute_neighbours(other, params)
        np.testing.assert_array_equal(second.item, first.item)
        np.testing.assert_allclose(second.similarity, first.similarity, rtol=0, atol=2e-12)


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
    params = TrainParams(algorithm="exact", top_k=15)
    assert_same(
        compute_neighbours(matrix, params, threads=1), compute_neighbours(matrix, params, threads=2)
    )


@pytest.mark.parametrize(
    ("entries", "gamma", "bits"),
    [
        (10**9, math.inf, 52),  # exact: every column has unit norm
        (30, math.sqrt(10.0), 59),  # ‖b‖² ≤ 1 + 30/10 = 4 = 2**2
        (10**6, 10.0, 47),  # ‖b‖² ≤ 10,001 < 2**14
    ],
)
def test_fixed_point_bits_leave_room_for_the_largest_sum(
    entries: int, gamma: float, bits: int
) -> None:
    got = fixed_point_bits(entries, gamma)
    assert got == min(bits, 52)
    largest = (1 + entries / gamma**2) * 2.0**got
    assert largest < 2.0**61


def test_sampled_sums_fit_the_fixed_point_range() -> None:
    """The largest sum of BᵀB stays below 2**61 units: the bound holds for sampled columns."""
    matrix = shop_matrix(5000, 200, seed=9)
    scaled = scaled_matrix(matrix, 0.5, seed=1)
    gram = (scaled.matrix.T @ scaled.matrix).toarray()
    assert gram.max() * 2.0**scaled.bits < 2.0**61
    assert gram.max() > 1  # sampled columns outgrow unit norm: fewer bits were needed
    assert scaled.bits < 52


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["movielens-100k", "movielens-small", "online-retail", "ga360-sample"]
)
@pytest.mark.parametrize("threshold", [0.1, 0.5])
def test_dimsum_keeps_its_promise_on_the_real_data_sets(
    shared_data: Path, name: str, threshold: float
) -> None:
    """Users × items of each public data set with the default action weights and no user
    filter: ≥ 95% of the pairs ≥ threshold are estimated within 20% (a pair left out counts
    as an error of 100%), over the rows of 1,500 items drawn at random (each pair is as
    likely to be counted as in a full count)."""
    events = Interactions.from_table(load_dataset(name, shared_data))
    matrix = events.matrix(events.scores(DEFAULT_WEIGHTS))
    matrix.sort_indices()
    n_items = matrix.shape[1]
    chosen = np.sort(np.random.default_rng(0).choice(n_items, min(n_items, 1500), replace=False))
    unit = scaled_matrix(matrix, math.inf, seed=0).matrix.tocsc()
    sampled = scaled_matrix(matrix, dimsum_gamma(threshold, n_items), seed=0)
    estimated = sampled.matrix.tocsc()
    exact = (unit[:, chosen].T @ unit).tocoo()
    above = (exact.data >= threshold) & (chosen[exact.row] != exact.col)
    rows, cols, truth = exact.row[above], exact.col[above], exact.data[above]
    estimate = np.asarray((estimated[:, chosen].T @ estimated).tocsr()[rows, cols]).ravel()
    assert len(truth) > 1000
    within = np.abs(estimate - truth) <= 0.2 * truth
    assert within.mean() >= 0.95, (within.mean(), sampled.entries_kept / sampled.entries_in)


def test_products_of_exact_and_dimsum_are_known_before_sampling() -> None:
    """Exact cosine adds Σ n(n−1)/2 products (n: a user's items); DIMSUM's expected count,
    from the keep probabilities alone, is the mean of what sampling then adds."""
    matrix = shop_matrix(10_000, 300, seed=10)
    lengths = np.diff(matrix.indptr)
    assert exact_products(lengths) == sum(n * (n - 1) // 2 for n in lengths.tolist())
    expected = dimsum_products(matrix, 0.1)
    kept = []
    for seed in range(10):
        rows = np.diff(scaled_matrix(matrix, dimsum_gamma(0.1, 300), seed).matrix.indptr)
        kept.append(exact_products(rows))
    assert expected < 0.8 * exact_products(lengths)
    assert abs(np.mean(kept) - expected) <= 0.01 * expected
    assert dimsum_products(matrix, 0.0) == exact_products(lengths)  # threshold 0: exact


@pytest.mark.parametrize(
    ("exact", "dimsum", "chosen"),
    [
        (DIMSUM_FROM_PRODUCTS, DIMSUM_MAX_SHARE * DIMSUM_FROM_PRODUCTS, "dimsum"),
        (DIMSUM_FROM_PRODUCTS, 0.6 * DIMSUM_FROM_PRODUCTS, "exact"),  # saves too little
        (0.9 * DIMSUM_FROM_PRODUCTS, 0.0, "exact"),  # small enough for exact
    ],
)
def test_cosine_takes_dimsum_only_when_exact_is_large_and_sampling_saves_half(
    exact: float, dimsum: float, chosen: str
) -> None:
    asked: list[bool] = []

    def sampled() -> float:
        asked.append(True)
        return dimsum

    assert choose_cosine(exact, sampled) == chosen
    assert asked == ([True] if exact >= DIMSUM_FROM_PRODUCTS else [])  # computed only if needed
