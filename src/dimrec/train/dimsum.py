"""DIMSUM as a matrix: the scaled, sampled user × item matrix whose Gram matrix estimates cosine.

DIMSUM (Bosagh Zadeh & Goel, arXiv 1206.2082; Bosagh Zadeh & Carlsson, arXiv 1304.1467; Spark
MLlib's ``RowMatrix.columnSimilarities(threshold)``) with oversampling γ keeps an item ``i``
of a user's row with probability ``p_i = min(1, γ/‖c_i‖)`` and scales its score by
``1/min(γ, ‖c_i‖)``. A pair (i, j) of the row is emitted when both draws pass and
contributes ``a_ri·a_rj / (min(γ,‖c_i‖)·min(γ,‖c_j‖))``: the sum over rows is an unbiased
estimate of ``cos(i, j)`` (``E = Σ_r p_i p_j a_ri a_rj / (q_i q_j) = c_i·c_j/(‖c_i‖‖c_j‖)``).

Here the draws are made once per (row, item) entry, so the emitted pairs are exactly the
nonzero products of the sampled, scaled matrix ``B`` with itself: ``BᵀB`` (diagonal ignored)
is the estimate, and DIMSUM runs on the same kernel as exact cosine, on a sparser matrix.
MLlib draws the second item of a pair afresh for every pair; each pair is still emitted with
probability ``p_i·p_j`` independently across rows, so every single similarity has the very
same distribution (and error bound) in both; only the correlation between two estimates
that share a row differs. With γ = ∞ (threshold ≤ 1e-6) nothing is drawn: ``B`` is the
matrix with unit-norm columns, and the estimate is the exact cosine, bit for bit.

The draws come from one NumPy ``Generator`` seeded with the training seed, taken in the
matrix's canonical entry order (row by row, items ascending), so a seed gives the same
sample whatever the number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

#: At or below this threshold DIMSUM's γ is infinite: every pair is kept, i.e. exact cosine.
EXACT_THRESHOLD = 1e-6

#: Draws are taken this many at a time (bounds the memory of sampling a huge matrix).
_DRAW_BLOCK = 1 << 22


def dimsum_gamma(threshold: float, n_items: int) -> float:
    """DIMSUM's oversampling γ = sqrt(10·ln(n_items)/threshold); ∞ (exact) at threshold ≤ 1e-6."""
    if threshold <= EXACT_THRESHOLD or n_items < 2:
        return math.inf
    return math.sqrt(10.0 * math.log(n_items) / threshold)


@dataclass(frozen=True)
class ScaledMatrix:
    """The matrix whose Gram matrix is the (estimated) cosine, and how it was sampled."""

    matrix: sp.csr_matrix
    gamma: float
    """Oversampling γ; ∞ means exact."""
    sampled_items: int
    """Items whose column norm exceeds γ, i.e. whose entries are sampled (p_i < 1)."""
    entries_in: int
    entries_kept: int
    bits: int
    """Fraction bits of the fixed-point sums of ``BᵀB`` (:func:`fixed_point_bits`)."""


def column_norms(matrix: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """‖c_i‖, the Euclidean norm of every item column."""
    squares = np.bincount(matrix.indices, weights=matrix.data**2, minlength=matrix.shape[1])
    return np.sqrt(squares)


def fixed_point_bits(norms: npt.NDArray[np.float64], scale: npt.NDArray[np.float64]) -> int:
    """Fraction bits B for adding the products of ``BᵀB`` as integers (multiples of 2⁻ᴮ):
    52 for cosines, fewer when sampled columns are scaled by less than their norm. A sum
    is at most ``(‖c_i‖/q_i)·(‖c_j‖/q_j)`` (Cauchy–Schwarz, ``q`` = ``scale``), so B keeps
    the largest possible one below 2⁶¹ units, leaving the rest of the int64 range to the
    rounding of the products (≤ ½ unit each)."""
    ratio = float(np.max(norms / scale, initial=1.0))
    return min(52, 61 - math.ceil(2 * math.log2(max(ratio, 1.0))))


def _seed_value(seed: int) -> int:
    """A non-negative seed for NumPy (which refuses negative ones), distinct for each int."""
    return seed & (2**64 - 1) if seed < 0 else seed


def _keep_mask(
    matrix: sp.csr_matrix, probability: npt.NDArray[np.float64], seed: int
) -> npt.NDArray[np.bool_]:
    """One independent draw per entry whose item has p_i < 1: keep when the draw < p_i."""
    entry_probability = probability[matrix.indices]
    drawn = np.flatnonzero(entry_probability < 1.0)
    keep = np.ones(matrix.nnz, dtype=bool)
    rng = np.random.default_rng(_seed_value(seed))
    for begin in range(0, len(drawn), _DRAW_BLOCK):
        block = drawn[begin : begin + _DRAW_BLOCK]
        keep[block] = rng.random(len(block)) < entry_probability[block]
    return keep


@dataclass(frozen=True)
class ColumnSampling:
    """How DIMSUM with oversampling γ treats each item column (both engines use it)."""

    scale: npt.NDArray[np.float64]
    """q_i = min(‖c_i‖, γ) (1 for an empty column): an entry's score is divided by it."""
    probability: npt.NDArray[np.float64]
    """p_i = min(1, γ/‖c_i‖): the chance an entry of the column is kept (1 for γ = ∞)."""
    sampled_items: int
    """Columns with p_i < 1."""
    bits: int
    """Fraction bits of the fixed-point sums of ``BᵀB`` (:func:`fixed_point_bits`)."""


def column_sampling(norms: npt.NDArray[np.float64], gamma: float) -> ColumnSampling:
    """Scales, keep probabilities and sum precision for columns of norms ``norms``."""
    scale = np.minimum(norms, gamma)
    scale[scale == 0] = 1.0  # empty columns: no entries to scale
    with np.errstate(divide="ignore"):
        probability = np.minimum(1.0, gamma / norms)
    return ColumnSampling(
        scale=scale,
        probability=probability,
        sampled_items=int(np.count_nonzero(probability < 1.0)),
        bits=fixed_point_bits(norms, scale),
    )


def scaled_matrix(matrix: sp.csr_matrix, gamma: float, seed: int) -> ScaledMatrix:
    """``B`` for oversampling ``gamma`` (∞: exact cosine, unit-norm columns, no sampling).

    ``matrix`` must be canonical CSR (sorted indices, no duplicates, no explicit zeros) with
    non-negative float64 scores.
    """
    columns = column_sampling(column_norms(matrix), gamma)
    if columns.sampled_items:
        keep = _keep_mask(matrix, columns.probability, seed)
        kept_before = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
        indptr = kept_before[matrix.indptr].astype(matrix.indptr.dtype)
        indices, data = matrix.indices[keep], matrix.data[keep]
    else:
        indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    scaled = sp.csr_matrix((data / columns.scale[indices], indices, indptr), shape=matrix.shape)
    return ScaledMatrix(
        matrix=scaled,
        gamma=gamma,
        sampled_items=columns.sampled_items,
        entries_in=int(matrix.nnz),
        entries_kept=int(scaled.nnz),
        bits=columns.bits,
    )
