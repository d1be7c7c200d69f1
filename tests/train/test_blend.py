"""The blend of neighbour tables: worked by hand, and against a dense reference built from
each component's own kernel (every kernel has its own known-answer tests)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp

from dimrec.errors import InvalidInputError
from dimrec.params import TrainParams, train_params
from dimrec.train.local.algorithms import local_neighbours
from dimrec.train.local.blend import blend, component_params, compute_blend_neighbours
from dimrec.train.neighbours import Neighbours
from dimrec.train.sessions import SessionItems
from train.test_rp3beta import expected_lists, lists

#: Components worked by hand: rp3beta lists 0 → {1: 2, 2: 1} and 1 → {0: 4}; cosine lists
#: 0 → {2: 0.5}, 2 → {1: 0.1}.
HAND = {
    "rp3beta": Neighbours.from_unsorted([0, 0, 1], [1, 2, 0], [2.0, 1.0, 4.0]),
    "cosine": Neighbours.from_unsorted([0, 2], [2, 1], [0.5, 0.1]),
}


def hand_blend(scale: str, **update: float) -> Neighbours:
    """1 × rp3beta + 2 × cosine of the HAND components, scaled by ``scale``."""
    params = TrainParams(
        algorithm="blend",
        blend_rp3beta=1.0,
        blend_cosine=2.0,
        blend_sequential=0.0,
        blend_scale=scale,
    ).model_copy(update=update)
    return blend(params, lambda part: HAND[part.algorithm], 3)


def test_hand_worked_blend() -> None:
    # Each row divided by its largest value, then 1 × rp3beta + 2 × cosine:
    # row 0: 1 → 1·(2/2) = 1, 2 → 1·(1/2) + 2·(0.5/0.5) = 2.5; row 1: 0 → 1; row 2: 1 → 2.
    assert lists(hand_blend("row")) == {0: [(2, 2.5), (1, 1.0)], 1: [(0, 1.0)], 2: [(1, 2.0)]}
    top1 = hand_blend("row", top_k=1)
    assert lists(top1) == {0: [(2, 2.5)], 1: [(0, 1.0)], 2: [(1, 2.0)]}


def test_hand_worked_max_scaled_blend() -> None:
    # Each component divided by its largest value (rp3beta 4, cosine 0.5):
    # row 0: 1 → 2/4 = 0.5, 2 → 1/4 + 2·(0.5/0.5) = 2.25; row 1: 0 → 1; row 2: 1 → 2·0.2.
    result = lists(hand_blend("max"))
    assert result.keys() == {0, 1, 2}
    assert [j for j, _ in result[0]] == [2, 1]
    np.testing.assert_allclose([s for _, s in result[0]], [2.25, 0.5])
    assert result[1] == [(0, 1.0)]
    assert result[2][0][0] == 1
    assert result[2][0][1] == pytest.approx(0.4)
    # Max-scaled, one component is itself: the lists keep their values up to one factor.
    assert lists(hand_blend("max", blend_cosine=0.0)) == {
        0: [(1, 0.5), (2, 0.25)],
        1: [(0, 1.0)],
    }


def test_each_component_is_computed_as_its_algorithm_is() -> None:
    params = TrainParams(
        algorithm="blend",
        weighting="tfidf",
        ease_lambda=7.0,
        blend_ease=0.5,
        blend_rp3beta=0.0,
        blend_cosine=1.0,
        blend_sequential=2.0,
    )
    parts = {p.algorithm: (w, p) for w, p in component_params(params)}
    assert set(parts) == {"ease", "cosine", "sequential"}  # rp3beta weighs 0: left out
    assert parts["ease"][1].weighting == "tfidf"  # ease on the blend's weighting
    assert parts["ease"][1].ease_lambda == 7.0
    assert parts["cosine"][1].weighting == "bm25"  # BM25-weighted cosine, exact or DIMSUM
    assert [parts[a][0] for a in ("ease", "cosine", "sequential")] == [0.5, 1.0, 2.0]
    assert params.ordered  # the sequential component needs the sessions
    assert not params.model_copy(update={"blend_sequential": 0.0}).ordered


def dense(n: Neighbours, size: int) -> npt.NDArray[np.float64]:
    out = np.zeros((size, size))
    out[n.item, n.neighbour] = n.similarity
    return out


@pytest.mark.parametrize("scale", ["row", "max"])
@pytest.mark.parametrize("top_k", [3, 50])
def test_the_kernel_equals_a_dense_reference(top_k: int, scale: str) -> None:
    rng = np.random.default_rng(top_k)
    x = sp.csr_matrix(rng.random((60, 25)) * (rng.random((60, 25)) < 0.25))
    sessions = SessionItems(
        rng.integers(0, 25, 200).astype(np.int32),
        np.arange(0, 200, 5, dtype=np.int64),
        np.ones(200),
        np.arange(200, dtype=np.int64),
    )
    params = TrainParams(
        algorithm="blend",
        top_k=top_k,
        ease_lambda=2.0,
        blend_ease=0.5,
        blend_rp3beta=1.0,
        blend_cosine=0.25,
        blend_sequential=2.0,
        blend_scale=scale,
    )
    got = compute_blend_neighbours(x, params, sessions=sessions)
    reference = np.zeros((25, 25))
    for weight, part in component_params(params):
        component = dense(local_neighbours(x, part, sessions=sessions), 25)
        largest = (
            component.max(axis=1, keepdims=True)
            if scale == "row"
            else np.full((1, 1), component.max())
        )
        reference += weight * np.divide(
            component, largest, where=largest > 0, out=np.zeros_like(component)
        )
    expected = expected_lists(reference, top_k)
    actual = lists(got)
    assert sorted(actual) == sorted(expected)
    for item, pairs in expected.items():
        assert [j for j, _ in actual[item]] == [j for j, _ in pairs], item
        np.testing.assert_allclose([s for _, s in actual[item]], [s for _, s in pairs], rtol=1e-12)


def test_the_blend_cosine_is_exact_unless_dimsum_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """The blend's cosine chooses as algorithm cosine does, on the summed scores (not the
    BM25-weighted ones): exact cosine on a matrix this small, DIMSUM at the blend's threshold
    and seed — the very blend computed with a dimsum component — once exact counts as large."""
    from dimrec.train import dimsum

    rng = np.random.default_rng(3)
    x = sp.csr_matrix(rng.random((300, 40)) * (rng.random((300, 40)) < 0.3))
    params = TrainParams(
        algorithm="blend",
        top_k=40,
        threshold=0.5,
        seed=7,
        blend_rp3beta=0.5,
        blend_cosine=1.0,
        blend_sequential=0.0,
    )

    def computed_as(cosine: str) -> Neighbours:
        def compute(part: TrainParams) -> Neighbours:
            if part.algorithm == "cosine":
                part = part.model_copy(update={"algorithm": cosine})
            return local_neighbours(x, part)

        return blend(params, compute, x.shape[1])

    exact, sampled = computed_as("exact"), computed_as("dimsum")
    assert not np.array_equal(exact.similarity, sampled.similarity)
    assert lists(compute_blend_neighbours(x, params)) == lists(exact)
    seen: list[sp.csr_matrix] = []
    products = dimsum.dimsum_products

    def spy(matrix: sp.csr_matrix, threshold: float) -> float:
        seen.append(matrix)
        return products(matrix, threshold)

    monkeypatch.setattr(dimsum, "DIMSUM_FROM_PRODUCTS", 1.0)
    monkeypatch.setattr(dimsum, "DIMSUM_MAX_SHARE", 1.0)  # on a matrix this small
    monkeypatch.setattr("dimrec.train.local.algorithms.dimsum_products", spy)
    assert lists(compute_blend_neighbours(x, params)) == lists(sampled)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0].toarray(), x.toarray())  # the plain scores


def test_a_blend_needs_a_component() -> None:
    zero = {"blend_ease": 0, "blend_rp3beta": 0, "blend_cosine": 0, "blend_sequential": 0}
    with pytest.raises(InvalidInputError, match="a blend needs a positive weight"):
        train_params({"algorithm": "blend", **zero}, {"browse": 1.0})


def test_a_blend_reports_progress_through_its_components() -> None:
    """Progress moves on inside each component (not only at the end), never goes back, and
    ends at the components' items all done."""
    rng = np.random.default_rng(3)
    x = sp.csr_matrix(rng.random((400, 50)) * (rng.random((400, 50)) < 0.2))
    params = TrainParams(algorithm="blend", blend_sequential=0.0)  # cosine and rp3beta
    calls: list[tuple[int, int]] = []
    compute_blend_neighbours(x, params, threads=1, progress=lambda d, t: calls.append((d, t)))
    assert {total for _, total in calls} == {2 * 50}
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert done[-1] == 100
    assert any(0 < d < 100 for d in done)
