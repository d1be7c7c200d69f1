"""A model version held in memory: every neighbour list in a few flat NumPy arrays.

Items are numbered 0..m-1 (``positions``: id → number, ``ids``: number → id); item ``p``'s
neighbour list is ``neighbours[starts[p] : starts[p] + lengths[p]]`` with its similarities at
the same places of ``scores``, best first. Items that only appear as someone's neighbour have a
number and an empty list. Scores are float32, as the stores keep them: 100k items × 100
neighbours take about 80 MB.

An index is built once per version, off the request path, and never changes; the server swaps
a whole new one in (see :mod:`dimrec.serve.follow`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from dimrec.errors import IntegrityError
from dimrec.publish.base import Entry

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ModelIndex:
    """One version's neighbour lists and popularity list, ready to score."""

    version: str
    ids: list[str]
    positions: dict[str, int]
    starts: NDArray[np.int64]
    lengths: NDArray[np.int64]
    neighbours: NDArray[np.int32]
    scores: NDArray[np.float32]
    id_rank: NDArray[np.int64]
    """Rank of each item's id in sorted order: breaks score ties the same way every time."""
    list_starts: list[int]
    list_lengths: list[int]
    """``starts`` and ``lengths`` as Python lists: faster than NumPy for one element."""
    popularity: tuple[tuple[str, np.float32], ...]
    """The most popular items of the version's window, best first (the fallback)."""
    entries: int
    """Number of entries read from the store."""
    items_with_lists: int
    loaded_at: str
    scratch: threading.local = field(default_factory=threading.local, repr=False)
    """Per-thread working arrays of the scorer (:mod:`dimrec.serve.scoring`)."""

    @property
    def size(self) -> int:
        """Number of item numbers (items with a list and items only seen as neighbours)."""
        return len(self.ids)


def build_index(
    version: str,
    entries: Iterable[Entry],
    popularity: Sequence[tuple[str, float]],
) -> ModelIndex:
    """Number the items of ``entries`` and pack their neighbour lists into arrays.

    Raises :class:`IntegrityError` for a version that must not be served: a non-finite score,
    or a list whose scores and neighbours differ in length.
    """
    positions: dict[str, int] = {}
    number = positions.setdefault
    list_rows = array("q")
    list_lengths = array("q")
    flat_neighbours = array("i")
    flat_scores = array("f")
    for entry in entries:
        if len(entry.neighbours) != len(entry.scores):
            raise IntegrityError(
                f"version {version}: item {entry.item!r} has {len(entry.neighbours)} neighbours "
                f"but {len(entry.scores)} scores; publish it again"
            )
        list_rows.append(number(entry.item, len(positions)))
        list_lengths.append(len(entry.neighbours))
        flat_neighbours.extend([number(item, len(positions)) for item in entry.neighbours])
        flat_scores.extend(entry.scores)

    size = len(positions)
    rows = np.frombuffer(list_rows, dtype=np.int64)
    row_lengths = np.frombuffer(list_lengths, dtype=np.int64)
    neighbours = np.frombuffer(flat_neighbours, dtype=np.int32).copy()
    scores = np.frombuffer(flat_scores, dtype=np.float32).copy()
    if not np.isfinite(scores).all():
        raise IntegrityError(f"version {version} holds non-finite similarity scores; retrain it")
    _sort_lists_best_first(row_lengths, neighbours, scores)

    starts = np.zeros(size, dtype=np.int64)
    lengths = np.zeros(size, dtype=np.int64)
    starts[rows] = np.cumsum(row_lengths) - row_lengths
    lengths[rows] = row_lengths

    ids = [""] * size
    for item, position in positions.items():
        ids[position] = item
    id_rank = np.empty(size, dtype=np.int64)
    id_rank[sorted(range(size), key=ids.__getitem__)] = np.arange(size, dtype=np.int64)

    popular_scores = np.asarray([score for _, score in popularity], dtype=np.float32)
    return ModelIndex(
        version=version,
        ids=ids,
        positions=positions,
        starts=starts,
        lengths=lengths,
        neighbours=neighbours,
        scores=scores,
        id_rank=id_rank,
        list_starts=starts.tolist(),
        list_lengths=lengths.tolist(),
        popularity=tuple(zip([item for item, _ in popularity], popular_scores, strict=True)),
        entries=len(list_rows),
        items_with_lists=int(np.count_nonzero(lengths)),
        loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def _sort_lists_best_first(
    row_lengths: NDArray[np.int64],
    neighbours: NDArray[np.int32],
    scores: NDArray[np.float32],
) -> None:
    """Stores keep lists best first; re-sort in place the rare version that does not."""
    if len(scores) < 2:
        return
    # the lists lie one after another in the flat arrays: sorting by (list, -score) keeps
    # each list in its place and orders it
    owner = np.repeat(np.arange(len(row_lengths)), row_lengths)
    rising = (scores[1:] > scores[:-1]) & (owner[1:] == owner[:-1])
    if not rising.any():
        return
    log.warning("neighbour lists are not sorted best first; sorting them")
    order = np.lexsort((-scores, owner))
    neighbours[:] = neighbours[order]
    scores[:] = scores[order]
