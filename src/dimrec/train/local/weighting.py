"""Alternative weightings of the user × item matrix before the similarity (as in implicit's
``tfidf_weight`` / ``bm25_weight``, with items as the documents and users as the terms).

- ``tfidf``: each entry becomes sqrt(score) · idf(user), idf(user) = ln(n_items) −
  ln(1 + items of the user): a shopper who touched everything says little about any pair.
- ``bm25``: each entry becomes score · (K1 + 1) / (K1 · norm(item) + score) · idf(user), with
  norm(item) = 1 − B + B · total(item) / mean total: saturates repeated scores and damps
  very popular items' columns.

Negative idf values (a user who touched nearly every item) are clamped to zero, so cosine
similarities stay in [0, 1]. Any algorithm may use them (the local engine applies
``params.weighting`` before the kernel); shoppers' queries are not reweighted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.params import WEIGHTINGS, Weighting


def apply_weighting(
    matrix: sp.csr_matrix, weighting: Weighting, *, k1: float = 1.2, b: float = 0.75
) -> sp.csr_matrix:
    """``matrix`` (users × items) reweighted; the same object for ``"none"``."""
    if weighting == "none":
        return matrix
    if weighting == "tfidf":
        return tfidf_weight(matrix)
    if weighting == "bm25":
        return bm25_weight(matrix, k1=k1, b=b)
    raise ValueError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")


def _user_idf(x: sp.csr_matrix) -> npt.NDArray[np.float64]:
    items_per_user = np.diff(x.indptr).astype(np.float64)
    idf = np.log(float(x.shape[1])) - np.log1p(items_per_user)
    clamped: npt.NDArray[np.float64] = np.maximum(idf, 0.0)
    return clamped


def tfidf_weight(matrix: sp.csr_matrix) -> sp.csr_matrix:
    x = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    x.data = np.sqrt(x.data) * _user_idf(x)[rows]
    x.eliminate_zeros()
    return x


def bm25_weight(matrix: sp.csr_matrix, *, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    x = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    totals = np.asarray(x.sum(axis=0)).ravel()
    mean_total = totals[totals > 0].mean() if (totals > 0).any() else 1.0
    norm = (1.0 - b) + b * totals / mean_total
    cols = x.indices
    x.data = x.data * (k1 + 1.0) / (k1 * norm[cols] + x.data) * _user_idf(x)[rows]
    x.eliminate_zeros()
    return x
