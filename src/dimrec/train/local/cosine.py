"""The local training engine: exact and DIMSUM item-item cosine on one machine.

:func:`compute_neighbours` turns the user × item score matrix into every item's top-K
cosine neighbours:

1. *prepare*: the matrix is checked (finite, non-negative scores) and put in canonical form;
   items are renumbered by popularity (the busiest columns then share the cache) and ``B``
   is laid out by row and by column, its columns divided by their norms on the way (exact)
   or sampled and scaled the DIMSUM way first (:mod:`dimrec.train.dimsum`), so that in both
   cases the Gram matrix ``BᵀB`` is the answer; items are split into blocks of about equal
   work;
2. *top-k*: blocks of items run on the threads (:mod:`dimrec.train.local.workers`) through
   the compiled kernel (:mod:`dimrec.train.local.kernels`), most popular first: each pair is
   computed once (the symmetric half), kept in the item's own list and delivered to its
   partner unless the partner's list is known to hold K better ones; the layout is then
   freed, and each item's deliveries are grouped and merged into its list. Memory is the
   layout, the output (at most K pairs an item), one row per thread and the deliveries,
   never the items × items product;
3. *assemble*: the lists are closed up, in place, into a
   :class:`~dimrec.train.neighbours.Neighbours`.

Results do not depend on the number of threads: sums are exact integers, and each list is
the canonical top K of all of an item's pairs, whichever thread found them.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.errors import DataError, InvalidInputError
from dimrec.logs import log_context, timed
from dimrec.params import COSINE, TrainParams
from dimrec.train.base import Progress
from dimrec.train.dimsum import ScaledMatrix, dimsum_gamma, fixed_point_bits
from dimrec.train.local.kernels import (
    column_counts,
    column_norms,
    compact_lists,
    count_deliveries,
    count_scores,
    finish_lists,
    half_rows_topk,
    item_order,
    layout_rows,
    place_deliveries,
)
from dimrec.train.local.sampling import sampled_matrix
from dimrec.train.local.workers import Workers, even_bounds
from dimrec.train.neighbours import Neighbours

logger = logging.getLogger(__name__)

#: Items in one block at most (so that progress moves on steadily).
_BLOCK_ITEMS = 1 << 14
#: Blocks per thread: items differ wildly in cost, many blocks keep the threads busy together.
_BLOCKS_PER_THREAD = 32
#: Groups of blocks per thread when the deliveries are grouped by target.
_GROUPS_PER_THREAD = 4


def compute_neighbours(
    matrix: sp.csr_matrix,
    params: TrainParams,
    *,
    threads: int = 0,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> Neighbours:
    """Every item's top ``params.top_k`` neighbours by exact or DIMSUM cosine.

    ``matrix`` is users × items with finite scores ≥ 0, its columns in item id order (so that
    ties break by id). ``threads`` = 0 uses one thread per core. ``progress(done, total)`` is
    called with the number of items done. ``timings``, when given, receives the wall seconds
    of the steps ``similarity.prepare``, ``similarity.topk`` and ``similarity.assemble``.
    Raises DataError for unusable scores and InvalidInputError for an algorithm this engine
    does not compute or a negative thread count.
    """
    if params.algorithm not in COSINE:
        raise InvalidInputError(
            f"compute_neighbours computes cosine ({', '.join(COSINE)}), not "
            f"{params.algorithm!r}: choose algorithm cosine, exact or dimsum"
        )
    if threads < 0:
        raise InvalidInputError(f"threads must be ≥ 0 (0 = one per core), got {threads}")
    n_threads = threads or _cores()
    canonical = _canonical(matrix)  # once: a copy when the matrix is not canonical yet
    if params.algorithm == "cosine":
        from dimrec.train.local.algorithms import resolve_cosine

        params = resolve_cosine(canonical, params)
    steps = timings if timings is not None else {}
    with log_context(algorithm=params.algorithm, top_k=params.top_k), ExitStack() as stack:
        with timed(steps, "similarity.prepare", logger):
            n_items = canonical.shape[1]
            workers = stack.enter_context(Workers(n_threads))
            layout = _prepare(canonical, params, workers)
            k = min(params.top_k, max(n_items - 1, 1))
            bounds = _plan_blocks(layout.cost, n_threads)
        with timed(steps, "similarity.topk", logger):
            half = _run_blocks(layout, bounds, k, workers, progress)
            item_ids = layout.item_ids
            del layout  # the largest arrays: their memory serves the steps below
            lists = _finish(half, item_ids, k, workers)
        with timed(steps, "similarity.assemble", logger):
            neighbours = Neighbours(*compact_lists(*lists))
        logger.info(
            "%d items, %d users: %d neighbour pairs with %d threads",
            n_items,
            canonical.shape[0],
            len(neighbours),
            n_threads,
        )
    return neighbours


def load_kernels() -> None:
    """Load the compiled kernels — from Numba's cache, or compiled on the first run after an
    install — by running them once on a tiny matrix: what the first training call would
    otherwise pay (most of it Numba's own start-up). Safe on any thread (Numba compiles and
    loads one kernel at a time); the local engine runs it while DuckDB reads the window.
    Logs nothing, and computes nothing that is kept."""
    tiny = _canonical(sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 1.0]])))
    for gamma in (math.inf, 1.0):  # exact (columns divided in the layout), then sampled
        with Workers(2) as two:  # two slices: every kernel
            layout = _Layout.of(*_scaled(tiny, gamma, 0), two)
        one = Workers(1)
        half = _run_blocks(layout, _plan_blocks(layout.cost, 1), 1, one, None)
        compact_lists(*_finish(half, layout.item_ids, 1, one))


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _canonical(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The matrix as float64 CSR with sorted indices, no duplicates and no zeros; a copy
    unless it already is one (it is never modified)."""
    if not sp.issparse(matrix) or len(matrix.shape) != 2:
        raise DataError(
            f"expected a users × items scipy sparse matrix, got {type(matrix).__name__}"
        )
    if matrix.shape[1] >= np.iinfo(np.int32).max:
        raise DataError(f"{matrix.shape[1]} items do not fit 32-bit item indices")
    if isinstance(matrix, sp.csr_matrix) and matrix.dtype == np.float64:
        canonical = matrix
    else:
        canonical = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    bad, zeros = count_scores(canonical.data)
    if bad:
        raise DataError(
            f"{bad} of {canonical.nnz} scores are negative, NaN or infinite; "
            "cosine needs finite scores ≥ 0: check the action weights and the profiles"
        )
    tidy = canonical.indices.dtype == np.int32 and canonical.has_canonical_format and not zeros
    if not tidy:
        canonical = canonical.copy() if canonical is matrix else canonical
        canonical.sum_duplicates()
        canonical.eliminate_zeros()
        canonical.indices = canonical.indices.astype(np.int32, copy=False)
    return canonical


def _prepare(canonical: sp.csr_matrix, params: TrainParams, workers: Workers) -> _Layout:
    """The layout of ``B`` for exact cosine or DIMSUM (``params.algorithm``)."""
    gamma = (
        dimsum_gamma(params.threshold, canonical.shape[1])
        if params.algorithm == "dimsum"
        else math.inf
    )
    return _Layout.of(*_scaled(canonical, gamma, params.seed), workers)


def _scaled(
    canonical: sp.csr_matrix, gamma: float, seed: int
) -> tuple[sp.csr_matrix, npt.NDArray[np.float64] | None, float]:
    """``B`` as the layout takes it: (matrix, the column norms it is still to be divided by
    or None, the unit of its fixed-point sums). Exact cosine leaves the division to the
    layout (one pass, no scaled copy); DIMSUM samples first (:func:`sampled_matrix`, the
    compiled :func:`~dimrec.train.dimsum.scaled_matrix`)."""
    if math.isinf(gamma):
        norms = column_norms(canonical.indices, canonical.data, canonical.shape[1])
        return canonical, norms, 2.0 ** fixed_point_bits(0, gamma)
    scaled = sampled_matrix(canonical, gamma, seed)
    _log_sampling(scaled)
    return scaled.matrix, None, 2.0**scaled.bits


def _log_sampling(scaled: ScaledMatrix) -> None:
    if math.isinf(scaled.gamma):
        return
    logger.info(
        "DIMSUM γ=%.3f: %d items sampled, %d of %d entries kept (%.1f%%)",
        scaled.gamma,
        scaled.sampled_items,
        scaled.entries_kept,
        scaled.entries_in,
        100.0 * scaled.entries_kept / max(scaled.entries_in, 1),
    )


@dataclass(frozen=True)
class _Layout:
    """``B`` with items renumbered by decreasing popularity (:func:`item_order`), by row
    and by column (:func:`layout_rows`), and the work of each item."""

    row_ptr: npt.NDArray[np.integer]
    row_items: npt.NDArray[np.int32]
    row_values: npt.NDArray[np.float64]
    col_ptr: npt.NDArray[np.int64]
    col_starts: npt.NDArray[np.unsignedinteger]
    col_pos: npt.NDArray[np.unsignedinteger]
    item_ids: npt.NDArray[np.int32]
    """Internal index → item index of the caller."""
    cost: npt.NDArray[np.int64]
    """Work of each internal item: the entries its half row of BᵀB visits, plus one."""
    partners: npt.NDArray[np.int64]
    """A bound on each internal item's number of neighbours."""
    unit: float
    """Products are added as integers in units of 1/unit (``ScaledMatrix.bits``)."""

    @classmethod
    def of(
        cls,
        scaled: sp.csr_matrix,
        norms: npt.NDArray[np.float64] | None,
        unit: float,
        workers: Workers,
    ) -> _Layout:
        """The layout of ``scaled`` (canonical CSR) with its columns divided by ``norms``
        (None: as it is), its rows laid out in one slice of about equal entries per worker
        at once (the same arrays, bit for bit, as one slice)."""
        n_items = scaled.shape[1]
        divisors = np.empty(0) if norms is None else norms
        indptr, indices = scaled.indptr, scaled.indices
        item_ids, internal, col_ptr = item_order(indptr, indices, n_items)
        rows = even_bounds(indptr, workers.threads)
        n_slices = len(rows) - 1
        # Each slice fills its columns from where the slices before it end: per slice and
        # item, the next free slot, the cost and the partners (side by side, see layout_rows).
        tallies = np.zeros((n_slices, 3 * n_items), dtype=np.int64)
        tallies[:, 0::3] = col_ptr[:-1]
        if n_slices > 1:
            counts = np.zeros((n_slices, n_items), dtype=np.int64)
            workers.each(
                lambda s: column_counts(rows[s], rows[s + 1], indptr, indices, internal, counts[s]),
                rows,
            )
            tallies[1:, 0::3] += np.cumsum(counts[:-1], axis=0)
            del counts
        # Positions in the row arrays: 32-bit when they fit (less memory to fill and read).
        position = np.uint32 if scaled.nnz < 2**32 else np.uint64
        col_starts = np.empty(scaled.nnz, dtype=position)
        col_pos = np.empty(scaled.nnz, dtype=position)
        items = np.empty(scaled.nnz, dtype=np.int32)
        values = np.empty(scaled.nnz)

        def lay_out(s: int) -> None:
            layout_rows(
                rows[s], rows[s + 1], indptr, indices, scaled.data, internal, divisors,
                items, values, col_starts, col_pos, tallies[s],
            )  # fmt: skip

        workers.each(lay_out, rows)
        return cls(
            row_ptr=indptr,
            row_items=items,
            row_values=values,
            col_ptr=col_ptr,
            col_starts=col_starts,
            col_pos=col_pos,
            item_ids=item_ids,
            cost=1 + tallies[:, 1::3].sum(axis=0),
            partners=tallies[:, 2::3].sum(axis=0),
            unit=unit,
        )


def _plan_blocks(cost: npt.NDArray[np.int64], threads: int) -> npt.NDArray[np.int64]:
    """Block boundaries over internal items: about equal work, at most _BLOCK_ITEMS items."""
    by_cost = even_bounds(np.concatenate(([0], np.cumsum(cost))), threads * _BLOCKS_PER_THREAD)
    by_size = np.arange(0, len(cost), _BLOCK_ITEMS)
    return np.unique(np.concatenate((by_cost, by_size))).astype(np.int64)


#: A block's deliveries: target (internal number), key, source (item id).
Deliveries = tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64], npt.NDArray[np.int32]]


@dataclass
class _HalfRows:
    """What the half rows leave: each item's own list, at most k entries in no particular
    order in the room from ``starts[i]`` (``counts[i]`` of ``ids``/``keys``, by item id), and
    each block's deliveries to the lists of more popular items."""

    starts: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int32]
    ids: npt.NDArray[np.int32]
    keys: npt.NDArray[np.float64]
    deliveries: list[Deliveries]


def _run_blocks(
    layout: _Layout,
    bounds: npt.NDArray[np.int64],
    k: int,
    workers: Workers,
    progress: Progress | None,
) -> _HalfRows:
    """Run every block through the kernel, most popular first."""
    n_items = len(layout.item_ids)
    # Room for each item's list: k, or its number of possible neighbours if fewer.
    room = np.zeros(n_items, dtype=np.int64)
    room[layout.item_ids] = np.minimum(layout.partners, k)
    starts = np.concatenate(([0], np.cumsum(room)))
    counts = np.zeros(n_items, dtype=np.int32)
    ids = np.empty(starts[-1], dtype=np.int32)
    keys = np.empty(starts[-1], dtype=np.float64)
    floors = np.full(n_items, -1.0, dtype=np.float32)
    n_blocks = len(bounds) - 1
    finished = np.zeros(n_blocks + 1, dtype=bool)
    finished[n_blocks] = True  # a sentinel: the scan below stops there
    lock = threading.Lock()
    done_below = [0]  # items below it are done: every block up to there has finished

    def run(block: int) -> Deliveries:
        with lock:
            below = done_below[0]
        deliveries = half_rows_topk(
            int(bounds[block]),
            int(bounds[block + 1]),
            below,
            layout.col_ptr,
            layout.col_starts,
            layout.col_pos,
            layout.cost,
            layout.row_items,
            layout.row_values,
            layout.item_ids,
            layout.unit,
            k,
            starts,
            counts,
            ids,
            keys,
            floors,
        )
        with lock:  # the lock also orders the kernel's writes before the next block's reads
            finished[block] = True
            first_open = int(np.argmin(finished))
            done_below[0] = int(bounds[first_open]) if first_open < n_blocks else n_items
        return deliveries

    parts = workers.each(run, bounds, progress, n_items)
    return _HalfRows(starts, counts, ids, keys, parts)


def _finish(
    half: _HalfRows, item_ids: npt.NDArray[np.int32], k: int, workers: Workers
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]
]:
    """Merge each item's deliveries into its list and sort it: (starts, counts, neighbours,
    similarities) with room for at most k per item (the half rows' arrays, filled in)."""
    n_items = len(item_ids)
    offsets, in_keys, in_ids = _group_deliveries(half.deliveries, n_items, workers)
    half.deliveries.clear()
    # Ranges of about equal work: each item's deliveries, and its list's sort (~ k).
    ranges = even_bounds(offsets + k * np.arange(n_items + 1), workers.threads * 4)

    def finish(part: int) -> None:
        finish_lists(
            int(ranges[part]),
            int(ranges[part + 1]),
            k,
            offsets,
            in_keys,
            in_ids,
            item_ids,
            half.starts,
            half.counts,
            half.ids,
            half.keys,
        )

    workers.each(finish, ranges)
    return half.starts, half.counts, half.ids, half.keys


def _group_deliveries(
    parts: list[Deliveries], n_items: int, workers: Workers
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """The blocks' deliveries by target (internal number): offsets, keys, sources — a
    counting sort, the parts split in a few groups per worker, in order (each target's
    deliveries in block order)."""
    delivered = np.cumsum([0] + [len(part[0]) for part in parts])
    groups = even_bounds(delivered, _GROUPS_PER_THREAD * workers.threads)
    counts = np.zeros((len(groups) - 1, n_items), dtype=np.int64)

    def count(g: int) -> None:
        for part in parts[groups[g] : groups[g + 1]]:
            count_deliveries(part[0], counts[g])

    workers.each(count, groups)
    offsets = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=offsets[1:])
    fill = np.cumsum(counts, axis=0)  # each group's first free slots, below
    fill -= counts
    fill += offsets[:-1]
    keys = np.empty(offsets[-1])
    sources = np.empty(offsets[-1], dtype=np.int32)

    def place(g: int) -> None:
        for part in parts[groups[g] : groups[g + 1]]:
            place_deliveries(*part, fill[g], keys, sources)

    workers.each(place, groups)
    return offsets, keys, sources
