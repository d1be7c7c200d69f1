"""The local engine's compiled DIMSUM sample is ``dimsum.scaled_matrix``'s, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from dimrec.train import dimsum
from dimrec.train.dimsum import dimsum_gamma, scaled_matrix
from dimrec.train.local import sampling
from dimrec.train.local.cosine import _canonical
from dimrec.train.local.sampling import sampled_matrix


def shop(seed: int, users: int = 3000, items: int = 400) -> sp.csr_matrix:
    """Zipf-popular items, 0.5/2/6 scores, some empty rows and columns."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1)
    dense = np.zeros((users, items))
    for user in range(users):
        if user % 17 == 0:
            continue  # an empty row
        chosen = rng.choice(items, size=rng.integers(1, 15), p=popularity / popularity.sum())
        dense[user, chosen] = rng.choice([0.5, 2.0, 6.0], size=len(chosen))
    return _canonical(sp.csr_matrix(dense))


def assert_same_sample(matrix: sp.csr_matrix, gamma: float, seed: int) -> int:
    expected = scaled_matrix(matrix, gamma, seed)
    got = sampled_matrix(matrix, gamma, seed)
    for name in ("indptr", "indices"):
        assert np.array_equal(getattr(got.matrix, name), getattr(expected.matrix, name)), name
    assert got.matrix.indptr.dtype == expected.matrix.indptr.dtype
    assert np.array_equal(got.matrix.data.view(np.int64), expected.matrix.data.view(np.int64))
    for name in ("gamma", "sampled_items", "entries_in", "entries_kept", "bits"):
        assert getattr(got, name) == getattr(expected, name), name
    return expected.sampled_items


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 7, -3])
def test_the_compiled_sample_is_scaled_matrix_bit_for_bit(threshold: float, seed: int) -> None:
    matrix = shop(seed=abs(seed))
    sampled = assert_same_sample(matrix, dimsum_gamma(threshold, matrix.shape[1]), seed)
    assert sampled > 10  # popular columns are sampled indeed


def test_the_same_across_runs_of_rows_and_when_nothing_is_sampled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows sampled in many runs (draws taken per run) give the one stream of draws; with a
    γ so large that every entry is kept for sure, values stay the unit scores, as in
    scaled_matrix (not raised to 1/γ)."""
    matrix = shop(seed=3)
    monkeypatch.setattr(sampling, "_ENTRIES_PER_RUN", 1000)
    assert assert_same_sample(matrix, dimsum_gamma(0.1, matrix.shape[1]), 5) > 10
    assert assert_same_sample(matrix, 1e9, 5) == 0


def test_an_empty_matrix_and_the_exact_case() -> None:
    empty = _canonical(sp.csr_matrix((4, 3)))
    assert assert_same_sample(empty, 2.0, 1) == 0
    with pytest.raises(ValueError, match="not sampled"):
        sampled_matrix(empty, float("inf"), 1)


def test_draws_do_not_depend_on_how_they_are_taken() -> None:
    """What makes runs of any length give the same sample."""
    one = dimsum.draws(11).random(1000)
    generator = dimsum.draws(11)
    parts = np.concatenate([generator.random(n) for n in (0, 3, 400, 1, 596)])
    assert np.array_equal(one, parts)
