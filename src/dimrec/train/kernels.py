"""Compiled kernels of the local engine: item rows of a Gram matrix cut to a canonical top-K.

For an item ``i`` the kernel accumulates row ``i`` of ``BᵀB`` (``B`` users × items, scaled
so that the product is the cosine or its DIMSUM estimate) with Gustavson's row-by-row sparse
product: for every user ``u`` of column ``i``, for every item ``j`` of row ``u``,
``acc[j] += B[u, i]·B[u, j]``. The users of a column are visited in ascending order, so
``sim(i, j)`` and ``sim(j, i)`` add the very same products in the very same order: the
result is bitwise symmetric, and the same for any number of threads.

The touched entries then go through a bounded heap of size ``k`` ordered by (similarity
desc, item id asc): the canonical order of :class:`~dimrec.train.neighbours.Neighbours`.
Similarities are rounded to ``1/SIMILARITY_SCALE`` (12 decimals) before they are compared,
so that mathematically equal similarities that floating point left one ulp apart tie, and
the tie is broken by item id as the contract says, rather than by rounding noise.

Every function here releases the GIL (``nogil``): the caller runs item blocks on threads.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

#: Similarities are reported as ``rint(s·SIMILARITY_SCALE)/SIMILARITY_SCALE`` (12 decimals).
SIMILARITY_SCALE = 1e12


def round_similarity(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The canonical rounding of similarities, the NumPy twin of what the kernel does."""
    return np.rint(np.asarray(values, dtype=np.float64) * SIMILARITY_SCALE) / SIMILARITY_SCALE


@njit(nogil=True, cache=True, inline="always")
def _better(key_a: float, id_a: int, key_b: float, id_b: int) -> bool:
    """Whether (key_a, id_a) comes before (key_b, id_b): higher key, then lower id."""
    return key_a > key_b or (key_a == key_b and id_a < id_b)


@njit(nogil=True, cache=True)
def _sift_down(keys: npt.NDArray[np.float64], ids: npt.NDArray[np.int32], size: int) -> None:
    """Restore the heap (worst entry at the root) after the root was replaced."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _better(keys[child], ids[child], keys[right], ids[right]):
            child = right
        if not _better(keys[pos], ids[pos], keys[child], ids[child]):
            return
        keys[pos], keys[child] = keys[child], keys[pos]
        ids[pos], ids[child] = ids[child], ids[pos]
        pos = child


@njit(nogil=True, cache=True)
def _sift_up(keys: npt.NDArray[np.float64], ids: npt.NDArray[np.int32], pos: int) -> None:
    """Restore the heap after an entry was appended at ``pos``."""
    while pos > 0:
        parent = (pos - 1) // 2
        if not _better(keys[parent], ids[parent], keys[pos], ids[pos]):
            return
        keys[pos], keys[parent] = keys[parent], keys[pos]
        ids[pos], ids[parent] = ids[parent], ids[pos]
        pos = parent


@njit(nogil=True, cache=True)
def item_block_topk(
    start: int,
    stop: int,
    col_ptr: npt.NDArray[np.integer],
    col_users: npt.NDArray[np.integer],
    col_values: npt.NDArray[np.float64],
    row_ptr: npt.NDArray[np.integer],
    row_items: npt.NDArray[np.integer],
    row_values: npt.NDArray[np.float64],
    item_ids: npt.NDArray[np.int32],
    k: int,
    acc: npt.NDArray[np.float64],
    touched: npt.NDArray[np.int32],
    heap_keys: npt.NDArray[np.float64],
    heap_ids: npt.NDArray[np.int32],
    out_counts: npt.NDArray[np.int32],
    out_ids: npt.NDArray[np.int32],
    out_sims: npt.NDArray[np.float64],
) -> int:
    """Top-``k`` neighbours of the items ``start``..``stop-1`` (internal indices).

    ``B`` is given both as CSC (``col_*``) and CSR (``row_*``); ``item_ids`` maps an internal
    index to the item's id (index in the caller's order), used for the tie-break and the
    output. ``acc`` (zeros) and ``touched`` have one slot per item and are returned zeroed;
    ``heap_*`` have ``k`` slots. Each item's neighbours are written best first, one block
    after the other, to ``out_ids``/``out_sims``; ``out_counts`` gets their number per item.
    Returns the number of pairs written.
    """
    written = 0
    for item in range(start, stop):
        # Row `item` of BᵀB. acc[j] == 0 marks an untouched slot: products are positive.
        n_touched = 0
        for p in range(col_ptr[item], col_ptr[item + 1]):
            user = col_users[p]
            value = col_values[p]
            for q in range(row_ptr[user], row_ptr[user + 1]):
                j = row_items[q]
                if acc[j] == 0.0:
                    touched[n_touched] = j
                    n_touched += 1
                acc[j] += value * row_values[q]
        # Canonical top-k through a heap whose root is the worst entry kept.
        size = 0
        for t in range(n_touched):
            j = touched[t]
            key = np.rint(acc[j] * SIMILARITY_SCALE)
            acc[j] = 0.0  # also makes a slot listed twice (after an underflow) count once
            if j == item or key <= 0.0:
                continue
            if size < k:
                heap_keys[size] = key
                heap_ids[size] = item_ids[j]
                _sift_up(heap_keys, heap_ids, size)
                size += 1
            elif key >= heap_keys[0] and _better(key, item_ids[j], heap_keys[0], heap_ids[0]):
                heap_keys[0] = key
                heap_ids[0] = item_ids[j]
                _sift_down(heap_keys, heap_ids, size)
        # Pop the worst first into the last slot: the block ends up best first.
        out_counts[item - start] = size
        for slot in range(size - 1, -1, -1):
            out_ids[written + slot] = heap_ids[0]
            out_sims[written + slot] = heap_keys[0] / SIMILARITY_SCALE
            heap_keys[0] = heap_keys[slot]
            heap_ids[0] = heap_ids[slot]
            _sift_down(heap_keys, heap_ids, slot)
        written += size
    return written


@njit(nogil=True, cache=True)
def scatter_lists(
    item_ids: npt.NDArray[np.int32],
    counts: npt.NDArray[np.int32],
    ids: npt.NDArray[np.int32],
    sims: npt.NDArray[np.float64],
    item_starts: npt.NDArray[np.int64],
    out_ids: npt.NDArray[np.int32],
    out_sims: npt.NDArray[np.float64],
) -> None:
    """Copy a block's lists (``counts[t]`` pairs for item ``item_ids[t]``, one after the
    other in ``ids``/``sims``) to ``out_*`` at the item's position ``item_starts[item]``."""
    source = 0
    for t in range(len(item_ids)):
        target = item_starts[item_ids[t]]
        for x in range(counts[t]):
            out_ids[target + x] = ids[source + x]
            out_sims[target + x] = sims[source + x]
        source += counts[t]
