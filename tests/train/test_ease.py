"""ease against a hand-worked 2-item inverse and the direct dense formula of Steck (2019)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
from test_rp3beta import assert_same, expected_lists, lists

from dimrec.errors import InvalidInputError
from dimrec.params import TrainParams
from dimrec.train.local import ease


def dense_ease(x: npt.NDArray[np.float64], lam: float) -> npt.NDArray[np.float64]:
    """B = I − P·diag(1/diag P) with P = (XᵀX + λI)⁻¹, then diag B = 0."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))
    np.fill_diagonal(b, 0.0)
    return b


def test_hand_worked_two_items() -> None:
    # XᵀX = [[2, 1], [1, 1]], λ = 1: G = [[3, 1], [1, 2]], P = G⁻¹ = [[2, -1], [-1, 3]] / 5.
    # B_01 = -P_01 / P_11 = (1/5) / (3/5) = 1/3;  B_10 = -P_10 / P_00 = (1/5) / (2/5) = 1/2.
    x = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0]]))
    got = lists(ease.compute_ease_neighbours(x, TrainParams(algorithm="ease", ease_lambda=1.0)))
    assert got.keys() == {0, 1}
    assert got[0][0][0] == 1
    assert got[0][0][1] == pytest.approx(1 / 3, rel=1e-12)
    assert got[1][0][0] == 0
    assert got[1][0][1] == pytest.approx(1 / 2, rel=1e-12)


@pytest.mark.parametrize(("lam", "top_k"), [(0.5, 100), (3.0, 4), (50.0, 1)])
@pytest.mark.parametrize("block_entries", [10**9, 64])
def test_matches_dense_formula(
    lam: float, top_k: int, block_entries: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ease, "BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(11)
    dense = (rng.random((70, 22)) < 0.25) * rng.choice([0.5, 2.0, 6.0], size=(70, 22))
    params = TrainParams(algorithm="ease", ease_lambda=lam, top_k=top_k)
    got = ease.compute_ease_neighbours(sp.csr_matrix(dense), params)
    # Positive weights only, best first, top-K of each row.
    assert_same(got, expected_lists(dense_ease(dense, lam), top_k))


def test_lists_are_not_symmetric() -> None:
    rng = np.random.default_rng(2)
    dense = (rng.random((40, 10)) < 0.4).astype(float)
    got = lists(ease.compute_ease_neighbours(sp.csr_matrix(dense), TrainParams(ease_lambda=2.0)))
    weight = {(i, j): s for i, pairs in got.items() for j, s in pairs}
    assert any(abs(s - weight.get((j, i), 0.0)) > 1e-6 for (i, j), s in weight.items())


def test_identical_items_get_equal_weights_and_a_stable_cut() -> None:
    # Items 1, 2 and 3 have identical columns, so item 0's weights to them are equal (up to
    # rounding in the inverse); the cut at K = 2 is the same on every run.
    x = sp.csr_matrix(np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]]))
    runs = [
        lists(ease.compute_ease_neighbours(x, TrainParams(ease_lambda=1.0, top_k=2)))
        for _ in range(3)
    ]
    assert runs[0] == runs[1] == runs[2]
    full = lists(ease.compute_ease_neighbours(x, TrainParams(ease_lambda=1.0)))
    weights = [s for _, s in full[0]]
    assert len(weights) == 3
    assert max(weights) == pytest.approx(min(weights), rel=1e-9)


def test_refuses_a_catalogue_above_the_limit() -> None:
    x = sp.csr_matrix(np.ones((3, 5)))
    with pytest.raises(InvalidInputError, match=r"train\.ease_max_items = 4") as caught:
        ease.compute_ease_neighbours(x, TrainParams(ease_max_items=4))
    assert "5 items" in str(caught.value)
    # At the limit it runs.
    assert len(ease.compute_ease_neighbours(x, TrainParams(ease_max_items=5))) > 0
