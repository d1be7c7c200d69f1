# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled part of scoring: Σ_i w_i · sim(i, j) over several neighbour lists, and its
top n (see :mod:`dimrec.serve.scoring` for the rules; this module only adds and ranks).

Why compiled: with 10 input items a shopper's request sums ≈ 1,000 (input item, neighbour)
pairs. In NumPy that is a dozen array calls, each paying its set-up; the loop below does the
same additions, in the same order, in a few microseconds (bench/README.md, serve_load).
Built from this file by the package's build hook (``hatch_build.py``) when the project is
installed.

The sums are float64 in pair order (list after list), as NumPy's ``bincount`` over the same
pairs gives them; ties are broken by item number (= item id order).
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc

cdef enum:
    UNSEEN = 0
    SEEN = 1
    REMOVED = 2


cdef class WeightedSum:
    """Sums and ranks neighbour lists of one model version. Holds scratch space over every
    item number (9 bytes an item), so one thread uses it at a time: make one per thread."""

    cdef const int64_t[::1] starts
    cdef const int32_t[::1] neighbours
    cdef const float[::1] scores
    cdef const uint8_t[::1] hidden
    cdef double* totals
    cdef uint8_t* marks

    def __cinit__(
        self,
        const int64_t[::1] starts,
        const int32_t[::1] neighbours,
        const float[::1] scores,
        const uint8_t[::1] hidden,
    ):
        """``starts``, ``neighbours`` and ``scores`` as in the index file; ``hidden[p]`` is
        1 when item number ``p`` may not be answered."""
        cdef Py_ssize_t items = starts.shape[0] - 1
        if hidden.shape[0] != items:
            raise ValueError(f"{hidden.shape[0]} hidden marks for {items} items")
        self.starts, self.neighbours, self.scores, self.hidden = starts, neighbours, scores, hidden
        self.totals = <double*> calloc(items + 1, sizeof(double))
        self.marks = <uint8_t*> calloc(items + 1, sizeof(uint8_t))
        if self.totals == NULL or self.marks == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.totals)
        free(self.marks)

    def top(self, list numbers, list weights, list removed, Py_ssize_t n):
        """The ``n`` best items of Σ weights[k] · (item numbers[k]'s list), best first, as
        (item numbers, totals); hidden items and those in ``removed`` left out, ties by item
        number. The scratch is all zero again on return, also when this fails half-way."""
        cdef Py_ssize_t pairs = 0, found = 0, kept = 0, k, r, at
        cdef int32_t row, item
        cdef double weight, total
        cdef double* totals = self.totals
        cdef uint8_t* marks = self.marks
        for r in range(len(numbers)):
            row = numbers[r]
            pairs += self.starts[row + 1] - self.starts[row]
        cdef int32_t* seen = <int32_t*> malloc((pairs + 1) * sizeof(int32_t))
        cdef int32_t* best = <int32_t*> malloc((n + 1) * sizeof(int32_t))
        cdef double* best_totals = <double*> malloc((n + 1) * sizeof(double))
        try:
            if seen == NULL or best == NULL or best_totals == NULL:
                raise MemoryError()
            for item in removed:
                marks[item] = REMOVED
            for r in range(len(numbers)):
                row = numbers[r]
                weight = weights[r]
                for k in range(self.starts[row], self.starts[row + 1]):
                    item = self.neighbours[k]
                    if marks[item] == UNSEEN:
                        marks[item] = SEEN
                        seen[found] = item
                        found += 1
                        totals[item] = weight * self.scores[k]
                    elif marks[item] == SEEN:
                        totals[item] += weight * self.scores[k]
            # best[0:kept] holds the best so far, best first; a candidate enters when it
            # beats the last of them (or there are fewer than n)
            for k in range(found if n > 0 else 0):
                item = seen[k]
                if self.hidden[item]:
                    continue
                total = totals[item]
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
            for k in range(found):
                totals[seen[k]] = 0.0
                marks[seen[k]] = UNSEEN
            for item in removed:
                marks[item] = UNSEEN
            free(seen)
            free(best)
            free(best_totals)

    def is_clean(self):
        """Whether the scratch is all zero (for tests)."""
        cdef Py_ssize_t p
        for p in range(self.starts.shape[0] - 1):
            if self.totals[p] != 0.0 or self.marks[p] != UNSEEN:
                return False
        return True


cdef inline bint _before(double total, int32_t item, double other_total, int32_t other):
    """Whether (total, item) ranks before (other_total, other): higher total, then lower item
    number."""
    return total > other_total or (total == other_total and item < other)
