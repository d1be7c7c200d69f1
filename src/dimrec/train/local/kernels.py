"""Compiled kernels of the local engine: item rows of a Gram matrix cut to a canonical top-K.

For an item ``i`` the kernel accumulates row ``i`` of ``BᵀB`` (``B`` users × items, scaled
so that the product is the cosine or its DIMSUM estimate) with Gustavson's row-by-row sparse
product: for every user ``u`` of column ``i``, for every item ``j`` of row ``u``,
``acc[j] += B[u, i]·B[u, j]``. The products are added as fixed-point integers — each one
rounded to a multiple of ``1/unit`` (``unit`` = 2⁵² for cosines; see
:func:`dimrec.train.dimsum.fixed_point_bits`) — so a sum is exact and does not depend on the
order of its terms: ``sim(i, j)`` equals ``sim(j, i)`` bit for bit, for any number of
threads, and any engine that adds the same rounded products (the Spark engine, in any
partitioning) gets the same bits.

The touched entries then go through a bounded heap of size ``k`` ordered by (similarity
desc, item id asc): the canonical order of :class:`~dimrec.train.neighbours.Neighbours`.
When there are more than ``k`` of them, a one-pass histogram of their values first finds
where the k-th best lies, so that only the few candidates above it reach the heap.
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


#: Candidate keys fall in buckets of 1/32 octave (the top bits of their IEEE-754 pattern,
#: which orders positive doubles like their values), to find the k-th best in one pass.
_BUCKET_SHIFT = 47
_FIRST_BUCKET = 1023 << (52 - _BUCKET_SHIFT)  # the bucket of key 1.0, the smallest key
N_BUCKETS = 64 << (52 - _BUCKET_SHIFT)  # keys up to 2^64


@njit(nogil=True, cache=True)
def _offer(
    key: float,
    jid: int,
    k: int,
    size: int,
    heap_keys: npt.NDArray[np.float64],
    heap_ids: npt.NDArray[np.int32],
) -> int:
    """Offer a candidate to the top-k heap (worst at the root); returns the new size."""
    if size < k:
        heap_keys[size] = key
        heap_ids[size] = jid
        _sift_up(heap_keys, heap_ids, size)
        return size + 1
    if key >= heap_keys[0] and _better(key, jid, heap_keys[0], heap_ids[0]):
        heap_keys[0] = key
        heap_ids[0] = jid
        _sift_down(heap_keys, heap_ids, size)
    return size


@njit(nogil=True, cache=True)
def _bucket(bits: int) -> int:
    return min((bits >> _BUCKET_SHIFT) - _FIRST_BUCKET, N_BUCKETS - 1)


@njit(nogil=True, cache=True)
def _select(
    m: int,
    k: int,
    cand_keys: npt.NDArray[np.float64],
    cand_bits: npt.NDArray[np.int64],
    cand_ids: npt.NDArray[np.int32],
    counts: npt.NDArray[np.int64],
    heap_keys: npt.NDArray[np.float64],
    heap_ids: npt.NDArray[np.int32],
) -> int:
    """The best ``k`` of ``m`` candidates into the heap; returns how many it holds.

    With more than ``k`` candidates, a histogram of their keys first finds the bucket of the
    k-th best, so that only candidates from that bucket up reach the heap: few replacements.
    """
    if m <= k:
        for t in range(m):
            _offer(cand_keys[t], cand_ids[t], k, t, heap_keys, heap_ids)
        return m
    low = N_BUCKETS
    high = 0
    for t in range(m):
        b = _bucket(cand_bits[t])
        counts[b] += 1
        low = min(low, b)
        high = max(high, b)
    above = 0
    cut = high
    while above + counts[cut] < k:
        above += counts[cut]
        cut -= 1
    counts[low : high + 1] = 0
    size = 0
    for t in range(m):
        if _bucket(cand_bits[t]) >= cut:
            size = _offer(cand_keys[t], cand_ids[t], k, size, heap_keys, heap_ids)
    return size


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
    unit: float,
    k: int,
    out_starts: npt.NDArray[np.int64],
    out_counts: npt.NDArray[np.int32],
    out_ids: npt.NDArray[np.int32],
    out_sims: npt.NDArray[np.float64],
) -> None:
    """Top-``k`` neighbours of the items ``start``..``stop-1`` (internal indices).

    ``B`` is given both as CSC (``col_*``) and CSR (``row_*``); ``item_ids`` maps an internal
    index to the item's id (its index in the caller's order), used for the tie-break and the
    output. Products are added as integers, in units of ``1/unit``. Item ``i``'s neighbours
    are written best first to ``out_ids``/``out_sims`` from ``out_starts[i]`` on (room for
    k, or for as many products as its row has, whichever is smaller), and their number to
    ``out_counts[i]``, ``i`` being the item's id.
    """
    n_items = len(item_ids)
    acc = np.zeros(n_items, dtype=np.int64)
    touched = np.empty(n_items + 1, dtype=np.int32)  # +1: the branchless append writes ahead
    cand_keys = np.empty(n_items)
    cand_bits = cand_keys.view(np.int64)
    cand_ids = np.empty(n_items, dtype=np.int32)
    counts = np.zeros(N_BUCKETS, dtype=np.int64)
    heap_keys = np.empty(k)
    heap_ids = np.empty(k, dtype=np.int32)
    for item in range(start, stop):
        # Row `item` of BᵀB. acc[j] == 0 marks an untouched slot: products are ≥ 0.
        n_touched = 0
        for p in range(col_ptr[item], col_ptr[item + 1]):
            user = col_users[p]
            value = col_values[p]
            for q in range(row_ptr[user], row_ptr[user + 1]):
                j = row_items[q]
                before = acc[j]
                touched[n_touched] = j  # kept only when the slot was untouched: no branch
                n_touched += before == 0
                acc[j] = before + np.int64(np.rint(value * row_values[q] * unit))
        m = 0
        for t in range(n_touched):
            j = touched[t]
            key = np.rint(acc[j] / unit * SIMILARITY_SCALE)
            acc[j] = 0  # also makes a slot listed twice (after a product rounded to 0) count once
            if j != item and key > 0.0:
                cand_keys[m] = key
                cand_ids[m] = item_ids[j]
                m += 1
        size = _select(m, k, cand_keys, cand_bits, cand_ids, counts, heap_keys, heap_ids)
        # Pop the worst first into the last slot: the list ends up best first.
        item_id = item_ids[item]
        first = out_starts[item_id]
        out_counts[item_id] = size
        for slot in range(size - 1, -1, -1):
            out_ids[first + slot] = heap_ids[0]
            out_sims[first + slot] = heap_keys[0] / SIMILARITY_SCALE
            heap_keys[0] = heap_keys[slot]
            heap_ids[0] = heap_ids[slot]
            _sift_down(heap_keys, heap_ids, slot)


@njit(nogil=True, cache=True)
def compact_lists(
    starts: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int32],
    ids: npt.NDArray[np.int32],
    sims: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Close the gaps between the items' lists: (item, neighbour, similarity) arrays."""
    total = 0
    for i in range(len(counts)):
        total += counts[i]
    item = np.empty(total, dtype=np.int32)
    neighbour = np.empty(total, dtype=np.int32)
    similarity = np.empty(total)
    position = 0
    for i in range(len(counts)):
        for x in range(counts[i]):
            item[position] = i
            neighbour[position] = ids[starts[i] + x]
            similarity[position] = sims[starts[i] + x]
            position += 1
    return item, neighbour, similarity


@njit(nogil=True, cache=True)
def column_visits(
    col_ptr: npt.NDArray[np.integer],
    col_users: npt.NDArray[np.integer],
    row_ptr: npt.NDArray[np.integer],
) -> npt.NDArray[np.int64]:
    """For each column, the entries its row of BᵀB visits: the summed lengths of its users'
    rows (the work of the column, and a bound on its number of neighbours)."""
    n_cols = len(col_ptr) - 1
    visits = np.zeros(n_cols, dtype=np.int64)
    for i in range(n_cols):
        total = 0
        for p in range(col_ptr[i], col_ptr[i + 1]):
            total += row_ptr[col_users[p] + 1] - row_ptr[col_users[p]]
        visits[i] = total
    return visits
