"""Top-K per row of a dense block of weights, into canonical neighbour lists."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dimrec.train.neighbours import Neighbours


def top_positive(weights: npt.NDArray[np.float64], start: int, top_k: int) -> Neighbours:
    """Each row's top ``top_k`` positive entries as neighbour lists of items ``start + row``.

    Every entry tied with a row's K-th value is kept until the canonical sort of
    :meth:`Neighbours.from_unsorted` breaks the tie by neighbour id, so the result does not
    depend on how the partition orders equal values. The caller zeroes the diagonal.
    """
    n_cols = weights.shape[1]
    if top_k < n_cols:
        kth = -np.partition(-weights, top_k - 1, axis=1)[:, top_k - 1]
        keep = (weights >= kth[:, np.newaxis]) & (weights > 0)
    else:
        keep = weights > 0
    rows, cols = np.nonzero(keep)
    return Neighbours.from_unsorted(rows + start, cols, weights[rows, cols], top_k=top_k)
