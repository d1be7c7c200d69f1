"""The result every training engine returns: top-K neighbour lists over item indices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from dimrec.model import NEIGHBOURS_SCHEMA


@dataclass(frozen=True)
class Neighbours:
    """Top-K lists as three aligned arrays, one row per (item, neighbour) pair.

    Rows are sorted by ``item``, then ``similarity`` descending, then ``neighbour``
    ascending (ties broken by item id: item indices follow the sorted item ids). An item
    is never its own neighbour; zero similarities are not listed.
    """

    item: npt.NDArray[np.int32]
    neighbour: npt.NDArray[np.int32]
    similarity: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if not (len(self.item) == len(self.neighbour) == len(self.similarity)):
            raise ValueError("item, neighbour and similarity must have the same length")

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def from_unsorted(
        cls,
        item: npt.ArrayLike,
        neighbour: npt.ArrayLike,
        similarity: npt.ArrayLike,
        top_k: int | None = None,
    ) -> Neighbours:
        """Sort pairs into the canonical order, and keep at most ``top_k`` per item."""
        items = np.asarray(item, dtype=np.int32)
        neighbours = np.asarray(neighbour, dtype=np.int32)
        sims = np.asarray(similarity, dtype=np.float64)
        keep = (sims != 0) & (items != neighbours)
        items, neighbours, sims = items[keep], neighbours[keep], sims[keep]
        order = np.lexsort((neighbours, -sims, items))
        items, neighbours, sims = items[order], neighbours[order], sims[order]
        if top_k is not None and len(items):
            starts = np.r_[0, np.flatnonzero(np.diff(items)) + 1]
            rank = np.arange(len(items)) - np.repeat(starts, np.diff(np.r_[starts, len(items)]))
            mask = rank < top_k
            items, neighbours, sims = items[mask], neighbours[mask], sims[mask]
        return cls(items, neighbours, sims)

    def to_table(self, items: pa.Array) -> pa.Table:
        """The ``item, neighbour, similarity`` table of a model, with ids from ``items``."""
        return pa.table(
            {
                "item": items.take(pa.array(self.item)),
                "neighbour": items.take(pa.array(self.neighbour)),
                "similarity": pa.array(self.similarity, pa.float64()),
            },
            schema=NEIGHBOURS_SCHEMA,
        )
