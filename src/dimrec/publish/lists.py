"""A model's neighbour table as per-item lists, ready to pack: one run of rows per item,
best first, at most ``sim_cap`` rows each. Checked on the way: ids usable in every store,
similarities finite, each item's rows contiguous and ordered (re-sorted, with a warning,
when a table is not in the canonical order)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from dimrec.errors import DataError
from dimrec.publish import codec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NeighbourLists:
    items: list[str]
    """The items that have a list, in table order."""
    bounds: npt.NDArray[np.int64]
    """List ``k`` is rows ``bounds[k]:bounds[k+1]`` of ``ids`` and ``scores``."""
    ids: pa.Array
    scores: npt.NDArray[np.float32]
    rows_read: int
    """Rows of the table before the cap."""

    def __len__(self) -> int:
        return len(self.items)

    @property
    def pairs(self) -> int:
        """(item, neighbour) pairs kept after the cap."""
        return int(self.bounds[-1])

    def packed(self, start: int, stop: int) -> list[tuple[str, bytes]]:
        """Items ``start:stop`` with their packed lists."""
        blobs = codec.pack_runs(self.ids, self.scores, self.bounds[start : stop + 1])
        return list(zip(self.items[start:stop], blobs, strict=True))

    def expected(self, k: int) -> tuple[str, tuple[str, ...], tuple[float, ...]]:
        """Item ``k`` and its list exactly as a store returns it (float32 scores)."""
        lo, hi = int(self.bounds[k]), int(self.bounds[k + 1])
        ids = tuple(self.ids.slice(lo, hi - lo).to_pylist())
        return self.items[k], ids, tuple(self.scores[lo:hi].tolist())

    @classmethod
    def from_table(cls, table: pa.Table, sim_cap: int) -> NeighbourLists:
        """Lists from an ``item, neighbour, similarity`` table, capped at ``sim_cap``."""
        rows = table.num_rows
        item = table.column("item").combine_chunks()
        neighbour = table.column("neighbour").combine_chunks()
        similarity = table.column("similarity").to_numpy()
        _check_ids(item, "item")
        _check_ids(neighbour, "neighbour")
        if not np.isfinite(similarity).all():
            raise DataError("neighbours.parquet has NaN or infinite similarities; retrain it")
        starts = _run_starts(item)
        if not _canonical(item, similarity, starts):
            logger.warning("neighbour table is not sorted by item, similarity desc; sorting it")
            table = table.sort_by(
                [("item", "ascending"), ("similarity", "descending"), ("neighbour", "ascending")]
            )
            item = table.column("item").combine_chunks()
            neighbour = table.column("neighbour").combine_chunks()
            similarity = table.column("similarity").to_numpy()
            starts = _run_starts(item)
        lengths = np.diff(np.append(starts, rows))
        if len(lengths) and lengths.max() > sim_cap:
            rank = np.arange(rows) - np.repeat(starts, lengths)
            keep = rank < sim_cap
            neighbour = neighbour.filter(pa.array(keep))
            similarity = similarity[keep]
            lengths = np.minimum(lengths, sim_cap)
        bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(
            items=item.take(pa.array(starts)).to_pylist() if rows else [],
            bounds=bounds,
            ids=neighbour,
            scores=similarity.astype(np.float32),
            rows_read=rows,
        )


def _check_ids(ids: pa.Array, column: str) -> None:
    if ids.null_count:
        raise DataError(f"neighbours.parquet has {ids.null_count} null {column} ids; retrain it")
    if len(ids) == 0:
        return
    if pc.min(pc.utf8_length(ids)).as_py() == 0:
        raise DataError(f"neighbours.parquet has an empty {column} id; retrain it")
    if pc.any(pc.match_substring(ids, codec.SEPARATOR)).as_py():
        raise DataError(f"neighbours.parquet has a {column} id containing NUL; retrain it")


def _run_starts(item: pa.Array) -> npt.NDArray[np.int64]:
    """Where each run of equal consecutive items starts."""
    n = len(item)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    changed = pc.not_equal(item.slice(1), item.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.flatnonzero(changed) + 1]).astype(np.int64)


def _canonical(
    item: pa.Array, similarity: npt.NDArray[np.float64], starts: npt.NDArray[np.int64]
) -> bool:
    """Each item's rows are contiguous and best first."""
    if len(starts) != pc.count_distinct(item).as_py():
        return False
    rising = np.flatnonzero(np.diff(similarity) > 0) + 1
    return bool(np.isin(rising, starts).all())
