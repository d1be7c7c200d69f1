"""The local training engine: exact and DIMSUM item-item cosine on one machine.

:func:`compute_neighbours` turns the user × item score matrix into every item's top-K
cosine neighbours:

1. *prepare*: the matrix is checked (finite, non-negative scores) and put in canonical form;
   its columns are scaled to unit norm (exact) or sampled and scaled the DIMSUM way
   (:mod:`dimrec.train.dimsum`), so that in both cases the Gram matrix ``BᵀB`` is the answer;
   items are renumbered by popularity (the busiest columns then share the cache), and split
   into blocks of about equal work;
2. *top-k*: blocks run on a thread pool through the compiled kernel
   (:mod:`dimrec.train.local.kernels`), which builds one item's row of ``BᵀB`` at a time and
   writes its canonical top K straight to the item's place in the output: memory is the
   output (at most K pairs an item) plus one row per thread, never the items × items product;
3. *assemble*: the lists are closed up into a :class:`~dimrec.train.neighbours.Neighbours`.

Results do not depend on the number of threads: each item's row is summed in one fixed order.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.errors import DataError, InvalidInputError
from dimrec.logs import log_context, timed
from dimrec.params import COSINE, TrainParams
from dimrec.train.base import Progress
from dimrec.train.dimsum import ScaledMatrix, dimsum_gamma, scaled_matrix
from dimrec.train.local.kernels import column_visits, compact_lists, item_block_topk
from dimrec.train.neighbours import Neighbours

logger = logging.getLogger(__name__)

#: Items in one block at most (so that progress moves on steadily).
_BLOCK_ITEMS = 1 << 14
#: Blocks per thread: items differ wildly in cost, many blocks keep the threads busy together.
_BLOCKS_PER_THREAD = 32


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
            f"the local engine computes {' and '.join(COSINE)} cosine, not "
            f"{params.algorithm!r}: choose algorithm exact or dimsum"
        )
    if threads < 0:
        raise InvalidInputError(f"threads must be ≥ 0 (0 = one per core), got {threads}")
    n_threads = threads or _cores()
    steps = timings if timings is not None else {}
    with log_context(algorithm=params.algorithm, top_k=params.top_k):
        with timed(steps, "similarity.prepare", logger):
            canonical = _canonical(matrix)
            n_items = canonical.shape[1]
            gamma = (
                dimsum_gamma(params.threshold, n_items)
                if params.algorithm == "dimsum"
                else math.inf
            )
            scaled = scaled_matrix(canonical, gamma, params.seed)
            _log_sampling(scaled)
            layout = _Layout.of(scaled.matrix, 2.0**scaled.bits)
            k = min(params.top_k, max(n_items - 1, 1))
            bounds = _plan_blocks(layout.cost, n_threads)
        with timed(steps, "similarity.topk", logger):
            lists = _run_blocks(layout, bounds, k, n_threads, progress)
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
    bad = ~np.isfinite(canonical.data) | (canonical.data < 0)
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} of {canonical.nnz} scores are negative, NaN or infinite; "
            "cosine needs finite scores ≥ 0: check the action weights and the profiles"
        )
    tidy = (
        canonical.indices.dtype == np.int32
        and canonical.has_canonical_format
        and bool(np.all(canonical.data > 0))
    )
    if not tidy:
        canonical = canonical.copy() if canonical is matrix else canonical
        canonical.sum_duplicates()
        canonical.eliminate_zeros()
        canonical.indices = canonical.indices.astype(np.int32, copy=False)
    return canonical


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
    """``B`` with items renumbered by decreasing popularity, as CSR and CSC, and block costs."""

    rows: sp.csr_matrix
    cols: sp.csc_matrix
    item_ids: npt.NDArray[np.int32]
    """Internal index → item index of the caller."""
    cost: npt.NDArray[np.int64]
    """Work of each internal item: the entries its row of BᵀB visits, plus one."""
    unit: float
    """Products are added as integers in units of 1/unit (``ScaledMatrix.bits``)."""

    @classmethod
    def of(cls, scaled: sp.csr_matrix, unit: float) -> _Layout:
        n_items = scaled.shape[1]
        column_entries = np.bincount(scaled.indices, minlength=n_items)
        item_ids = np.argsort(-column_entries, kind="stable").astype(np.int32)
        internal = np.empty(n_items, dtype=np.int32)
        internal[item_ids] = np.arange(n_items, dtype=np.int32)
        rows = sp.csr_matrix(
            (scaled.data, internal[scaled.indices], scaled.indptr), shape=scaled.shape
        )
        cols = rows.tocsc()
        cols.indices = cols.indices.astype(np.int32, copy=False)
        cost = column_visits(cols.indptr, cols.indices, rows.indptr) + 1
        return cls(rows=rows, cols=cols, item_ids=item_ids, cost=cost, unit=unit)


def _plan_blocks(cost: npt.NDArray[np.int64], threads: int) -> npt.NDArray[np.int64]:
    """Block boundaries over internal items: about equal work, at most _BLOCK_ITEMS items."""
    n_items = len(cost)
    wanted = threads * _BLOCKS_PER_THREAD
    cumulative = np.cumsum(cost)
    total = int(cumulative[-1]) if n_items else 0
    by_cost = np.searchsorted(cumulative, np.arange(1, wanted) * (total / wanted))
    by_size = np.arange(0, n_items, _BLOCK_ITEMS)
    return np.unique(np.concatenate(([0, n_items], by_cost, by_size))).astype(np.int64)


def _run_blocks(
    layout: _Layout,
    bounds: npt.NDArray[np.int64],
    k: int,
    threads: int,
    progress: Progress | None,
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]
]:
    """Run every block through the kernel, each item's list written straight to its place:
    (starts, counts, neighbours, similarities) with room for at most k per item."""
    n_items = len(layout.item_ids)
    # Room for each item's list: k, or the number of products its row has if fewer.
    room = np.zeros(n_items, dtype=np.int64)
    room[layout.item_ids] = np.minimum(layout.cost - 1, k)
    starts = np.concatenate(([0], np.cumsum(room)))
    counts = np.zeros(n_items, dtype=np.int32)
    ids = np.empty(starts[-1], dtype=np.int32)
    sims = np.empty(starts[-1], dtype=np.float64)

    def run(block: int) -> None:
        item_block_topk(
            int(bounds[block]),
            int(bounds[block + 1]),
            layout.cols.indptr,
            layout.cols.indices,
            layout.cols.data,
            layout.rows.indptr,
            layout.rows.indices,
            layout.rows.data,
            layout.item_ids,
            layout.unit,
            k,
            starts,
            counts,
            ids,
            sims,
        )

    n_blocks = len(bounds) - 1
    done = 0
    if threads == 1 or n_blocks <= 1:
        for block in range(n_blocks):
            run(block)
            done += int(bounds[block + 1] - bounds[block])
            if progress is not None:
                progress(done, n_items)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dimrec-topk") as pool:
            futures = {pool.submit(run, block): block for block in range(n_blocks)}
            for future in as_completed(futures):
                future.result()
                block = futures[future]
                done += int(bounds[block + 1] - bounds[block])
                if progress is not None:
                    progress(done, n_items)
    return starts, counts, ids, sims
