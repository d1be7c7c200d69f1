"""Sequential rules (Ludewig & Jannach 2018, "Evaluation of session-based recommendation
algorithms", SR): what shoppers go on to touch after an item, within a session.

For each session (:mod:`dimrec.train.sessions`), its items in time order with consecutive
repeats of one item merged into one step (a view and an add to basket of the same product
are one step), every ordered pair (i at step p, j at step q), p < q ≤ p + ``sr_steps``,
j ≠ i, adds ``1 / (q − p)`` to the rule i → j (their "div" weighting: the next item counts
fully, the one after half, ...); with a half-life, each session's pairs are decayed by the
age of its day. Row i of the result holds i's rules, its ``top_k`` strongest, best first.

The lists are directional (i → j is not j → i) and the weights are sums, not similarities:
the server's Σ_i w_i·rule(i, j) adds the rules of a shopper's items, as it adds
neighbours'.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.errors import InvalidInputError
from dimrec.params import TrainParams
from dimrec.train.base import Progress
from dimrec.train.neighbours import Neighbours
from dimrec.train.sessions import SessionItems

log = logging.getLogger(__name__)


def compute_sequential_neighbours(
    matrix: sp.csr_matrix,
    params: TrainParams,
    *,
    sessions: SessionItems | None = None,
    threads: int = 0,
    progress: Progress | None = None,
) -> Neighbours:
    """Each item's top ``params.top_k`` sequential rules, best first.

    ``matrix`` gives the item space (its columns); ``sessions`` the ordered items (column
    indices of ``matrix``). ``threads`` is accepted for the common kernel signature.
    """
    del threads
    if sessions is None:
        raise InvalidInputError(
            "sequential rules need the window's events in time order (sessions), which this "
            "caller did not give"
        )
    n_items = matrix.shape[1]
    rules = rule_weights(sessions, n_items, params.sr_steps)
    log.info(
        "sequential rules: %d sessions, %d steps, %d rules over %d items",
        len(sessions.starts),
        params.sr_steps,
        rules.nnz,
        n_items,
    )
    coo = rules.tocoo()
    if progress is not None:
        progress(n_items, n_items)
    return Neighbours.from_unsorted(coo.row, coo.col, coo.data, top_k=params.top_k)


def rule_weights(sessions: SessionItems, n_items: int, steps: int) -> sp.csr_matrix:
    """Items × items: the summed weights of every rule i → j (diagonal left out)."""
    item, weight, session = merged_steps(sessions)
    total = sp.csr_matrix((n_items, n_items), dtype=np.float64)
    for distance in range(1, steps + 1):
        if distance >= len(item):
            break
        same = session[distance:] == session[:-distance]
        first, then = item[:-distance][same], item[distance:][same]
        value = weight[:-distance][same] / distance
        keep = first != then
        total = total + sp.csr_matrix(
            (value[keep], (first[keep], then[keep])), shape=(n_items, n_items)
        )
    total.sum_duplicates()
    total.eliminate_zeros()
    return total


def merged_steps(
    sessions: SessionItems,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Item, weight and session of each step, consecutive repeats of an item merged."""
    session = np.repeat(np.arange(len(sessions.starts), dtype=np.int64), sessions.sizes)
    item = sessions.items.astype(np.int64)
    repeat = np.zeros(len(item), dtype=bool)
    if len(item) > 1:
        repeat[1:] = (item[1:] == item[:-1]) & (session[1:] == session[:-1])
    return item[~repeat], sessions.weights[~repeat], session[~repeat]
