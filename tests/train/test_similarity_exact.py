"""Exact cosine of the local engine: a matrix worked by hand, and a brute-force reference."""

from __future__ import annotations

import decimal
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dimrec.errors import DataError, InvalidInputError
from dimrec.params import TrainParams
from dimrec.train.local.cosine import compute_neighbours
from dimrec.train.local.workers import Workers
from dimrec.train.neighbours import Neighbours

# Five items a..e (indices 0..4, in id order) and five users u0..u4:
#
#         a  b  c  d  e
#    u0   3  0  4  6  0
#    u1   4  4  0  8  0
#    u2   0  3  0  0  0
#    u3   0  0  3  0  0
#    u4   0  0  0  0  2
#
# Column norms: ‖a‖ = √(9+16) = 5, ‖b‖ = √(16+9) = 5, ‖c‖ = √(16+9) = 5,
# ‖d‖ = √(36+64) = 10, ‖e‖ = 2.
# Dot products (only users that hold both items count):
#   a·b = 4·4 = 16          cos = 16/(5·5)  = 0.64
#   a·c = 3·4 = 12          cos = 12/(5·5)  = 0.48
#   a·d = 3·6 + 4·8 = 50    cos = 50/(5·10) = 1      (d is a scaled copy of a)
#   b·c = 0                 (no common user: never listed)
#   b·d = 4·8 = 32          cos = 32/(5·10) = 0.64
#   c·d = 4·6 = 24          cos = 24/(5·10) = 0.48
#   e·anything = 0          (u4 holds only e: e has no neighbour)
# So, best first, ties broken by item id:
#   a: d 1, b 0.64, c 0.48
#   b: a 0.64, d 0.64          (tie: a before d)
#   c: a 0.48, d 0.48          (tie: a before d)
#   d: a 1, b 0.64, c 0.48
#   e: —
HAND = np.array(
    [
        [3, 0, 4, 6, 0],
        [4, 4, 0, 8, 0],
        [0, 3, 0, 0, 0],
        [0, 0, 3, 0, 0],
        [0, 0, 0, 0, 2],
    ],
    dtype=np.float64,
)
A, B, C, D = 0, 1, 2, 3
HAND_LISTS = {
    A: [(D, 1.0), (B, 0.64), (C, 0.48)],
    B: [(A, 0.64), (D, 0.64)],
    C: [(A, 0.48), (D, 0.48)],
    D: [(A, 1.0), (B, 0.64), (C, 0.48)],
}


def lists(neighbours: Neighbours) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    for item, neighbour, sim in zip(
        neighbours.item.tolist(),
        neighbours.neighbour.tolist(),
        neighbours.similarity.tolist(),
        strict=True,
    ):
        out.setdefault(item, []).append((neighbour, sim))
    return out


@pytest.mark.parametrize("top_k", [1, 2, 3, 10])
@pytest.mark.parametrize("threads", [1, 2])
def test_hand_worked_matrix(top_k: int, threads: int) -> None:
    result = compute_neighbours(
        sp.csr_matrix(HAND), TrainParams(algorithm="exact", top_k=top_k), threads=threads
    )
    expected = {item: pairs[:top_k] for item, pairs in HAND_LISTS.items()}
    # Similarities are reported to 12 decimals, so 0.64 is exactly the double 0.64.
    assert lists(result) == expected


def test_hand_worked_top_1_keeps_the_lower_id_of_a_tie() -> None:
    result = compute_neighbours(sp.csr_matrix(HAND), TrainParams(algorithm="exact", top_k=1))
    assert lists(result) == {A: [(D, 1.0)], B: [(A, 0.64)], C: [(A, 0.48)], D: [(A, 1.0)]}


def test_result_arrays_are_in_canonical_order_and_typed() -> None:
    result = compute_neighbours(sp.csr_matrix(HAND), TrainParams(algorithm="exact", top_k=10))
    assert result.item.dtype == np.int32
    assert result.neighbour.dtype == np.int32
    assert result.similarity.dtype == np.float64
    canonical = Neighbours.from_unsorted(result.item, result.neighbour, result.similarity)
    np.testing.assert_array_equal(canonical.item, result.item)
    np.testing.assert_array_equal(canonical.neighbour, result.neighbour)
    np.testing.assert_array_equal(canonical.similarity, result.similarity)


def test_input_forms_give_the_same_answer() -> None:
    """Unsorted indices, duplicate entries (summed), explicit zeros, integer scores, CSC."""
    rng = np.random.default_rng(0)
    indptr, indices, data = [0], [], []
    for row in HAND:
        # every score split in two duplicate entries, plus an explicit zero, shuffled
        entries = [(int(j), row[j] / 2) for j in np.flatnonzero(row) for _ in range(2)]
        entries.append((int(rng.integers(0, HAND.shape[1])), 0.0))
        for position in rng.permutation(len(entries)):
            indices.append(entries[position][0])
            data.append(entries[position][1])
        indptr.append(len(indices))
    messy = sp.csr_matrix((data, indices, indptr), shape=HAND.shape)
    assert not messy.has_canonical_format
    expected = lists(
        compute_neighbours(sp.csr_matrix(HAND), TrainParams(algorithm="exact", top_k=3))
    )
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    for matrix in (messy, sp.csc_matrix(HAND), sp.csr_matrix(HAND.astype(np.int64))):
        assert (
            lists(compute_neighbours(matrix, TrainParams(algorithm="exact", top_k=3))) == expected
        )
    for array, kept in zip((messy.data, messy.indices, messy.indptr), before, strict=True):
        np.testing.assert_array_equal(array, kept)  # the caller's matrix is left as it was


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_and_timings_are_reported(threads: int) -> None:
    calls: list[tuple[int, int]] = []
    timings: dict[str, float] = {}
    compute_neighbours(
        sp.csr_matrix(HAND),
        TrainParams(algorithm="exact"),
        threads=threads,
        progress=lambda done, total: calls.append((done, total)),
        timings=timings,
    )
    assert calls
    assert calls[-1] == (5, 5)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert set(timings) == {"similarity.prepare", "similarity.topk", "similarity.assemble"}


def test_empty_matrices_give_no_neighbours() -> None:
    for shape in [(0, 0), (3, 0), (0, 4), (3, 4)]:
        result = compute_neighbours(sp.csr_matrix(shape), TrainParams(algorithm="exact"))
        assert len(result) == 0


@pytest.mark.parametrize("zero", [0.0, -0.0])
def test_explicit_zeros_in_an_otherwise_canonical_matrix_are_left_out(zero: float) -> None:
    """Sorted, no duplicates, int32 indices, but zeros stored — one column holds nothing
    else (its norm is 0: kept, it would divide 0 by 0): the zeros are no entries, and the
    caller's matrix is not changed."""
    params = TrainParams(algorithm="exact", top_k=3)
    positive = np.hstack((HAND, np.zeros((HAND.shape[0], 1))))
    matrix = sp.csr_matrix(positive + 1.0)  # every cell stored, in order
    matrix.data[(positive == 0).ravel()] = zero
    assert matrix.has_canonical_format
    assert matrix.indices.dtype == np.int32
    stored = matrix.data.copy()
    scores = np.where(positive > 0, positive + 1.0, 0.0)
    expected = lists(compute_neighbours(sp.csr_matrix(scores), params))
    assert lists(compute_neighbours(matrix, params)) == expected
    assert np.array_equal(matrix.data, stored, equal_nan=True)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf, -np.inf])
def test_bad_scores_are_refused(bad: float) -> None:
    matrix = sp.csr_matrix(HAND)
    matrix.data[0] = bad
    with pytest.raises(DataError, match=r"1 of \d+ scores are negative, NaN or infinite"):
        compute_neighbours(matrix, TrainParams(algorithm="exact"))


def test_unsupported_algorithm_and_threads_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not 'ease'"):
        compute_neighbours(sp.csr_matrix(HAND), TrainParams(algorithm="ease"))
    with pytest.raises(InvalidInputError, match="threads must be ≥ 0"):
        compute_neighbours(sp.csr_matrix(HAND), TrainParams(algorithm="exact"), threads=-1)
    with pytest.raises(DataError, match="scipy sparse matrix"):
        compute_neighbours(HAND, TrainParams(algorithm="exact"))  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"2147483647 items do not fit 32-bit item indices"):
        compute_neighbours(sp.csr_matrix((1, 2**31 - 1)), TrainParams(algorithm="exact"))


def test_neighbours_columns_must_have_the_same_length() -> None:
    with pytest.raises(ValueError, match="same length"):
        Neighbours(np.array([0, 1]), np.array([1]), np.array([0.5, 0.5]))


# --- brute-force reference -----------------------------------------------------------------

decimal.getcontext().prec = 50
TWELVE = Decimal("1e-12")


def reference_lists(dense: np.ndarray, top_k: int) -> dict[int, list[tuple[int, float]]]:
    """Cosine with 50-digit decimals from the dense matrix, rounded half-even to 12 decimals
    (the engine's stated precision), ordered by similarity desc then id asc, cut to top_k."""
    n_items = dense.shape[1]
    columns = [[Decimal(float(v)) for v in dense[:, i]] for i in range(n_items)]
    norms = [sum((v * v for v in col), Decimal(0)).sqrt() for col in columns]
    out: dict[int, list[tuple[int, float]]] = {}
    for i in range(n_items):
        found = []
        for j in range(n_items):
            if i == j or norms[i] == 0 or norms[j] == 0:
                continue
            dot = sum((x * y for x, y in zip(columns[i], columns[j], strict=True)), Decimal(0))
            sim = (dot / (norms[i] * norms[j])).quantize(TWELVE, decimal.ROUND_HALF_EVEN)
            if sim > 0:
                found.append((-sim, j))
        found.sort()
        if found:
            out[i] = [(j, float(-neg)) for neg, j in found[:top_k]]
    return out


def near_a_rounding_boundary(dense: np.ndarray, margin: float = 1e-15) -> bool:
    """Whether a cosine of two columns lies within ``margin`` of a midpoint between two
    12-decimal values. The engine computes in float64 (unit-norm columns, products in units
    of 2⁻⁵²): a few 1e-16 from the exact value, so such a cosine may round either way (e.g.
    0.679415619957|49984 rounds up). Examples with one are left out."""
    n_items = dense.shape[1]
    columns = [[Decimal(float(v)) for v in dense[:, i]] for i in range(n_items)]
    norms = [sum((v * v for v in col), Decimal(0)).sqrt() for col in columns]
    for i in range(n_items):
        for j in range(i + 1, n_items):
            if norms[i] == 0 or norms[j] == 0:
                continue
            dot = sum((x * y for x, y in zip(columns[i], columns[j], strict=True)), Decimal(0))
            scaled = dot / (norms[i] * norms[j]) / TWELVE
            if abs(scaled - scaled.to_integral_value(decimal.ROUND_FLOOR) - Decimal("0.5")) < (
                Decimal(margin) / TWELVE
            ):
                return True
    return False


SCORES = st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 6.0])


@st.composite
def score_matrices(draw: st.DrawFn) -> np.ndarray:
    """Small score matrices with empty rows and columns, and copied columns (exact ties)."""
    n_users = draw(st.integers(0, 8))
    n_items = draw(st.integers(0, 8))
    dense = np.array(
        draw(
            st.lists(
                st.lists(SCORES, min_size=n_items, max_size=n_items),
                min_size=n_users,
                max_size=n_users,
            )
        ),
        dtype=np.float64,
    ).reshape(n_users, n_items)
    if n_items:
        copies = draw(
            st.lists(
                st.tuples(st.integers(0, n_items - 1), st.integers(0, n_items - 1)), max_size=3
            )
        )
        for source, target in copies:
            dense[:, target] = dense[:, source] * draw(st.sampled_from([1.0, 2.0]))
    return dense


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense=score_matrices(), top_k=st.integers(1, 9), threads=st.sampled_from([1, 2]))
def test_exact_equals_brute_force_reference(dense: np.ndarray, top_k: int, threads: int) -> None:
    assume(not near_a_rounding_boundary(dense))
    result = compute_neighbours(
        sp.csr_matrix(dense), TrainParams(algorithm="exact", top_k=top_k), threads=threads
    )
    assert lists(result) == reference_lists(dense, top_k)


def test_exact_lists_are_symmetric_before_the_cut() -> None:
    rng = np.random.default_rng(5)
    dense = rng.choice([0.0, 0.0, 0.0, 0.5, 2.0, 6.0], size=(60, 25))
    result = compute_neighbours(sp.csr_matrix(dense), TrainParams(algorithm="exact", top_k=25))
    pairs = {
        (i, j): s
        for i, j, s in zip(
            result.item.tolist(), result.neighbour.tolist(), result.similarity.tolist(), strict=True
        )
    }
    assert pairs
    assert all(pairs[(j, i)] == s for (i, j), s in pairs.items())


BOUNDS_SCRIPT = """
import numpy as np, scipy.sparse as sp
from dimrec.train.local.cosine import compute_neighbours
from dimrec.params import TrainParams
rng = np.random.default_rng(0)
for dense in (np.ones((4, 3)), rng.choice([0.0, 1.0, 2.0], size=(50, 12)), np.eye(5)):
    for top_k in (1, 3, 20):
        for algorithm in ("exact", "dimsum"):
            params = TrainParams(top_k=top_k, algorithm=algorithm, threshold=0.9)
            compute_neighbours(sp.csr_matrix(dense), params, threads=2)
print("in bounds")
"""


@pytest.mark.slow
def test_kernels_stay_in_bounds(tmp_path: Path) -> None:
    """Compiled with bounds checks, the kernels raise on any out-of-range index: run them on
    matrices whose rows touch every item (the touch list's fullest case)."""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", BOUNDS_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "in bounds" in done.stdout


def shop_with_twins(seed: int) -> sp.csr_matrix:
    """3,000 users × 150 items with Zipf popularity, 0.5/2/6 scores, and 10 twin columns."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, 141)
    dense = np.zeros((3000, 150))
    for user in range(3000):
        items = rng.choice(140, size=rng.integers(2, 12), p=popularity / popularity.sum())
        dense[user, items] = rng.choice([0.5, 2.0, 6.0], size=len(items))
    dense[:, 140:] = dense[:, rng.choice(140, 10, replace=False)]  # exact ties, by id
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("top_k", [1, 3, 10])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_top_k_lists_are_the_heads_of_the_full_lists(top_k: int, threads: int) -> None:
    """Each pair is computed once and delivered to the more popular item unless that one's
    list already holds k better ones: the lists are still exactly the first k of all pairs,
    whatever the number of threads."""
    matrix = shop_with_twins(seed=top_k)
    full = lists(compute_neighbours(matrix, TrainParams(algorithm="exact", top_k=150), threads=1))
    exact = TrainParams(algorithm="exact", top_k=top_k)
    got = lists(compute_neighbours(matrix, exact, threads=threads))
    assert got == {item: pairs[:top_k] for item, pairs in full.items()}
    assert sum(len(pairs) > top_k for pairs in full.values()) > 100  # the cut matters


def test_deliveries_that_cannot_enter_a_full_list_are_dropped() -> None:
    """A half-row sum is delivered to its more popular partner only when it may enter that
    partner's top k: with k = 3, most are dropped; with room for every pair, none."""
    from dimrec.train.dimsum import scaled_matrix
    from dimrec.train.local.cosine import _Layout
    from dimrec.train.local.kernels import half_rows_topk

    matrix = shop_with_twins(seed=1)
    layout = _Layout.of(scaled_matrix(matrix, math.inf, seed=0).matrix, None, 2.0**52, Workers(1))
    n_items = matrix.shape[1]

    def deliveries(k: int) -> int:
        floors = np.full(n_items, -1.0, dtype=np.float32)
        to_items, _, _ = half_rows_topk(
            0, n_items, 0, layout.col_ptr, layout.col_starts,
            layout.col_pos, layout.cost, layout.row_items, layout.row_values,
            layout.item_ids, layout.unit, k, np.arange(n_items + 1, dtype=np.int64) * k,
            np.zeros(n_items, dtype=np.int32), np.empty(n_items * k, dtype=np.int32),
            np.empty(n_items * k), floors,
        )  # fmt: skip
        return len(to_items)

    every_pair = deliveries(n_items)
    assert every_pair > 5000
    assert deliveries(3) < 0.3 * every_pair


@pytest.mark.parametrize("slices", [1, 2, 3, 8])
def test_the_layout_is_the_same_laid_out_in_slices_and_divided_there(slices: int) -> None:
    """Rows laid out on threads in slices give the arrays one slice gives, bit for bit:
    each slice fills its columns from where the slices before it end (rows without
    entries, at the start and in the middle, included). Dividing by the column norms in
    the layout, as exact cosine does, gives the values of ``scaled_matrix`` (what DIMSUM
    and the Spark engine divide) bit for bit."""
    from dimrec.train.dimsum import column_norms, scaled_matrix
    from dimrec.train.local.cosine import _canonical, _Layout

    matrix = shop_with_twins(seed=3).tolil()
    matrix[0, :] = 0
    matrix[matrix.shape[0] // 2, :] = 0
    canonical = _canonical(sp.csr_matrix(matrix))
    scaled = scaled_matrix(canonical, math.inf, seed=0).matrix
    one = _Layout.of(scaled, None, 2.0**52, Workers(1))
    with Workers(slices) as workers:
        sliced = _Layout.of(canonical, column_norms(canonical), 2.0**52, workers)
    for name in ("row_items", "row_values", "col_ptr", "col_starts", "col_pos",
                 "item_ids", "cost", "partners"):  # fmt: skip
        assert np.array_equal(getattr(one, name), getattr(sliced, name)), name
    assert not np.array_equal(one.row_values, np.sort(canonical.data))  # divided indeed
    assert one.cost.sum() > 1000


def test_the_compiled_column_norms_are_numpys_bit_for_bit() -> None:
    """Exact cosine divides by norms added in a compiled loop: the very bits of
    ``dimsum.column_norms`` (NumPy's bincount, which the Spark engine matches), on scores
    whose squares round — and with empty columns."""
    from dimrec.train.dimsum import column_norms
    from dimrec.train.local.kernels import column_norms as compiled_norms

    rng = np.random.default_rng(11)
    matrix = sp.random(2000, 300, density=0.05, format="csr", random_state=rng)
    matrix.data = matrix.data * 7.3 + 1e-3
    matrix.data[matrix.indices == 7] = 0.0  # an empty column
    matrix.eliminate_zeros()
    expected = column_norms(matrix)
    got = compiled_norms(matrix.indices, matrix.data, matrix.shape[1])
    assert expected[7] == 0.0
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))


@pytest.mark.parametrize(("n_items", "n_entries"), [(0, 0), (1, 0), (6, 4), (500, 20_000)])
def test_items_are_numbered_by_decreasing_entries_ties_by_index(
    n_items: int, n_entries: int
) -> None:
    """The kernel's numbering (a counting sort) is a stable sort by decreasing entries: the
    order of NumPy's stable argsort, with its inverse and the columns' starts."""
    from dimrec.train.local.kernels import item_order

    rng = np.random.default_rng(n_items)
    indices = (rng.zipf(1.5, n_entries) % max(n_items, 1)).astype(np.int32)
    item_ids, internal, col_ptr = item_order(
        np.array([0, n_entries], dtype=np.int64), indices, n_items
    )
    entries = np.bincount(indices, minlength=n_items)
    assert np.array_equal(item_ids, np.argsort(-entries, kind="stable"))
    assert np.array_equal(internal[item_ids], np.arange(n_items))
    assert np.array_equal(col_ptr, np.concatenate(([0], np.cumsum(entries[item_ids]))))
    if n_items > 100:
        assert len(np.unique(entries)) < n_items // 2  # ties indeed
