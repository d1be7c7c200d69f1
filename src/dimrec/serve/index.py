"""A model version ready to score: the flat tables of :mod:`dimrec.publish.index_file`.

Two ways to get one, with the same arrays and so the same answers:

- :func:`open_index` maps the version's serving index file read-only (what the publisher
  writes with every version): nothing is copied, every worker process of a host shares the
  page cache's one copy, and the version is ready once the file's checksum is verified
  (about 0.1 s per GB read from the page cache);
- :func:`build_index` numbers the entries read from the store, for a version published
  without an index file (by an older dimrec, or written through the store API).

Items are numbered 0..m-1 in id order; item ``p``'s neighbour list is rows
``starts[p]:starts[p+1]`` of ``neighbours`` (numbers) and ``scores`` (float32, as the stores
keep them), best first. An index never changes; the server swaps a whole new one in (see
:mod:`dimrec.serve.follow`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from dimrec.errors import IntegrityError
from dimrec.publish.base import Entry, IndexRef
from dimrec.publish.index_file import IndexTables, build_tables, map_index

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ModelIndex:
    """One version's neighbour lists and popularity list, ready to score."""

    tables: IndexTables
    entries: int
    """Number of neighbour lists (what the store counts for the version)."""
    source: str
    """Where it came from: the mapped file, or "store entries"."""
    loaded_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    scratch: threading.local = field(default_factory=threading.local, repr=False)
    """Per-thread working arrays of the scorer (:mod:`dimrec.serve.scoring`)."""

    @property
    def version(self) -> str:
        return self.tables.version

    @property
    def size(self) -> int:
        """Number of item numbers (items with a list, neighbours, popular items)."""
        return self.tables.size

    @property
    def items_with_lists(self) -> int:
        return int(np.count_nonzero(np.diff(self.tables.starts)))

    @property
    def nbytes(self) -> int:
        return self.tables.nbytes


def open_index(path: Path, ref: IndexRef, version: str) -> ModelIndex:
    """Map the serving index file of ``version`` (IntegrityError for a truncated, corrupt or
    foreign file)."""
    tables = map_index(path, ref, version)
    return ModelIndex(tables, int(np.count_nonzero(np.diff(tables.starts))), str(path))


def build_index(
    version: str,
    entries: Iterable[Entry],
    popularity: Sequence[tuple[str, float]],
) -> ModelIndex:
    """Number the items of ``entries`` and lay their lists out in arrays.

    Raises :class:`IntegrityError` for a version that must not be served: a non-finite score,
    or a list whose scores and neighbours differ in length.
    """
    items: list[str] = []
    lengths = array("q")
    neighbours: list[str] = []
    scores = array("f")
    for entry in entries:
        if len(entry.neighbours) != len(entry.scores):
            raise IntegrityError(
                f"version {version}: item {entry.item!r} has {len(entry.neighbours)} neighbours "
                f"but {len(entry.scores)} scores; publish it again"
            )
        items.append(entry.item)
        lengths.append(len(entry.neighbours))
        neighbours.extend(entry.neighbours)
        scores.extend(entry.scores)
    row_lengths = np.frombuffer(lengths, dtype=np.int64)
    flat_scores = np.frombuffer(scores, dtype=np.float32).copy()
    if not np.isfinite(flat_scores).all():
        raise IntegrityError(f"version {version} holds non-finite similarity scores; retrain it")
    bounds = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=bounds[1:])
    order = _best_first(row_lengths, flat_scores)
    neighbour_ids = pa.array(neighbours, pa.string())
    if order is not None:
        neighbour_ids = neighbour_ids.take(pa.array(order))
        flat_scores = flat_scores[order]
    tables = build_tables(
        version,
        pa.array(items, pa.string()),
        bounds,
        neighbour_ids,
        flat_scores,
        pa.array([item for item, _ in popularity], pa.string()),
        np.asarray([score for _, score in popularity], dtype=np.float32),
    )
    return ModelIndex(tables, len(items), "store entries")


def _best_first(
    row_lengths: NDArray[np.int64], scores: NDArray[np.float32]
) -> NDArray[np.int64] | None:
    """Stores keep lists best first; the row order that sorts the rare version that does not
    (None when every list already is)."""
    if len(scores) < 2:
        return None
    # the lists lie one after another: sorting by (list, -score) keeps each list in its place
    owner = np.repeat(np.arange(len(row_lengths)), row_lengths)
    rising = (scores[1:] > scores[:-1]) & (owner[1:] == owner[:-1])
    if not rising.any():
        return None
    log.warning("neighbour lists are not sorted best first; sorting them")
    order: NDArray[np.int64] = np.lexsort((-scores, owner))
    return order
