"""rp3beta against a hand-worked walk and a direct dense NumPy formula."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp

from dimrec.params import TrainParams
from dimrec.train.local import rp3beta
from dimrec.train.neighbours import Neighbours


def lists(n: Neighbours) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    for i, j, s in zip(n.item.tolist(), n.neighbour.tolist(), n.similarity.tolist(), strict=True):
        out.setdefault(i, []).append((j, s))
    return out


def dense_rp3beta(x: npt.NDArray[np.float64], alpha: float, beta: float) -> npt.NDArray[np.float64]:
    """W = (P_iu^α · P_ui^α) / popularity(j)^β, diagonal 0, straight from the definition:
    P_ui is X normalised per user, P_iu the binarised Xᵀ normalised per item."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p_ui = np.nan_to_num(x / x.sum(axis=1, keepdims=True))
        binary = (x > 0).astype(float)
        degree = binary.sum(axis=0)
        p_iu = np.nan_to_num(binary.T / degree[:, None])
        penalty = np.where(degree > 0, degree ** (-beta), 0.0)
    w = (p_iu**alpha) @ (p_ui**alpha) * penalty[None, :]
    np.fill_diagonal(w, 0.0)
    return w


def expected_lists(w: npt.NDArray[np.float64], top_k: int) -> dict[int, list[tuple[int, float]]]:
    out = {}
    for i, row in enumerate(w):
        order = [j for j in np.lexsort((np.arange(len(row)), -row)) if row[j] > 0][:top_k]
        if order:
            out[i] = [(int(j), float(row[j])) for j in order]
    return out


def assert_same(got: Neighbours, expected: dict[int, list[tuple[int, float]]]) -> None:
    actual = lists(got)
    assert sorted(actual) == sorted(expected)
    for item, pairs in expected.items():
        assert [j for j, _ in actual[item]] == [j for j, _ in pairs], item
        np.testing.assert_allclose([s for _, s in actual[item]], [s for _, s in pairs], rtol=1e-12)


def test_hand_worked_walk() -> None:
    # u0 touched items 0 and 1, u1 items 1 and 2 (all weight 1).
    x = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    # β = 0: item 0 → u0 (1) → items 0, 1 (½ each): W[0] = [·, ½, 0]
    # item 1 → u0, u1 (½ each) → W[1] = [¼, ·, ¼]; item 2 → u1 → W[2] = [0, ½, ·]
    plain = rp3beta.compute_rp3beta_neighbours(x, TrainParams(rp3_alpha=1.0, rp3_beta=0.0))
    assert lists(plain) == {0: [(1, 0.5)], 1: [(0, 0.25), (2, 0.25)], 2: [(1, 0.5)]}
    # β = 1 divides by popularity [1, 2, 1]; the lists are no longer symmetric in value.
    damped = rp3beta.compute_rp3beta_neighbours(x, TrainParams(rp3_alpha=1.0, rp3_beta=1.0))
    assert lists(damped) == {0: [(1, 0.25)], 1: [(0, 0.25), (2, 0.25)], 2: [(1, 0.25)]}


def test_walk_follows_scores_but_counts_users_for_popularity() -> None:
    # u0 weighs item 1 three times item 0: the user → item step follows the scores.
    x = sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 2.0]]))
    got = lists(rp3beta.compute_rp3beta_neighbours(x, TrainParams(rp3_alpha=1.0, rp3_beta=0.0)))
    # item 0 → u0 → item 1 with 3/4; item 1 → u0 (½) → item 0 with ¼: ⅛.
    assert got == {0: [(1, 0.75)], 1: [(0, 0.125)]}


@pytest.mark.parametrize(
    ("alpha", "beta", "top_k"), [(1.0, 0.0, 100), (0.6, 0.4, 5), (1.3, 0.8, 3), (0.5, 0.25, 1)]
)
@pytest.mark.parametrize("block_entries", [10**9, 40])
@pytest.mark.parametrize("threads", [1, 2])
def test_matches_dense_formula(
    alpha: float,
    beta: float,
    top_k: int,
    block_entries: int,
    threads: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rp3beta, "BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(7)
    dense = (rng.random((60, 25)) < 0.2) * rng.choice([0.5, 2.0, 6.0, 8.5], size=(60, 25))
    dense[5] = 0.0  # a user with nothing
    dense[:, 7] = 0.0  # an item nobody touched
    params = TrainParams(algorithm="rp3beta", rp3_alpha=alpha, rp3_beta=beta, top_k=top_k)
    got = rp3beta.compute_rp3beta_neighbours(sp.csr_matrix(dense), params, threads=threads)
    assert_same(got, expected_lists(dense_rp3beta(dense, alpha, beta), top_k))


@pytest.mark.parametrize("dense_share", [0.0, 1.1])
def test_dense_and_sparse_ranking_agree(
    dense_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rp3beta, "DENSE_SHARE", dense_share)
    rng = np.random.default_rng(3)
    dense = (rng.random((80, 30)) < 0.3).astype(float)
    params = TrainParams(algorithm="rp3beta", top_k=4, rp3_alpha=1.0, rp3_beta=0.0)
    got = rp3beta.compute_rp3beta_neighbours(sp.csr_matrix(dense), params)
    assert_same(got, expected_lists(dense_rp3beta(dense, 1.0, 0.0), 4))


def test_ties_break_by_neighbour_id_at_the_cut() -> None:
    # Items 1..4 are each touched once by the only user of item 0: equal weights from 0.
    x = sp.csr_matrix(np.array([[1.0, 1.0, 1.0, 1.0, 1.0]]))
    got = lists(rp3beta.compute_rp3beta_neighbours(x, TrainParams(top_k=2)))
    assert [j for j, _ in got[0]] == [1, 2]
    assert [j for j, _ in got[4]] == [0, 1]


def test_progress_reaches_every_item(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rp3beta, "BLOCK_ENTRIES", 20)
    x = sp.csr_matrix((np.random.default_rng(1).random((30, 12)) < 0.4).astype(float))
    calls: list[tuple[int, int]] = []
    rp3beta.compute_rp3beta_neighbours(x, TrainParams(), progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 1
    assert calls[-1] == (12, 12)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
