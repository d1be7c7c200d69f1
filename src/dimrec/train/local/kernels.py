"""Compiled kernels of the local engine: the Gram matrix ``BᵀB`` cut to each item's top K.

``B`` (users × items) is scaled so that ``BᵀB`` is the cosine or its DIMSUM estimate. Items
are renumbered by decreasing popularity (:func:`item_order`) and each user's row sorted by
that number, so the more popular partners of an item come first in every row.

**The symmetric half.** ``BᵀB`` is symmetric, so each pair is computed once: the kernel
builds the half row of item ``i`` — its sums with the *more popular* items ``j < i`` — with
Gustavson's row-by-row product (for every user ``u`` of column ``i``, for every item ``j``
before ``i`` in row ``u``: ``acc[j] += B[u, i]·B[u, j]``), half the visits of the full row.
Each sum serves twice: as a candidate of ``i``'s own list, and *delivered* to ``j``'s list.
Item ``i``'s own list (the best K of its half row) is final for its more popular partners
and gives a floor: the K-th best key found so far. Rows are processed most popular first, so
when row ``i`` runs, most more popular items ``j`` are done, and a delivery that does not
beat ``j``'s floor cannot enter ``j``'s top K: it is dropped (only rows known to be done —
earlier in the same block, or in blocks finished before this one started — give a floor, so
what is dropped never depends on timing). :func:`count_deliveries` and
:func:`place_deliveries` group the deliveries by target, then :func:`finish_lists` merges
each item's deliveries into its own list and sorts it. The result is the top K of all of
``i``'s pairs, exactly as a full row would give, whatever the number of threads.

**Exact, order-free sums.** Products are added as fixed-point integers — each one rounded
to a multiple of ``1/unit`` (``unit`` = 2⁵² for cosines; see
:func:`dimrec.train.dimsum.fixed_point_bits`) — so a sum is exact and does not depend on the
order of its terms: any engine that adds the same rounded products (the Spark engine, in any
partitioning) gets the same bits.

**Canonical lists.** Lists are ordered by (similarity desc, item id asc): the canonical
order of :class:`~dimrec.train.neighbours.Neighbours`. When there are more than ``k``
candidates, a one-pass histogram of their values first finds where the k-th best lies:
those above it are in, and only the candidates of its bucket go through a bounded heap.
A finished list is sorted by counting ranks (short lists) or as a heap. Similarities are
rounded to ``1/SIMILARITY_SCALE`` (12 decimals) before they are compared, so that
mathematically equal similarities that floating point left one ulp apart tie, and the tie
is broken by item id as the contract says, rather than by rounding noise.

Loops index with unsigned integers (Numba then skips its negative-index wraparound) and the
kernels release the GIL (``nogil``): the caller runs item blocks on threads.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from dimrec.train.local.intrinsics import llrint, prefetch

#: Similarities are reported as ``rint(s·SIMILARITY_SCALE)/SIMILARITY_SCALE`` (12 decimals).
SIMILARITY_SCALE = 1e12


def round_similarity(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The canonical rounding of similarities, the NumPy twin of what the kernel does."""
    return np.rint(np.asarray(values, dtype=np.float64) * SIMILARITY_SCALE) / SIMILARITY_SCALE


@njit(nogil=True, cache=True, inline="always")
def _better(key_a: float, id_a: int, key_b: float, id_b: int) -> bool:
    """Whether (key_a, id_a) comes before (key_b, id_b): higher key, then lower id."""
    return (key_a > key_b) | ((key_a == key_b) & (id_a < id_b))  # no branch: often unpredictable


@njit(nogil=True, cache=True)
def _sift_down(
    keys: npt.NDArray[np.float64], ids: npt.NDArray[np.int32], size: int, pos: int = 0
) -> None:
    """Restore the heap (worst entry at the root) below ``pos``, after that entry was
    replaced."""
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
def _heapify(keys: npt.NDArray[np.float64], ids: npt.NDArray[np.int32], size: int) -> None:
    """Make a heap (worst entry at the root) of the first ``size`` entries."""
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(keys, ids, size, pos)


@njit(nogil=True, cache=True)
def _worst(keys: npt.NDArray[np.float64], ids: npt.NDArray[np.int32], size: int) -> float:
    """The key of the last of ``size`` entries in the canonical order (``size`` ≥ 1)."""
    at = 0
    for t in range(1, size):
        if _better(keys[at], ids[at], keys[t], ids[t]):
            at = t
    return float(keys[at])


#: Lists up to this long are sorted by counting each entry's rank — n² comparisons without
#: a branch, which the compiler vectorises: faster than a heap's n·log n for short lists.
_RANK_SORT = 64


@njit(nogil=True, cache=True)
def _sort_best_first(
    keys: npt.NDArray[np.float64],
    ids: npt.NDArray[np.int32],
    size: int,
    scratch_keys: npt.NDArray[np.float64],
    scratch_ids: npt.NDArray[np.int32],
) -> None:
    """Sort ``size`` entries in the canonical order (key desc, id asc), in place; the
    scratch arrays hold at least ``min(size, _RANK_SORT)``."""
    if size <= _RANK_SORT:
        for a in range(size):
            rank = 0  # how many entries come before entry a: they are all distinct
            for b in range(size):
                rank += _better(keys[b], ids[b], keys[a], ids[a])
            scratch_keys[rank] = keys[a]
            scratch_ids[rank] = ids[a]
        keys[:size] = scratch_keys[:size]
        ids[:size] = scratch_ids[:size]
        return
    _heapify(keys, ids, size)
    for slot in range(size - 1, -1, -1):  # pop the worst into the last slot
        key, jid = keys[0], ids[0]
        keys[0] = keys[slot]
        ids[0] = ids[slot]
        _sift_down(keys, ids, slot)
        keys[slot] = key
        ids[slot] = jid


@njit(nogil=True, cache=True)
def _select(
    m: int,
    k: int,
    cand_keys: npt.NDArray[np.float64],
    cand_ids: npt.NDArray[np.int32],
    counts: npt.NDArray[np.int64],
    heap_keys: npt.NDArray[np.float64],
    heap_ids: npt.NDArray[np.int32],
) -> int:
    """The best ``k`` of ``m`` candidates (keys, item ids), in no particular order; returns
    how many there are. The candidate arrays are used as scratch; ``counts`` (N_BUCKETS
    zeros) is left as it was found.

    With more than ``k`` candidates, a histogram of their keys first finds the bucket of the
    k-th best: the candidates above that bucket are all in, and only those of the bucket
    itself are sorted out, through a heap of the places left.
    """
    if m <= k:
        heap_keys[:m] = cand_keys[:m]
        heap_ids[:m] = cand_ids[:m]
        return m
    cand_bits = cand_keys.view(np.int64)
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
    tied = 0  # the cut bucket's candidates, moved to the front of the candidate arrays
    for t in range(m):
        b = _bucket(cand_bits[t])
        if b > cut:
            heap_keys[size] = cand_keys[t]
            heap_ids[size] = cand_ids[t]
            size += 1
        elif b == cut:
            cand_keys[tied] = cand_keys[t]
            cand_ids[tied] = cand_ids[t]
            tied += 1
    rest_keys = heap_keys[size:k]
    rest_ids = heap_ids[size:k]
    taken = 0
    for t in range(tied):
        taken = _offer(cand_keys[t], cand_ids[t], k - size, taken, rest_keys, rest_ids)
    return k


@njit(nogil=True, cache=True)
def _floor_of(key: float) -> np.float32:
    """The largest float32 ≤ ``key``: a floor that float32 rounding never lifts."""
    low = np.float32(key)
    if low > key:
        low = np.nextafter(low, np.float32(-np.inf))
    return low


#: How many column entries ahead the half-row loop prefetches the row of.
_AHEAD = 8
#: How many entries ahead the layout fetches a tally (its column slots: half as far).
_LAY_AHEAD = 16
#: Rows up to this length are sorted by insertion, longer ones by a quicksort.
_SHORT_ROW = 32
#: Deliveries a block holds at first (its buffers double when full).
_FIRST_DELIVERIES = 1 << 16


@njit(nogil=True, cache=True)
def half_rows_topk(
    start: int,
    stop: int,
    done_below: int,
    col_ptr: npt.NDArray[np.int64],
    col_starts: npt.NDArray[np.unsignedinteger],
    col_pos: npt.NDArray[np.unsignedinteger],
    cost: npt.NDArray[np.int64],
    row_items: npt.NDArray[np.int32],
    row_values: npt.NDArray[np.float64],
    item_ids: npt.NDArray[np.int32],
    unit: float,
    k: int,
    out_starts: npt.NDArray[np.int64],
    out_counts: npt.NDArray[np.int32],
    out_ids: npt.NDArray[np.int32],
    out_keys: npt.NDArray[np.float64],
    floors: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """Half rows of the items ``start``..``stop-1`` (internal numbers, in that order): each
    item's best ``k`` more popular partners, and the deliveries to those partners.

    ``B`` is given by row (``row_*``, items in internal numbers, sorted) and by column
    (``col_*``: where each column entry's row begins in the row arrays, and the entry's own
    position there), and each item's cost (the products of its half row, plus one);
    ``item_ids``
    maps an internal number to the caller's index, used for the tie-break and the output.
    Products are added as integers, in units of ``1/unit``. Item ``i``'s own list is left,
    unordered, as keys (similarity × ``SIMILARITY_SCALE``) in
    ``out_ids``/``out_keys`` from ``out_starts[i]`` on, its size in ``out_counts[i]`` (``i``
    being the item's id), and its floor (K-th best key, or −1 while it holds fewer than
    ``k``) in ``floors``; items below ``done_below`` are done, so their floors may be used.
    Returns the deliveries: target (internal number), key and source (item id).
    """
    n_items = len(item_ids)
    to_key = SIMILARITY_SCALE / unit  # unit is a power of two: the same bits as acc/unit·scale
    acc = np.zeros(n_items, dtype=np.int64)
    touched = np.empty(n_items + 1, dtype=np.uint32)  # +1: the branchless append writes ahead
    cand_keys = np.empty(n_items)
    cand_ids = np.empty(n_items, dtype=np.int32)
    counts = np.zeros(N_BUCKETS, dtype=np.int64)
    room = _FIRST_DELIVERIES
    to_items = np.empty(room, dtype=np.uint32)
    to_keys = np.empty(room)
    from_ids = np.empty(room, dtype=np.int32)
    delivered = 0
    first_done = np.uint64(start)
    done_before = np.uint64(done_below)
    last = max(col_ptr[n_items] - 1, 0)
    for item in range(start, stop):
        # Half row `item` of BᵀB. acc[j] == 0 marks an untouched slot: products are ≥ 0.
        # A dense half row (more products than slots before `item`) lists its slots by a
        # scan afterwards; a sparse one as they are first touched.
        dense = cost[item] >= item
        n_touched = np.uint64(0)
        for p in range(col_ptr[item], col_ptr[item + 1]):
            ahead = np.uint64(col_starts[min(p + _AHEAD, last)])  # a row a few entries on
            prefetch(row_items, ahead)
            prefetch(row_values, ahead)
            own = np.uint64(col_pos[p])  # the entry's place in its row: the half row ends there
            value = row_values[own] * unit  # unit is a power of two: value·w·unit, same bits
            if dense:
                for q in range(np.uint64(col_starts[p]), own):
                    acc[np.uint64(row_items[q])] += llrint(value * row_values[q])
                continue
            for q in range(np.uint64(col_starts[p]), own):
                j = np.uint64(row_items[q])
                before = acc[j]
                touched[n_touched] = j  # kept only when the slot was untouched: no branch
                n_touched += np.uint64(before == 0)
                acc[j] = before + llrint(value * row_values[q])
        if dense:
            for slot in range(np.uint64(item)):
                touched[n_touched] = slot
                n_touched += np.uint64(acc[slot] != 0)
        if delivered + n_touched > room:
            room = max(2 * room, delivered + int(n_touched))
            more_items = np.empty(room, dtype=np.uint32)
            more_items[:delivered] = to_items[:delivered]
            more_keys = np.empty(room)
            more_keys[:delivered] = to_keys[:delivered]
            more_ids = np.empty(room, dtype=np.int32)
            more_ids[:delivered] = from_ids[:delivered]
            to_items, to_keys, from_ids = more_items, more_keys, more_ids
        item_id = item_ids[item]
        m = 0
        for t in range(n_touched):
            j = np.uint64(touched[t])
            key = np.rint(acc[j] * to_key)
            acc[j] = 0  # also makes a slot listed twice (after a product rounded to 0) count once
            if key > 0.0:
                cand_keys[m] = key
                cand_ids[m] = item_ids[j]
                m += 1
                if (j < done_before or j >= first_done) and key < floors[j]:
                    continue  # j's list is done and holds k better ones
                to_items[delivered] = j
                to_keys[delivered] = key
                from_ids[delivered] = item_id
                delivered += 1
        first = out_starts[item_id]
        heap_keys = out_keys[first : first + k]
        heap_ids = out_ids[first : first + k]
        size = _select(m, k, cand_keys, cand_ids, counts, heap_keys, heap_ids)
        out_counts[item_id] = size
        floors[item] = _floor_of(_worst(heap_keys, heap_ids, size)) if size == k else -1.0
    return to_items[:delivered], to_keys[:delivered], from_ids[:delivered]  # views: no copy


@njit(nogil=True, cache=True)
def count_deliveries(to_items: npt.NDArray[np.uint32], counts: npt.NDArray[np.int64]) -> None:
    """Add one part's deliveries to ``counts`` by target (internal number)."""
    for t in range(len(to_items)):
        counts[np.uint64(to_items[t])] += 1


@njit(nogil=True, cache=True)
def place_deliveries(
    to_items: npt.NDArray[np.uint32],
    to_keys: npt.NDArray[np.float64],
    from_ids: npt.NDArray[np.int32],
    fill: npt.NDArray[np.int64],
    keys: npt.NDArray[np.float64],
    sources: npt.NDArray[np.int32],
) -> None:
    """Put one part's deliveries in their target's run of ``keys``/``sources`` (a counting
    sort): ``fill`` is each target's next free slot, advanced."""
    for t in range(len(to_items)):
        target = np.uint64(to_items[t])
        slot = fill[target]
        keys[slot] = to_keys[t]
        sources[slot] = from_ids[t]
        fill[target] = slot + 1


@njit(nogil=True, cache=True)
def finish_lists(
    start: int,
    stop: int,
    k: int,
    offsets: npt.NDArray[np.int64],
    keys: npt.NDArray[np.float64],
    sources: npt.NDArray[np.int32],
    item_ids: npt.NDArray[np.int32],
    out_starts: npt.NDArray[np.int64],
    out_counts: npt.NDArray[np.int32],
    out_ids: npt.NDArray[np.int32],
    out_keys: npt.NDArray[np.float64],
) -> None:
    """Merge the deliveries of the items ``start``..``stop-1`` (internal numbers) into their
    own lists, and write each list best first: ids in ``out_ids``, similarities in
    place of the keys in ``out_keys``. An item whose list and deliveries hold more than
    ``k`` keeps the best ``k`` of them, as a half row does (:func:`_select`)."""
    most = 0
    for internal in range(start, stop):
        most = max(most, offsets[internal + 1] - offsets[internal])
    cand_keys = np.empty(most + k)
    cand_ids = np.empty(most + k, dtype=np.int32)
    counts = np.zeros(N_BUCKETS, dtype=np.int64)
    sort_keys = np.empty(min(k, _RANK_SORT))
    sort_ids = np.empty(min(k, _RANK_SORT), dtype=np.int32)
    for internal in range(start, stop):
        item = item_ids[internal]
        first = out_starts[item]
        heap_keys = out_keys[first : first + k]
        heap_ids = out_ids[first : first + k]
        size = out_counts[item]
        begin, end = offsets[internal], offsets[internal + 1]
        if size + (end - begin) <= k:  # all in: room is at least size + deliveries here
            heap_keys[size : size + end - begin] = keys[begin:end]
            heap_ids[size : size + end - begin] = sources[begin:end]
            size += end - begin
        else:
            cand_keys[:size] = heap_keys[:size]
            cand_ids[:size] = heap_ids[:size]
            cand_keys[size : size + end - begin] = keys[begin:end]
            cand_ids[size : size + end - begin] = sources[begin:end]
            size = _select(size + end - begin, k, cand_keys, cand_ids, counts, heap_keys, heap_ids)
        out_counts[item] = size
        _sort_best_first(heap_keys, heap_ids, size, sort_keys, sort_ids)
        for slot in range(size):
            heap_keys[slot] = heap_keys[slot] / SIMILARITY_SCALE


@njit(nogil=True, cache=True)
def compact_lists(
    starts: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int32],
    ids: npt.NDArray[np.int32],
    sims: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Close the gaps between the items' lists, in place (each list moves towards the
    front, never past one not moved yet): (item, neighbour, similarity) arrays, the last
    two views of ``ids`` and ``sims``."""
    total = 0
    for i in range(len(counts)):
        total += counts[i]
    item = np.empty(total, dtype=np.int32)
    position = 0
    for i in range(len(counts)):
        first = starts[i]
        for x in range(counts[i]):
            item[position] = i
            ids[position] = ids[first + x]
            sims[position] = sims[first + x]
            position += 1
    return item, ids[:total], sims[:total]


@njit(nogil=True, cache=True)
def count_scores(scores: npt.NDArray[np.float64]) -> tuple[int, int]:
    """How many scores are unusable (NaN, infinite or negative), and how many are zeros: one
    pass, no temporaries."""
    bad = 0
    zeros = 0
    for q in range(len(scores)):
        score = scores[q]
        bad += not (0.0 <= score < np.inf)  # NaN compares false
        zeros += score == 0.0
    return bad, zeros


@njit(nogil=True, cache=True)
def column_norms(
    row_items: npt.NDArray[np.int32], row_values: npt.NDArray[np.float64], n_items: int
) -> npt.NDArray[np.float64]:
    """‖c_i‖ of every column of a CSR matrix (its indices and data): the squares added in
    entry order from 0.0, as :func:`dimrec.train.dimsum.column_norms` (NumPy's
    ``bincount``) and the Spark engine add them — the same bits — without their
    temporaries."""
    squares = np.zeros(n_items)
    for q in range(len(row_items)):
        value = row_values[q]
        squares[np.uint64(row_items[q])] += value * value
    return np.sqrt(squares)


@njit(nogil=True, cache=True, inline="always")
def _keep_probability(unit: float, gamma: float) -> float:
    """``min(1, γ·x)``: the chance DIMSUM keeps an entry of unit score ``x``, as
    :func:`dimrec.train.dimsum.keep_probability` computes it (one place for both passes:
    the draws the first counts are the draws the second takes)."""
    return min(1.0, gamma * unit)


@njit(nogil=True, cache=True)
def count_sampled(
    begin: int,
    end: int,
    row_items: npt.NDArray[np.int32],
    row_values: npt.NDArray[np.float64],
    norms: npt.NDArray[np.float64],
    gamma: float,
    entries: npt.NDArray[np.int64],
    sampled: npt.NDArray[np.bool_],
) -> int:
    """How many of the entries ``begin``..``end-1`` DIMSUM keeps with probability < 1
    (``min(1, γ·a/‖c‖) < 1``); each entry is added to its column's count in ``entries``, and
    the columns of those entries are marked in ``sampled``."""
    found = 0
    for q in range(begin, end):
        column = np.uint64(row_items[q])
        entries[column] += 1
        if _keep_probability(row_values[q] / norms[column], gamma) < 1.0:
            found += 1
            sampled[column] = True
    return found


@njit(nogil=True, cache=True)
def sample_rows(
    first_row: int,
    stop_row: int,
    row_ptr: npt.NDArray[np.integer],
    row_items: npt.NDArray[np.int32],
    row_values: npt.NDArray[np.float64],
    norms: npt.NDArray[np.float64],
    gamma: float,
    smallest: float,
    draws: npt.NDArray[np.float64],
    out_ptr: npt.NDArray[np.int64],
    out_items: npt.NDArray[np.int32],
    out_values: npt.NDArray[np.float64],
    written: int,
) -> int:
    """DIMSUM's sample of rows ``first_row``..``stop_row-1``, written from ``written`` on:
    an entry of unit score ``x = a/‖c‖`` is kept when ``p = min(1, γx)`` is 1 or its draw
    (the next of ``draws``, one per entry with p < 1, in entry order) is below ``p``, and
    becomes ``max(x, smallest)``; ``out_ptr[row + 1]`` is where each row's entries end.
    Returns where the next row's begin."""
    d = 0
    for row in range(first_row, stop_row):
        for q in range(row_ptr[row], row_ptr[row + 1]):
            column = np.uint64(row_items[q])
            unit = row_values[q] / norms[column]
            p = _keep_probability(unit, gamma)
            if p < 1.0:
                d += 1
                if not draws[d - 1] < p:
                    continue
            out_items[written] = row_items[q]
            out_values[written] = max(unit, smallest)
            written += 1
        out_ptr[row + 1] = written
    return written


@njit(nogil=True, cache=True)
def item_order(
    row_ptr: npt.NDArray[np.integer], row_items: npt.NDArray[np.int32], n_items: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Items renumbered by decreasing number of entries (ties by index), so that the busiest
    columns share the cache: ``item_ids`` (internal number → the caller's index), its
    inverse ``internal``, and ``col_ptr`` (where each internal item's column begins)."""
    entries = np.zeros(n_items, dtype=np.int64)
    for q in range(row_ptr[len(row_ptr) - 1]):
        entries[np.uint64(row_items[q])] += 1
    # A counting sort by entries, most first, stable: ties keep their index order.
    most = entries.max() if n_items else 0
    first = np.zeros(most + 2, dtype=np.int64)  # where the items with most − c entries begin
    for index in range(n_items):
        first[most - entries[index] + 1] += 1
    for c in range(most + 1):
        first[c + 1] += first[c]
    item_ids = np.empty(n_items, dtype=np.int32)
    for index in range(n_items):
        at = most - entries[index]
        item_ids[first[at]] = index
        first[at] += 1
    internal = np.empty(n_items, dtype=np.int32)
    col_ptr = np.zeros(n_items + 1, dtype=np.int64)
    for new in range(n_items):
        item = np.uint64(item_ids[new])
        internal[item] = new
        col_ptr[new + 1] = col_ptr[new] + entries[item]
    return item_ids, internal, col_ptr


@njit(nogil=True, cache=True)
def column_counts(
    first_row: int,
    stop_row: int,
    row_ptr: npt.NDArray[np.integer],
    row_items: npt.NDArray[np.int32],
    internal: npt.NDArray[np.int32],
    counts: npt.NDArray[np.int64],
) -> None:
    """Add to ``counts`` (by internal number) the entries of rows ``first_row``..``stop_row-1``:
    where each slice of rows starts in every column, when slices are laid out on threads."""
    for q in range(row_ptr[first_row], row_ptr[stop_row]):
        counts[np.uint64(internal[np.uint64(row_items[q])])] += 1


@njit(nogil=True, cache=True, inline="always")
def _unit_value(
    row_items: npt.NDArray[np.int32],
    row_values: npt.NDArray[np.float64],
    norms: npt.NDArray[np.float64],
    q: int | np.uint64,
) -> float:
    """Entry ``q``'s value divided by its column's norm (the division of
    :func:`dimrec.train.dimsum.unit_scores`, so the same bits), or as it is when ``norms``
    is empty."""
    if len(norms) == 0:
        return float(row_values[q])
    return float(row_values[q] / norms[np.uint64(row_items[q])])


@njit(nogil=True, cache=True)
def layout_rows(
    first_row: int,
    stop_row: int,
    row_ptr: npt.NDArray[np.integer],
    row_items: npt.NDArray[np.int32],
    row_values: npt.NDArray[np.float64],
    internal: npt.NDArray[np.int32],
    norms: npt.NDArray[np.float64],
    items: npt.NDArray[np.int32],
    values: npt.NDArray[np.float64],
    col_starts: npt.NDArray[np.unsignedinteger],
    col_pos: npt.NDArray[np.unsignedinteger],
    tally: npt.NDArray[np.int64],
) -> None:
    """The kernel's view of rows ``first_row``..``stop_row-1`` of ``B`` (CSR), in one pass.

    Each row's items, renumbered by ``internal``, are sorted ascending into ``items`` and
    ``values`` (``row_ptr`` is unchanged); each value is divided by its column's norm in
    ``norms`` (by the caller's index) unless ``norms`` is empty: ``B`` is then given scaled.
    Each entry then takes the next free slot of its column — ``tally[3i]`` for internal
    item ``i``, advanced — where it writes where its row begins in the row arrays
    (``col_starts``) and its own position there (``col_pos``). ``tally[3i + 1]`` adds up
    the entries ``i``'s half row of ``BᵀB`` visits (its cost) and ``tally[3i + 2]`` those
    its full row would visit, less its own (a bound on its number of neighbours): per item,
    side by side, one cache line.
    """
    one = np.uint64(1)
    last = np.uint64(max(int(row_ptr[stop_row]) - 1, 0))
    longest = 0
    for row in range(first_row, stop_row):
        longest = max(longest, int(row_ptr[row + 1] - row_ptr[row]))
    scratch = np.empty(longest if longest > _SHORT_ROW else 0, dtype=np.uint64)
    for row in range(first_row, stop_row):
        begin, end = np.uint64(row_ptr[row]), np.uint64(row_ptr[row + 1])
        if end - begin > _SHORT_ROW:  # a long row: (number, place) pairs sorted in place
            pairs = scratch[: end - begin]
            for q in range(begin, end):
                number = np.uint64(internal[np.uint64(row_items[q])])
                pairs[q - begin] = (number << np.uint64(32)) | (q - begin)
            pairs.sort()
            for t in range(end - begin):
                q = begin + (pairs[t] & np.uint64(0xFFFFFFFF))
                items[begin + np.uint64(t)] = pairs[t] >> np.uint64(32)
                values[begin + np.uint64(t)] = _unit_value(row_items, row_values, norms, q)
        else:  # a short row: an insertion sort by internal number
            for q in range(begin, end):
                item = internal[np.uint64(row_items[q])]
                value = _unit_value(row_items, row_values, norms, q)
                at = np.uint64(q)
                while at > begin and items[at - one] > item:
                    items[at] = items[at - one]
                    values[at] = values[at - one]
                    at -= one
                items[at] = item
                values[at] = value
        length = np.int64(end - begin)
        for q in range(begin, end):
            # Every entry updates its item's tally and writes a slot of its column, both at
            # random: the tally of an entry further on is fetched ahead, and the slots of
            # one nearer (read from its tally, fetched by then).
            far = np.uint64(internal[np.uint64(row_items[min(q + np.uint64(_LAY_AHEAD), last)])])
            prefetch(tally, np.uint64(3) * far)
            near = internal[np.uint64(row_items[min(q + np.uint64(_LAY_AHEAD // 2), last)])]
            ahead = np.uint64(tally[np.uint64(3) * np.uint64(near)])
            prefetch(col_starts, ahead)
            prefetch(col_pos, ahead)
            mine = np.uint64(3) * np.uint64(items[q])
            slot = np.uint64(tally[mine])
            col_starts[slot] = begin
            col_pos[slot] = q
            tally[mine] = slot + one
            tally[mine + one] += np.int64(q - begin)
            tally[mine + np.uint64(2)] += length - 1
