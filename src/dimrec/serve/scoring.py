"""Scoring: score(j) = Σ_i w_i · sim(i, j) over the shopper's known input items i.

Works on a :class:`ServingState` — one loaded :class:`~dimrec.serve.index.ModelIndex` plus the
hidden items as a mask over its numbering — and never touches the store. The state is immutable;
a request takes one reference to it and finishes on it even when a newer state is swapped in.

How (100k items × 100 neighbours; numbers in bench/README.md): one input item reads its list,
already best first; several are summed and ranked by the compiled loop of
:mod:`dimrec.serve.summing` in a small hash table of the call's own — several
times less CPU than summing in a Python dict and taking a heap's top n, for 1, 10 and 50 input
items alike. Safe to call from several threads.

Rules: input items are left out of the results unless ``keep_input``; ``exclude`` and hidden
items always are; unknown items (and items of weight 0) are ignored; when no input item is
known the version's popularity list answers and the result says ``fallback``. Ties are broken
by item id, so the same request always gets the same answer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dimrec.errors import missing_kernel
from dimrec.serve.index import ModelIndex

try:
    from dimrec.serve.summing import WeightedSum
except ImportError as exc:
    raise missing_kernel("dimrec.serve.summing") from exc

#: Items and scores, best first. Scores are float32 like the stored similarities, so the JSON
#: answer shows the digits they hold (0.3, not 0.30000001192092896).
Scored = list[tuple[str, np.float32]]


@dataclass(frozen=True, eq=False)
class ServingState:
    """What the server answers from: a model version and the hidden items."""

    index: ModelIndex
    hidden: frozenset[str]
    hidden_numbers: frozenset[int]
    """The item numbers of the hidden items the version knows."""
    hidden_mask: NDArray[np.bool_]
    """``hidden_mask[p]`` is True when item number ``p`` is hidden."""
    summing: WeightedSum
    """The compiled sum and top n over this version and these hidden items."""

    @classmethod
    def of(cls, index: ModelIndex, hidden: frozenset[str]) -> ServingState:
        numbers = frozenset(p for p in index.tables.lookup(sorted(hidden)) if p >= 0)
        mask = np.zeros(index.size, dtype=np.bool_)
        mask[list(numbers)] = True
        tables = index.tables
        summing = WeightedSum(tables.starts, tables.neighbours, tables.scores, mask.view(np.uint8))
        return cls(index, hidden, numbers, mask, summing)

    def with_hidden(self, hidden: frozenset[str]) -> ServingState:
        return ServingState.of(self.index, hidden)

    @property
    def version(self) -> str:
        return self.index.version


@dataclass(frozen=True)
class Recommendation:
    results: Scored
    fallback: bool


def recommend(
    state: ServingState,
    weights: Mapping[str, float],
    n: int,
    *,
    exclude: Collection[str] = (),
    keep_input: bool = False,
) -> Recommendation:
    """The top ``n`` items for a shopper whose input items weigh ``weights``."""
    tables = state.index.tables
    numbers = tables.lookup(list(weights))
    removed = [] if keep_input else [p for p in numbers if p >= 0]
    if exclude:
        removed += [p for p in tables.lookup(list(exclude)) if p >= 0]
    rows: list[int] = []
    row_weights: list[float] = []
    for number, weight in zip(numbers, weights.values(), strict=True):
        if number >= 0 and weight > 0:
            start, stop = tables.bounds(number)
            if stop > start:
                rows.append(number)
                row_weights.append(weight)
    if not rows:
        return Recommendation(_popular(state, n, removed), fallback=True)
    if len(rows) == 1:
        start, stop = tables.bounds(rows[0])
        found = _one_list(state, start, stop, row_weights[0], n, removed)
        return Recommendation(found, fallback=False)
    return Recommendation(_weighted_sum(state, rows, row_weights, n, removed), False)


def similar(state: ServingState, item: str, n: int) -> Scored | None:
    """``item``'s neighbours, best first, without hidden ones; None when it has no list."""
    tables = state.index.tables
    (number,) = tables.lookup([item])
    if number < 0:
        return None
    start, stop = tables.bounds(number)
    if start == stop:
        return None
    return _one_list(state, start, stop, 1.0, n, [number])


def _one_list(
    state: ServingState, start: int, stop: int, weight: float, n: int, removed: list[int]
) -> Scored:
    tables = state.index.tables
    # the list is best first: its first n + removed + hidden entries hold the answer
    deepest = min(stop, start + n + len(removed) + len(state.hidden_numbers))
    if deepest - start > _FEW:
        candidates = tables.neighbours[start:deepest]
        scores = tables.scores[start:deepest]
        keep = _allowed(state, candidates, removed)
        if keep is not None:
            candidates, scores = candidates[keep], scores[keep]
        chosen, kept = candidates[:n].tolist(), scores[:n]
    else:
        skip = state.hidden_numbers.union(removed) if removed else state.hidden_numbers
        pairs = zip(tables.neighbours[start:deepest].tolist(), range(deepest - start), strict=True)
        picked = [(p, k) for p, k in pairs if p not in skip][:n]
        chosen = [p for p, _ in picked]
        kept = tables.scores[start:deepest][[k for _, k in picked]]
    return list(zip(tables.ids_of(chosen), kept * np.float32(weight), strict=True))


def _weighted_sum(
    state: ServingState, rows: list[int], row_weights: list[float], n: int, removed: list[int]
) -> Scored:
    chosen, totals = state.summing.top(rows, row_weights, removed, n)
    ids = state.index.tables.ids_of(chosen)
    return list(zip(ids, np.array(totals, dtype=np.float32), strict=True))


#: Up to this many candidates, the last steps run in plain Python.
_FEW = 64


def _allowed(
    state: ServingState, candidates: NDArray[np.int32], removed: list[int]
) -> NDArray[np.bool_] | None:
    """Which candidates may be answered (not hidden, not removed); None when all may."""
    keep = None
    if state.hidden_numbers:
        keep = ~state.hidden_mask[candidates]
    if removed:
        if len(removed) <= 4:  # the usual few: one comparison each beats marking them
            out = candidates != removed[0]
            for position in removed[1:]:
                out &= candidates != position
        else:  # mark them in this thread's scratch mask, read it, unmark (np.isin sorts)
            marks = _scratch(state.index, "marks", np.bool_)
            marks[removed] = True
            out = ~marks[candidates]
            marks[removed] = False
        keep = out if keep is None else keep & out
    return keep


def _scratch(index: ModelIndex, name: str, dtype: type[np.generic]) -> NDArray[Any]:
    """This thread's scratch array ``name`` over the index's item numbers, made on first use
    and all zero between uses (the marks :func:`_allowed` sets and clears)."""
    array: NDArray[Any] | None = getattr(index.scratch, name, None)
    if array is None:
        array = np.zeros(index.size, dtype=dtype)
        setattr(index.scratch, name, array)
    return array


def _popular(state: ServingState, n: int, removed: list[int]) -> Scored:
    tables = state.index.tables
    popular = tables.popular
    keep = ~state.hidden_mask[popular]
    if removed:
        keep &= np.isin(popular, removed, invert=True)
    chosen = np.flatnonzero(keep)[:n]
    return list(zip(tables.ids_of(popular[chosen]), tables.popular_scores[chosen], strict=True))
