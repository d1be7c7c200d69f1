"""RP3beta item-item weights (Paudel et al. 2017; the item-based baseline of Dacrema et al.,
RecSys 2019, "Are we really making much progress?").

A random walk item i → user u → item j over the user × item matrix X:

- ``P_iu``: item → user transition, the *binarised* Xᵀ normalised per item (each of the
  item's users equally likely);
- ``P_ui``: user → item transition, X normalised per user (L1), so the walk follows the
  user's *scores* (action weights): the reference implementation's weighted input;
- ``W[i, j] = Σ_u P_iu[i, u]^α · P_ui[u, j]^α / popularity(j)^β`` with popularity the number
  of distinct users of j; the item itself is left out and each row keeps its top-K.

This follows the conventions of the Dacrema et al. reference implementation
(``RP3betaRecommender``): α is applied to each transition probability before the product
(for α = 1 it is the plain three-step walk), popularity is the binarised degree, and the
row-wise top-K is taken without a final L1 normalisation of the rows
(``normalize_similarity=False``), so scores keep their meaning as walk probabilities.

The lists are not symmetric: row i holds the items a shopper who touched i is walked to.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.params import TrainParams
from dimrec.train.base import Progress
from dimrec.train.local.dense_topk import top_positive
from dimrec.train.neighbours import Neighbours

log = logging.getLogger(__name__)

#: Most product entries (an upper bound) computed in one block of rows; bounds memory.
BLOCK_ENTRIES = 4_000_000
#: Blocks at least this dense are ranked as dense arrays (a partition per row beats sorting).
DENSE_SHARE = 0.25


def compute_rp3beta_neighbours(
    matrix: sp.csr_matrix,
    params: TrainParams,
    *,
    threads: int = 0,
    progress: Progress | None = None,
) -> Neighbours:
    """Each item's top ``params.top_k`` RP3beta neighbours, best first.

    ``matrix`` is users × items (non-negative scores). Rows of the result are item indices
    (columns of ``matrix``); neighbours with a zero weight are not listed.
    """
    # A copy: the window's arrays may be read-only (Arrow-owned), and this edits in place.
    x = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    n_items = x.shape[1]
    p_iu, right = transition_matrices(x, params.rp3_alpha, params.rp3_beta)
    blocks = list(_row_blocks(p_iu, x))
    workers = max(1, threads or os.cpu_count() or 1)
    log.info(
        "rp3beta: %d items, alpha=%g, beta=%g, %d block(s) on %d thread(s)",
        n_items,
        params.rp3_alpha,
        params.rp3_beta,
        len(blocks),
        workers,
    )

    def run(block: tuple[int, int]) -> Neighbours:
        start, stop = block
        return _block_top_k(p_iu[start:stop] @ right, start, params.top_k)

    parts: list[Neighbours] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part, (_, stop) in zip(pool.map(run, blocks), blocks, strict=True):
            parts.append(part)
            if progress is not None:
                progress(stop, n_items)
    return _concat(parts)


def transition_matrices(
    x: sp.csr_matrix, alpha: float, beta: float
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``P_iu^α`` (items × users) and ``P_ui^α · diag(popularity^-β)`` (users × items)."""
    user_totals = np.asarray(x.sum(axis=1)).ravel()
    p_ui = sp.diags(_safe_inverse(user_totals)) @ x
    binary = x.T.tocsr(copy=True)
    binary.data[:] = 1.0
    degree = np.asarray(binary.sum(axis=1)).ravel()
    p_iu = sp.diags(_safe_inverse(degree)) @ binary
    if alpha != 1.0:
        p_ui.data **= alpha
        p_iu.data **= alpha
    penalty = np.zeros_like(degree)
    known = degree > 0
    penalty[known] = degree[known] ** -beta
    right = (p_ui @ sp.diags(penalty)).tocsr()
    return sp.csr_matrix(p_iu), right


def _safe_inverse(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.zeros_like(values)
    np.divide(1.0, values, out=out, where=values > 0)
    return out


def _row_blocks(p_iu: sp.csr_matrix, x: sp.csr_matrix) -> Iterator[tuple[int, int]]:
    """Blocks of item rows whose product has at most about BLOCK_ENTRIES entries.

    The entries of row i of ``P_iu · P_ui`` are bounded by the summed lengths of its users'
    rows, and by the number of items.
    """
    n_items = x.shape[1]
    user_lengths = np.diff(x.indptr).astype(np.float64)
    bound = np.minimum(p_iu.astype(bool).astype(np.float64) @ user_lengths, n_items)
    start, acc = 0, 0.0
    for row, work in enumerate(bound):
        if acc and acc + work > BLOCK_ENTRIES:
            yield start, row
            start, acc = row, 0.0
        acc += work
    if start < n_items:
        yield start, n_items


def _block_top_k(block: sp.csr_matrix, start: int, top_k: int) -> Neighbours:
    """Top-K of each row of a block of W (rows ``start``…), the diagonal left out."""
    n_rows, n_cols = block.shape
    if block.nnz > DENSE_SHARE * n_rows * n_cols:
        dense = block.toarray()
        dense[np.arange(n_rows), np.arange(start, start + n_rows)] = 0.0
        return top_positive(dense, start, top_k)
    coo = sp.coo_matrix(block)
    return Neighbours.from_unsorted(coo.row + start, coo.col, coo.data, top_k=top_k)


def _concat(parts: list[Neighbours]) -> Neighbours:
    if not parts:
        return Neighbours.from_unsorted([], [], [])
    return Neighbours(
        np.concatenate([p.item for p in parts]),
        np.concatenate([p.neighbour for p in parts]),
        np.concatenate([p.similarity for p in parts]),
    )
