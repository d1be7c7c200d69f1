"""DIMSUM as a matrix: the sampled user × item matrix ``B`` whose Gram matrix estimates cosine.

**The promise.** With threshold ``t``, every similarity ``cos(i, j) ≥ t`` is estimated
within 20% relative error with probability ≥ 0.95 — whatever the action weights, their
scale and their spread — at a cost that shrinks as ``t`` grows.

**Why not MLlib's sampling.** DIMSUM (Bosagh Zadeh & Goel, arXiv 1206.2082; Bosagh Zadeh &
Carlsson, arXiv 1304.1467; MLlib's ``RowMatrix.columnSimilarities(threshold)``) keeps every
entry of item column ``c_i`` with the same probability ``p_i = min(1, γ/‖c_i‖)`` and divides
it by ``min(γ, ‖c_i‖)``. Its guarantee is stated for entries in [−1, 1]: a pair's relative
variance is ``Σ_r w_r² / (p_i p_j (Σ_r w_r)²)`` with ``w_r = a_ri·a_rj``, at most
``1/(γ²·cos)`` when every ``a ≤ 1``. Scores of size ``s`` multiply it by about ``s²``
(dividing every score by 6 took the recall of Online Retail's exact top-50 from 0.21 to
0.78), and a spread of scores (0.5 / 2 / 6) widens it further, because a few heavy rows
then carry a pair's sum.

**The scheme here.** Cosine does not change when a column is scaled, so each column is first
scaled to unit norm, ``x_ri = a_ri/‖c_i‖``; then each entry is kept with a probability in
proportion to its size and scaled so that its expectation is ``x_ri`` (magnitude-proportional
sampling, as in the matrix sparsification of Achlioptas & McSherry and of Arora, Hazan &
Kale)::

    p_ri = min(1, γ·x_ri)          b_ri = x_ri / p_ri = max(x_ri, 1/γ)

The draws are independent, so ``E[Σ_r b_ri·b_rj·[both kept]] = Σ_r x_ri·x_rj = cos(i, j)``.
A row where both entries are sampled adds ``1/γ²`` with probability ``γ²·x_ri·x_rj``: the
estimate is ``1/γ²`` times a count of emitted products whose mean is ``γ²·cos(i, j)``
(a sum of independent Bernoulli draws), so its relative variance is at most
``1/(γ²·cos(i, j))`` whatever the scores — their scale and their spread only decide which
rows emit how often. With 0/1 scores, ``p_ri = γ/‖c_i‖``: exactly DIMSUM's sampling.

**γ.** ``γ² = max(10·ln n, 100) / t`` for ``n`` items. ``10·ln n`` is MLlib's constant;
the floor of 100 means that a pair at the threshold is estimated from at least 100 expected
products, within 20% with probability ≥ 0.95 (a Poisson count of mean 100 is within 20% of
it with probability 0.96; a sum of Bernoulli draws is less spread); it only matters below
22,000 items, where ``10·ln n`` < 100.

**Where the bound is looser.** A row where one entry is kept for sure (``γ·x_ri ≥ 1``: an
item with few shoppers, or a large score in its column) and the other is sampled adds
``x_ri/γ`` with probability ``γ·x_rj``; its variance is ``γ·x_ri`` times the bound above.
Such pairs join a rare item to a popular one; MLlib's sampling has the same weakness (a
pair of an unsampled with a sampled column). ``bench/train_local.py`` measures how often it
costs the promise on real and synthetic data.

**Cost.** Column ``i`` keeps ``Σ_r min(1, γ·x_ri) ≤ γ·‖c_i‖₁/‖c_i‖₂`` entries on average and
the expected number of products is at most ``γ²·Σ_{i,j} cos(i, j)``: independent of the
number of users, as in DIMSUM. Dropping entries before pairing is what saves the work: an
unkept entry never meets another.

**Scale invariance.** Multiplying every score (or one item's scores) by ``c > 0`` leaves
``x``, hence ``p`` and ``b``, unchanged up to one rounding of the norm, and the draws belong
to the same entries: the same seed gives the same sample.

Here the draws are made once per (row, item) entry, so the emitted pairs are exactly the
nonzero products of ``B`` with itself: ``BᵀB`` (diagonal ignored) is the estimate, and
DIMSUM runs on the same kernel as exact cosine, on a sparser matrix. MLlib draws the second
item of a pair afresh for every pair; each pair's emissions are still independent across
rows, only the correlation between two estimates that share a row differs. With γ = ∞
(threshold ≤ 1e-6) nothing is drawn: ``B`` is the matrix with unit-norm columns, and the
estimate is the exact cosine, bit for bit.

**When DIMSUM pays** (``algorithm = "cosine"``, :func:`choose_cosine`). Exact cosine adds
``Σ_u n_u(n_u − 1)/2`` pair products (``n_u`` the items of user ``u``); DIMSUM adds
``Σ_u E[k_u(k_u − 1)/2] = Σ_u ((Σ_i p_ui)² − Σ_i p_ui²)/2`` on average (``k_u`` the kept
entries of the row: independent draws). Both are known before any pair is formed — from the
row lengths, and from ``p`` — so the choice costs one pass over the entries. DIMSUM loses
every similarity below the threshold and blurs those above it, and its other costs (the
layout, the draws, each item's list) do not shrink with the products, so ``cosine`` takes it
only where exact cosine is large in absolute terms (``DIMSUM_FROM_PRODUCTS``) and sampling
removes most of it (``DIMSUM_MAX_SHARE``); else exact. ``bench/README.md`` has the
measurements behind both numbers. The choice is computed on the window's summed scores,
before any weighting, the same way on both engines.

The local engine draws from one NumPy ``Generator`` seeded with the training seed, taken in
the matrix's canonical entry order (row by row, items ascending), so a seed gives the same
sample whatever the number of threads; the Spark engine draws from a hash of (seed, user,
item) (``dimrec.train.spark.similarity``). Both compute ``x``, ``p`` and ``b`` with the same
floating-point operations, from the same norms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

#: At or below this threshold DIMSUM's γ is infinite: every pair is kept, i.e. exact cosine.
EXACT_THRESHOLD = 1e-6

#: Expected products behind the estimate of a pair at the threshold, at least.
MIN_PRODUCTS = 100.0

#: ``cosine`` considers DIMSUM only when exact cosine would add at least this many products.
DIMSUM_FROM_PRODUCTS = 1e9
#: ... and takes it when DIMSUM is expected to add at most this share of them.
DIMSUM_MAX_SHARE = 0.5

#: Draws are taken this many at a time (bounds the memory of sampling a huge matrix).
_DRAW_BLOCK = 1 << 22


def dimsum_gamma(threshold: float, n_items: int) -> float:
    """γ = sqrt(max(10·ln(n_items), MIN_PRODUCTS)/threshold); ∞ (exact) at threshold ≤ 1e-6."""
    if threshold <= EXACT_THRESHOLD or n_items < 2:
        return math.inf
    return math.sqrt(max(10.0 * math.log(n_items), MIN_PRODUCTS) / threshold)


def column_norms(matrix: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """‖c_i‖, the Euclidean norm of every item column."""
    squares = np.bincount(matrix.indices, weights=matrix.data**2, minlength=matrix.shape[1])
    return np.sqrt(squares)


def unit_scores(
    scores: npt.NDArray[np.float64], norms: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``x = a/‖c‖``: each entry of a unit-norm column (``norms`` of the entries' columns)."""
    unit: npt.NDArray[np.float64] = scores / norms
    return unit


def keep_probability(unit: npt.NDArray[np.float64], gamma: float) -> npt.NDArray[np.float64]:
    """``p = min(1, γ·x)``: the chance an entry of unit score ``x`` is kept (1 for γ = ∞)."""
    if math.isinf(gamma):
        return np.ones_like(unit)
    probability: npt.NDArray[np.float64] = np.minimum(1.0, gamma * unit)
    return probability


def kept_value(unit: npt.NDArray[np.float64], gamma: float) -> npt.NDArray[np.float64]:
    """``b = x/p = max(x, 1/γ)``: what a kept entry of unit score ``x`` becomes."""
    value: npt.NDArray[np.float64] = np.maximum(unit, 1.0 / gamma)
    return value


def sampled_items(
    norms: npt.NDArray[np.float64], smallest: npt.NDArray[np.float64], gamma: float
) -> int:
    """Items with an entry kept with probability < 1 (``γ·min_r a_ri/‖c_i‖ < 1``), from the
    norms and the smallest score of each column (0 for an empty one)."""
    if math.isinf(gamma):
        return 0
    present = norms > 0
    return int(np.count_nonzero(gamma * (smallest[present] / norms[present]) < 1.0))


def fixed_point_bits(entries: int, gamma: float) -> int:
    """Fraction bits B for adding the products of ``BᵀB`` as integers (multiples of 2⁻ᴮ),
    ``entries`` being the most entries of one column: 52 for cosines, fewer when sampled
    columns can outgrow unit norm. ``‖b_i‖² ≤ Σ_r max(x_ri, 1/γ)² ≤ 1 + entries/γ²``, and a
    sum of ``BᵀB`` is at most ``‖b_i‖·‖b_j‖`` (Cauchy–Schwarz), so B keeps the largest
    possible one below 2⁶¹ units, leaving the rest of the int64 range to the rounding of
    the products (≤ ½ unit each)."""
    largest = 1.0 + entries / (gamma * gamma)
    return min(52, 61 - math.ceil(math.log2(largest)))


def draws(seed: int) -> np.random.Generator:
    """The generator of the local engine's draws for ``seed``: one ``random()`` per entry
    with p < 1, in entry order, taken in blocks of any size (each double takes one 64-bit
    output, so the blocks do not change the stream)."""
    return np.random.default_rng(seed & (2**64 - 1) if seed < 0 else seed)  # NumPy refuses < 0


def _keep_mask(probability: npt.NDArray[np.float64], seed: int) -> npt.NDArray[np.bool_]:
    """One independent draw per entry with p < 1, in entry order: kept when the draw < p."""
    drawn = np.flatnonzero(probability < 1.0)
    keep = np.ones(len(probability), dtype=bool)
    rng = draws(seed)
    for begin in range(0, len(drawn), _DRAW_BLOCK):
        block = drawn[begin : begin + _DRAW_BLOCK]
        keep[block] = rng.random(len(block)) < probability[block]
    return keep


@dataclass(frozen=True)
class ScaledMatrix:
    """The matrix whose Gram matrix is the (estimated) cosine, and how it was sampled."""

    matrix: sp.csr_matrix
    gamma: float
    """Oversampling γ; ∞ means exact."""
    sampled_items: int
    """Items with an entry kept with probability < 1."""
    entries_in: int
    entries_kept: int
    bits: int
    """Fraction bits of the fixed-point sums of ``BᵀB`` (:func:`fixed_point_bits`)."""


def scaled_matrix(matrix: sp.csr_matrix, gamma: float, seed: int) -> ScaledMatrix:
    """``B`` for oversampling ``gamma`` (∞: exact cosine, unit-norm columns, no sampling).

    ``matrix`` must be canonical CSR (sorted indices, no duplicates, no explicit zeros) with
    non-negative float64 scores.
    """
    n_items = matrix.shape[1]
    norms = column_norms(matrix)
    unit = unit_scores(matrix.data, norms[matrix.indices])
    if math.isinf(gamma):  # exact: nothing to sample, and 52 bits whatever the columns
        scaled = sp.csr_matrix((unit, matrix.indices, matrix.indptr), shape=matrix.shape)
        return ScaledMatrix(
            matrix=scaled,
            gamma=gamma,
            sampled_items=0,
            entries_in=int(matrix.nnz),
            entries_kept=int(matrix.nnz),
            bits=fixed_point_bits(0, gamma),
        )
    probability = keep_probability(unit, gamma)
    sampled = probability < 1.0
    if sampled.any():
        keep = _keep_mask(probability, seed)
        kept_before = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
        indptr = kept_before[matrix.indptr].astype(matrix.indptr.dtype)
        indices, values = matrix.indices[keep], kept_value(unit[keep], gamma)
    else:
        indptr, indices, values = matrix.indptr, matrix.indices, unit
    scaled = sp.csr_matrix((values, indices, indptr), shape=matrix.shape)
    entries = int(np.bincount(matrix.indices, minlength=n_items).max(initial=0))
    return ScaledMatrix(
        matrix=scaled,
        gamma=gamma,
        sampled_items=int(
            np.count_nonzero(np.bincount(matrix.indices[sampled], minlength=n_items))
        ),
        entries_in=int(matrix.nnz),
        entries_kept=int(scaled.nnz),
        bits=fixed_point_bits(entries, gamma),
    )


def exact_products(row_lengths: npt.NDArray[np.integer]) -> float:
    """Pair products exact cosine adds: ``Σ_u n_u(n_u − 1)/2``."""
    n = row_lengths.astype(np.float64)
    return float(np.sum(n * (n - 1.0)) / 2.0)


def expected_dimsum_products(
    row_sums: npt.NDArray[np.float64], row_square_sums: npt.NDArray[np.float64]
) -> float:
    """Pair products DIMSUM adds on average, from each row's ``Σ_i p_ui`` and ``Σ_i p_ui²``."""
    return float(np.sum(row_sums * row_sums - row_square_sums) / 2.0)


def choose_cosine(exact: float, dimsum: Callable[[], float]) -> Literal["exact", "dimsum"]:
    """What ``algorithm = "cosine"`` computes, given the pair products of exact cosine and
    a function giving those DIMSUM is expected to add (called only when exact is large):
    DIMSUM only when exact is large and sampling removes most of it."""
    if exact >= DIMSUM_FROM_PRODUCTS and dimsum() <= DIMSUM_MAX_SHARE * exact:
        return "dimsum"
    return "exact"


def dimsum_products(matrix: sp.csr_matrix, threshold: float) -> float:
    """Pair products DIMSUM at ``threshold`` is expected to add on ``matrix`` (CSR, scores
    ≥ 0; all of exact cosine's when the threshold means exact)."""
    lengths = np.diff(matrix.indptr)
    gamma = dimsum_gamma(threshold, matrix.shape[1])
    if math.isinf(gamma):
        return exact_products(lengths)
    norms = column_norms(matrix)
    probability = keep_probability(unit_scores(matrix.data, norms[matrix.indices]), gamma)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    sums = np.bincount(rows, weights=probability, minlength=matrix.shape[0]).astype(np.float64)
    squares = np.bincount(rows, weights=probability**2, minlength=matrix.shape[0]).astype(
        np.float64
    )
    return expected_dimsum_products(sums, squares)
