"""Scoring shoppers the way the server does, over a whole test at once with sparse algebra.

For a shopper with input weights w (item → weight), a candidate j scores
``score(j) = Σ_i w_i · sim(i, j)`` over the neighbour lists of the inputs i; inputs are
never recommended; candidates rank by score (desc), then item id; when none of the
shopper's inputs has a neighbour list (nothing they gave is known), the popularity list
answers instead, inputs left out, and the answer counts as a fallback. A known shopper whose
candidates are all inputs gets an empty answer, as from the server.

This mirrors the serving rule without importing the server (stages never import serve):
``sim`` is the neighbour table as a sparse items × items matrix, so all shoppers are scored
by one product ``Q · S``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.train.neighbours import Neighbours


@dataclass(frozen=True)
class Recommendations:
    ranked: npt.NDArray[np.int64]
    """Shoppers × k item codes, best first; -1 where fewer than k items were found."""
    fallback: npt.NDArray[np.bool_]
    """Whether the popularity fallback answered the shopper."""


def similarity_matrix(neighbours: Neighbours, n_items: int) -> sp.csr_matrix:
    """The neighbour lists as an items × items matrix: row i holds i's list."""
    return sp.csr_matrix(
        (neighbours.similarity, (neighbours.item, neighbours.neighbour)),
        shape=(n_items, n_items),
        dtype=np.float64,
    )


def cap_lists(similarity: sp.csr_matrix, cap: int) -> sp.csr_matrix:
    """Each row's ``cap`` best entries (ties by item id), as the store keeps ``sim_cap``."""
    coo = sp.coo_matrix(similarity)
    if coo.nnz == 0 or np.diff(sp.csr_matrix(similarity).indptr).max() <= cap:
        return sp.csr_matrix(similarity)
    order = np.lexsort((coo.col, -coo.data, coo.row))
    rows, cols, values = coo.row[order], coo.col[order], coo.data[order]
    starts = np.searchsorted(rows, np.arange(similarity.shape[0]))
    keep = (np.arange(len(rows)) - starts[rows]) < cap
    return sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=similarity.shape)


def recommend(
    queries: sp.csr_matrix,
    similarity: sp.csr_matrix,
    popular: npt.NDArray[np.int64],
    k: int,
    *,
    inputs: sp.csr_matrix | None = None,
) -> Recommendations:
    """The top ``k`` items for each row of ``queries`` (shoppers × items weights).

    ``inputs`` marks the items each shopper gave (default: the non-zero weights); they are
    never recommended. ``popular`` lists item codes best first: the fallback, used when none
    of a shopper's weighted inputs has a neighbour list.
    """
    n_shoppers, n_items = queries.shape
    q = sp.csr_matrix(queries, dtype=np.float64)
    q.eliminate_zeros()
    given = q if inputs is None else sp.csr_matrix(inputs)
    has_list = (np.diff(similarity.indptr) > 0).astype(np.float64)
    fallback = (q @ has_list) <= 0
    scores = sp.coo_matrix(q @ similarity)
    rows = scores.row.astype(np.int64)
    cols = scores.col.astype(np.int64)
    values = scores.data
    keep = (values > 0) & ~np.isin(rows * n_items + cols, _row_keys(given, n_items))
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = np.lexsort((cols, -values, rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n_shoppers))
    rank = np.arange(len(rows)) - starts[rows]
    top = rank < k
    ranked = np.full((n_shoppers, k), -1, dtype=np.int64)
    ranked[rows[top], rank[top]] = cols[top]
    if fallback.any():
        _fill_popular(ranked, fallback, given, popular)
    return Recommendations(ranked, fallback)


def _row_keys(m: sp.csr_matrix, n_items: int) -> npt.NDArray[np.int64]:
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return np.sort(rows * n_items + m.indices.astype(np.int64))


def _fill_popular(
    ranked: npt.NDArray[np.int64],
    rows: npt.NDArray[np.bool_],
    queries: sp.csr_matrix,
    popular: npt.NDArray[np.int64],
) -> None:
    k = ranked.shape[1]
    for row in np.flatnonzero(rows):
        inputs = queries.indices[queries.indptr[row] : queries.indptr[row + 1]]
        head = popular[: k + len(inputs)]
        head = head[~np.isin(head, inputs)][:k]
        ranked[row, : len(head)] = head
