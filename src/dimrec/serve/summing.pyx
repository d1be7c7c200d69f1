# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled part of scoring: Σ_i w_i · sim(i, j) over several neighbour lists, and its
top n (see :mod:`dimrec.serve.scoring` for the rules; this module only adds and ranks).

Why compiled: with 10 input items a shopper's request sums ≈ 1,000 (input item, neighbour)
pairs. In NumPy that is a dozen array calls, each paying its set-up; the loop below does the
same additions, in the same order, in a few microseconds (bench/README.md, serve_load).
Built from this file by the package's build hook (``hatch_build.py``) when the project is
installed.

The sums are float64 in pair order (list after list), as NumPy's ``bincount`` over the same
pairs gives them; ties are broken by item number (= item id order). A call's scratch is a hash
table of its own (≈ 30 KB for 1,000 pairs), so one object serves every thread and a worker
holds nothing the size of the catalogue.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cdef enum:
    EMPTY = -1  # a free slot's item


cdef class WeightedSum:
    """Sums and ranks neighbour lists of one model version. Shared by threads: each call
    adds into its own small hash table, sized by the pairs it adds (never by the catalogue)."""

    cdef const int64_t[::1] starts
    cdef const int32_t[::1] neighbours
    cdef const float[::1] scores
    cdef const uint8_t[::1] hidden

    def __cinit__(
        self,
        const int64_t[::1] starts,
        const int32_t[::1] neighbours,
        const float[::1] scores,
        const uint8_t[::1] hidden,
    ):
        """``starts``, ``neighbours`` and ``scores`` as in the index file; ``hidden[p]`` is
        1 when item number ``p`` may not be answered."""
        if hidden.shape[0] != starts.shape[0] - 1:
            raise ValueError(f"{hidden.shape[0]} hidden marks for {starts.shape[0] - 1} items")
        self.starts, self.neighbours, self.scores, self.hidden = starts, neighbours, scores, hidden

    def top(self, list numbers, list weights, list removed, Py_ssize_t n):
        """The ``n`` best items of Σ weights[k] · (item numbers[k]'s list), best first, as
        (item numbers, totals); hidden items and those in ``removed`` left out, ties by item
        number."""
        cdef Py_ssize_t pairs = len(removed), kept = 0, found = 0, k, r, at, slot
        cdef int bits = 4
        cdef int32_t row, item
        cdef double weight, total
        for r in range(len(numbers)):
            row = numbers[r]
            pairs += self.starts[row + 1] - self.starts[row]
        while (<Py_ssize_t> 1 << bits) < 2 * pairs:  # at most half full
            bits += 1
        cdef Py_ssize_t size = <Py_ssize_t> 1 << bits
        # one block: the slots' items, their sums, the slots in the order they were taken,
        # whether each holds a removed item
        cdef char* block = <char*> malloc(
            size * (sizeof(int32_t) + sizeof(double) + 1) + pairs * sizeof(int32_t)
        )
        cdef int32_t* best = <int32_t*> malloc((n + 1) * sizeof(int32_t))
        cdef double* best_totals = <double*> malloc((n + 1) * sizeof(double))
        if block == NULL or best == NULL or best_totals == NULL:
            free(block)
            free(best)
            free(best_totals)
            raise MemoryError()
        cdef int32_t* items = <int32_t*> block
        cdef double* sums = <double*> (block + size * sizeof(int32_t))
        cdef int32_t* taken = <int32_t*> (block + size * (sizeof(int32_t) + sizeof(double)))
        cdef uint8_t* is_removed = <uint8_t*> (taken + pairs)
        memset(items, 0xFF, size * sizeof(int32_t))  # every slot EMPTY (-1)
        memset(is_removed, 0, size)
        try:
            for item in removed:
                slot = _slot_of(items, item, bits)
                items[slot] = item
                is_removed[slot] = 1
            for r in range(len(numbers)):
                row = numbers[r]
                weight = weights[r]
                for k in range(self.starts[row], self.starts[row + 1]):
                    item = self.neighbours[k]
                    slot = _slot_of(items, item, bits)
                    if items[slot] == EMPTY:
                        items[slot] = item
                        sums[slot] = weight * self.scores[k]
                        taken[found] = slot
                        found += 1
                    elif not is_removed[slot]:
                        sums[slot] += weight * self.scores[k]
            # best[0:kept] holds the best so far, best first; a candidate enters when it
            # beats the last of them (or there are fewer than n)
            for k in range(found if n > 0 else 0):
                slot = taken[k]
                item = items[slot]
                if self.hidden[item]:
                    continue
                total = sums[slot]
                if kept == n and not _before(total, item, best_totals[n - 1], best[n - 1]):
                    continue
                at = kept if kept < n else n - 1
                while at > 0 and _before(total, item, best_totals[at - 1], best[at - 1]):
                    best[at] = best[at - 1]
                    best_totals[at] = best_totals[at - 1]
                    at -= 1
                best[at] = item
                best_totals[at] = total
                if kept < n:
                    kept += 1
            return [best[k] for k in range(kept)], [best_totals[k] for k in range(kept)]
        finally:
            free(block)
            free(best)
            free(best_totals)


cdef inline Py_ssize_t _slot_of(const int32_t* items, int32_t item, int bits) noexcept:
    """The slot holding ``item``, or the free slot where it goes (linear probing from its
    Fibonacci hash; the table is at most half full, so a free slot is always met)."""
    cdef Py_ssize_t mask = (<Py_ssize_t> 1 << bits) - 1
    cdef Py_ssize_t slot = (<uint32_t> item * <uint32_t> 2654435769u) >> (32 - bits)
    while items[slot] != item and items[slot] != EMPTY:
        slot = (slot + 1) & mask
    return slot


cdef inline bint _before(double total, int32_t item, double other_total, int32_t other) noexcept:
    """Whether (total, item) ranks before (other_total, other): higher total, then lower item
    number."""
    return total > other_total or (total == other_total and item < other)
