"""Sequential rules (Ludewig & Jannach 2018, "Evaluation of session-based recommendation
algorithms", SR): what shoppers go on to touch after an item, within a session.

For each session (:mod:`dimrec.train.sessions`), its events in time order make *steps*: the
events of one second are one step (they happened together — an invoice's lines, the
products of one hit — and have no order among them), and an item already in the step just
before is not repeated (a view and an add to basket of the same product are one step). Every
pair (i in step p, j in step q), p < q ≤ p + ``sr_steps``, j ≠ i, adds ``1 / (q − p)`` to
the rule i → j (their "div" weighting: the next step counts fully, the one after half, ...);
with a half-life, each session's pairs are decayed by the age of its day. Row i of the
result holds i's rules, its ``top_k`` strongest, best first. A log whose sessions are single
baskets (all lines at one time) yields no rules: it has no order to learn from.

The lists are directional (i → j is not j → i) and the weights are sums, not similarities:
the server's Σ_i w_i·rule(i, j) adds the rules of a shopper's items, as it adds
neighbours'.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    steps_of = Steps.of(sessions)
    item, step, starts = steps_of.item, steps_of.step, steps_of.starts
    sizes = np.diff(np.r_[starts, len(item)])
    total = sp.csr_matrix((n_items, n_items), dtype=np.float64)
    for distance in range(1, steps + 1):
        target = step + distance
        ok = target < len(starts)
        ok[ok] = steps_of.session[target[ok]] == steps_of.session[step[ok]]
        if not ok.any():
            break
        sources = np.flatnonzero(ok)
        counts = sizes[target[sources]]
        first = np.repeat(sources, counts)  # each event of the earlier step ...
        offset = np.arange(len(first)) - np.repeat(np.cumsum(counts) - counts, counts)
        then = starts[target[first]] + offset  # ... with each event of the later one
        keep = item[first] != item[then]
        value = steps_of.weight[first][keep] / distance
        total = total + sp.csr_matrix(
            (value, (item[first][keep], item[then][keep])), shape=(n_items, n_items)
        )
    total.sum_duplicates()
    total.eliminate_zeros()
    return total


@dataclass(frozen=True)
class Steps:
    """The steps of sessions: each kept event's item, weight and step, in step order."""

    item: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    step: npt.NDArray[np.int64]
    """Each event's step, numbered 0, 1, ... across all sessions."""
    starts: npt.NDArray[np.int64]
    """Index of each step's first event."""
    session: npt.NDArray[np.int64]
    """Each step's session."""

    @classmethod
    def of(cls, sessions: SessionItems) -> Steps:
        """Events of one second are one step, each item once (by id); an item of the step
        just before (same session) is dropped, and a step left empty with it."""
        session = np.repeat(np.arange(len(sessions.starts), dtype=np.int64), sessions.sizes)
        item = sessions.items.astype(np.int64)
        # Given in session order (by time within a session): sort each second's items by id.
        seconds = _numbered(session, sessions.ts)
        order = np.argsort(seconds * (int(item.max(initial=0)) + 1) + item, kind="stable")
        item, session = item[order], session[order]
        ts, weight = sessions.ts[order], sessions.weights[order]
        twice = np.r_[False, (session[1:] == session[:-1]) & (ts[1:] == ts[:-1])]
        twice &= np.r_[False, item[1:] == item[:-1]]
        item, session, ts, weight = item[~twice], session[~twice], ts[~twice], weight[~twice]
        step = _numbered(session, ts)
        kept = ~_in_step_before(step, session, item)
        item, session, ts, weight = item[kept], session[kept], ts[kept], weight[kept]
        step = _numbered(session, ts)
        starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]]) if len(step) else step
        return cls(item, weight, step, starts.astype(np.int64), session[starts])


def _numbered(session: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """0, 1, 2, ...: a new number where the session or the second changes (sorted input)."""
    if not len(session):
        return session.copy()
    new = np.r_[True, (session[1:] != session[:-1]) | (ts[1:] != ts[:-1])]
    numbered: npt.NDArray[np.int64] = np.cumsum(new) - 1
    return numbered


def _in_step_before(
    step: npt.NDArray[np.int64], session: npt.NDArray[np.int64], item: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Whether each event's item is in the step just before, of the same session."""
    if not len(step):
        return np.zeros(0, dtype=bool)
    n_items = int(item.max()) + 1
    first_of_step = np.r_[True, step[1:] != step[:-1]]
    step_session = session[first_of_step]
    continues = np.r_[False, step_session[1:] == step_session[:-1]]  # by step
    keys = step * n_items + item  # ascending: by step, then item within a step
    wanted = keys - n_items  # the same item one step before
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found: npt.NDArray[np.bool_] = (keys[at] == wanted) & continues[step]
    return found
