"""A blend of neighbour tables: several algorithms' lists, each normalised, added with weights.

The components and what each computes on the window:

- ``blend_ease``: EASE (``ease_lambda``) on the matrix reweighted by ``weighting``;
- ``blend_rp3beta``: RP3beta (``rp3_alpha``, ``rp3_beta``) on the plain matrix, the random
  walk as it is defined;
- ``blend_cosine``: cosine on the BM25-weighted matrix — exact, or DIMSUM at ``threshold``
  where exact cosine would be very large, chosen as ``algorithm = "cosine"`` chooses
  (:func:`dimrec.train.dimsum.choose_cosine`, on the window's summed scores), so the blend
  trains at any catalogue size;
- ``blend_sequential``: sequential rules (``sr_steps``) on the window's sessions.

Each component keeps its ``top_k`` list per item and is put on a common scale
(``blend_scale``): ``row`` divides every row by its largest value (row i's best neighbour
scores 1 in every component, so a component's scale does not decide its share: the weight
does); ``max`` divides the whole component by its largest value (each component keeps how
its rows compare with each other — a shopper's strongest signal still counts most — which
suits a strong component with small weights of the others). Then the components are added
with the ``blend_*`` weights and each item keeps its ``top_k`` best. The result is a
neighbour table like any other: the server scores Σ_i w_i·blend(i, j). ``dimrec tune``
searches both scales (bench/README.md: row scaling did best with comparable weights, max
scaling with one leading component).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from dimrec.errors import InvalidInputError
from dimrec.params import BLEND_COMPONENTS, TrainParams
from dimrec.train.base import Progress
from dimrec.train.neighbours import Neighbours
from dimrec.train.sessions import SessionItems

#: Computes a component: ``f(params) → Neighbours`` on the blend's window.
Component = Callable[[TrainParams], Neighbours]


def component_params(params: TrainParams) -> list[tuple[float, TrainParams]]:
    """Each component with a positive weight: (weight, the parameters it is computed with)."""
    weighting = {
        "ease": params.weighting,
        "rp3beta": "none",
        "cosine": "bm25",
        "sequential": "none",
    }
    parts = []
    for name, algorithm in BLEND_COMPONENTS.items():
        weight = float(getattr(params, name))
        if weight > 0:
            update = {"algorithm": algorithm, "weighting": weighting[algorithm]}
            parts.append((weight, params.model_copy(update=update)))
    if not parts:
        names = ", ".join(BLEND_COMPONENTS)
        raise InvalidInputError(f"a blend needs a positive weight for one of {names}")
    return parts


def compute_blend_neighbours(
    matrix: sp.csr_matrix,
    params: TrainParams,
    *,
    sessions: SessionItems | None = None,
    threads: int = 0,
    progress: Progress | None = None,
) -> Neighbours:
    """Each item's top ``params.top_k`` blended neighbours (``matrix`` unweighted: each
    component applies its own weighting)."""
    from dimrec.train.local.algorithms import local_neighbours  # the table of kernels

    n_items = matrix.shape[1]
    total = len(component_params(params)) * n_items  # progress: each component's items
    finished = [0]

    def compute(part: TrainParams) -> Neighbours:
        before = finished[0]

        def advance(done: int, _of: int) -> None:
            if progress is not None:
                progress(before + done, total)

        result = local_neighbours(
            matrix, part, sessions=sessions, threads=threads, progress=advance
        )
        finished[0] += n_items
        return result

    result = blend(params, compute, n_items)
    if progress is not None:
        progress(total, total)
    return result


def blend(params: TrainParams, compute: Component, n_items: int) -> Neighbours:
    """The blend of the components of ``params``, each computed by ``compute``."""
    scaled = row_normalised if params.blend_scale == "row" else max_normalised
    total = sp.csr_matrix((n_items, n_items), dtype=np.float64)
    for weight, part in component_params(params):
        total = total + weight * scaled(compute(part), n_items)
    coo = total.tocoo()
    return Neighbours.from_unsorted(coo.row, coo.col, coo.data, top_k=params.top_k)


def positive(neighbours: Neighbours, n_items: int) -> sp.csr_matrix:
    """The lists' positive similarities as an items × items matrix."""
    matrix = sp.csr_matrix(
        (neighbours.similarity, (neighbours.item, neighbours.neighbour)),
        shape=(n_items, n_items),
        dtype=np.float64,
    )
    matrix.data = np.where(matrix.data > 0, matrix.data, 0.0)
    matrix.eliminate_zeros()
    return matrix


def max_normalised(neighbours: Neighbours, n_items: int) -> sp.csr_matrix:
    """The lists as an items × items matrix divided by its largest value."""
    matrix = positive(neighbours, n_items)
    if matrix.nnz:
        matrix.data = matrix.data / matrix.data.max()
    return matrix


def row_normalised(neighbours: Neighbours, n_items: int) -> sp.csr_matrix:
    """The lists as an items × items matrix, each row divided by its largest value."""
    matrix = positive(neighbours, n_items)
    largest = np.zeros(n_items)
    rows = np.repeat(np.arange(n_items), np.diff(matrix.indptr))
    np.maximum.at(largest, rows, matrix.data)
    matrix.data = matrix.data / largest[rows]
    return matrix
