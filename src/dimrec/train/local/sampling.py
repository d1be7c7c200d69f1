"""DIMSUM's sample of ``B`` for the local engine: :func:`dimrec.train.dimsum.scaled_matrix`,
compiled.

The same sample, bit for bit — the same norms, probabilities, draws (one per entry with
p < 1, in entry order, from :func:`dimrec.train.dimsum.draws`) and kept values — in two
passes over the entries without NumPy's temporaries (probabilities, masks, a cumulative
sum, gathers of every entry), which cost more than the products DIMSUM saves on catalogues
of a million items. The NumPy function stays the definition (tests compare the two).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from dimrec.train.dimsum import ScaledMatrix, draws, fixed_point_bits
from dimrec.train.local.kernels import column_norms, count_sampled, sample_rows
from dimrec.train.local.workers import even_bounds

#: Rows are sampled in runs of about this many entries (bounds the draws held at once).
_ENTRIES_PER_RUN = 1 << 22


def sampled_matrix(matrix: sp.csr_matrix, gamma: float, seed: int) -> ScaledMatrix:
    """``scaled_matrix(matrix, gamma, seed)`` for a finite ``gamma``; ``matrix`` canonical CSR
    with float64 scores ≥ 0."""
    if math.isinf(gamma):
        raise ValueError("sampled_matrix samples: exact cosine (γ = ∞) is not sampled")
    n_rows, n_items = matrix.shape
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    norms = column_norms(indices, data, n_items)
    runs = even_bounds(indptr, -(-matrix.nnz // _ENTRIES_PER_RUN))
    entries = np.zeros(n_items, dtype=np.int64)
    marked = np.zeros(n_items, dtype=np.bool_)
    drawn = [
        count_sampled(int(indptr[a]), int(indptr[b]), indices, data, norms, gamma, entries, marked)
        for a, b in pairwise(runs)
    ]
    # As scaled_matrix: kept values are raised to 1/γ only when something was sampled.
    smallest = 1.0 / gamma if sum(drawn) else -math.inf
    generator = draws(seed)
    out_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    out_items = np.empty(matrix.nnz, dtype=np.int32)  # pages beyond the kept entries: untouched
    out_values = np.empty(matrix.nnz)
    written = 0
    for (a, b), n in zip(pairwise(runs), drawn, strict=True):
        written = sample_rows(
            int(a), int(b), indptr, indices, data, norms, gamma, smallest,
            generator.random(n), out_ptr, out_items, out_values, written,
        )  # fmt: skip
    sampled = sp.csr_matrix(
        (out_values[:written], out_items[:written], out_ptr.astype(indptr.dtype)),
        shape=matrix.shape,
    )
    return ScaledMatrix(
        matrix=sampled,
        gamma=gamma,
        sampled_items=int(np.count_nonzero(marked)),
        entries_in=int(matrix.nnz),
        entries_kept=written,
        bits=fixed_point_bits(int(entries.max(initial=0)), gamma),
    )
