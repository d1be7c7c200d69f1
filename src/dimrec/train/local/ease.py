"""EASE item-item weights (Steck, WWW 2019, "Embarrassingly Shallow Autoencoders for Sparse
Data").

With X the user × item score matrix (as given: with binary input this is Steck's setting;
with action weights it is the weighted variant of the Dacrema et al. reference):

    G = XᵀX + λI,    P = G⁻¹,    B = I − P · diag(1 / diag P),   i.e. B_ij = −P_ij / P_jj,

and diag B = 0. Row i of B holds the weights a shopper's item i gives each candidate j
(score = x · B). Each row keeps its top-K *positive* weights, best first: the store holds
"similar items" lists, and a negative weight could only push a candidate down.

G⁻¹ is dense (items²·8 bytes), so catalogues above ``params.ease_max_items`` are refused.
The inverse uses the Cholesky factorisation of G (symmetric positive definite for λ > 0),
in place.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack

from dimrec.errors import EngineError, InvalidInputError
from dimrec.params import TrainParams
from dimrec.train.base import Progress
from dimrec.train.local.dense_topk import top_positive
from dimrec.train.neighbours import Neighbours

log = logging.getLogger(__name__)

#: Dense entries handled in one block of rows (about 64 MB of float64).
BLOCK_ENTRIES = 8_000_000


def compute_ease_neighbours(
    matrix: sp.csr_matrix,
    params: TrainParams,
    *,
    threads: int = 0,
    progress: Progress | None = None,
) -> Neighbours:
    """Each item's top ``params.top_k`` EASE weights (positive ones), best first.

    ``threads`` is accepted for the common kernel signature; the dense algebra uses the
    BLAS threads of NumPy/SciPy.
    """
    del threads
    n_items = matrix.shape[1]
    check_catalogue(n_items, params.ease_max_items)
    x = sp.csr_matrix(matrix, dtype=np.float64)
    log.info(
        "ease: %d items, lambda=%g, dense inverse of %.1f MB",
        n_items,
        params.ease_lambda,
        n_items * n_items * 8 / 1e6,
    )
    p = inverse_gram(x, params.ease_lambda)
    diagonal = p.diagonal().copy()
    rows = max(1, BLOCK_ENTRIES // max(n_items, 1))
    parts = []
    for start in range(0, n_items, rows):
        stop = min(start + rows, n_items)
        weights = -_symmetric_rows(p, start, stop) / diagonal[np.newaxis, :]
        weights[np.arange(stop - start), np.arange(start, stop)] = 0.0
        parts.append(top_positive(weights, start, params.top_k))
        if progress is not None:
            progress(stop, n_items)
    return Neighbours(
        np.concatenate([q.item for q in parts]) if parts else np.zeros(0, np.int32),
        np.concatenate([q.neighbour for q in parts]) if parts else np.zeros(0, np.int32),
        np.concatenate([q.similarity for q in parts]) if parts else np.zeros(0, np.float64),
    )


def check_catalogue(n_items: int, limit: int) -> None:
    """Refuse catalogues larger than ``limit`` items before any memory is taken."""
    if n_items > limit:
        gigabytes = n_items * n_items * 8 / 1e9
        raise InvalidInputError(
            f"ease needs a dense items × items inverse: the window has {n_items:,} items, "
            f"more than train.ease_max_items = {limit:,} (it would take about "
            f"{gigabytes:.1f} GB); raise train.ease_max_items if the memory is there, or "
            "train with --algorithm rp3beta or exact"
        )


def inverse_gram(x: sp.csr_matrix, lam: float) -> npt.NDArray[np.float64]:
    """P = (XᵀX + λI)⁻¹; only the upper triangle (with the diagonal) is filled in."""
    n_items = x.shape[1]
    xc = x.tocsc()
    gram = np.zeros((n_items, n_items), dtype=np.float64, order="F")
    rows = max(1, BLOCK_ENTRIES // max(n_items, 1))
    xt = xc.T.tocsr()
    for start in range(0, n_items, rows):
        stop = min(start + rows, n_items)
        gram[:, start:stop] = (xt @ xc[:, start:stop]).toarray()
    gram[np.diag_indices(n_items)] += lam
    factor, info = lapack.dpotrf(gram, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise EngineError(f"ease: XᵀX + λI is not positive definite (LAPACK info {info})")
    inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise EngineError(f"ease: inverting XᵀX + λI failed (LAPACK info {info})")
    return np.asarray(inverse)


def _symmetric_rows(
    upper: npt.NDArray[np.float64], start: int, stop: int
) -> npt.NDArray[np.float64]:
    """Rows ``start:stop`` of the symmetric matrix whose upper triangle ``upper`` holds."""
    block = np.array(upper[start:stop, :], dtype=np.float64)
    # Left of the block's diagonal square: the mirrored columns above it.
    block[:, :start] = upper[:start, start:stop].T
    square = block[:, start:stop]
    lower = np.tril_indices(stop - start, -1)
    square[lower] = square.T[lower]
    return block
