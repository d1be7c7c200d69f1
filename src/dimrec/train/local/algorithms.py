"""The local kernels by algorithm: a window matrix (users × items, columns in item id order)
reweighted by ``params.weighting``, then each item's top-K neighbours by ``params.algorithm``.
The local engine trains with it and evaluation fits its dimrec models with it."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from dimrec.errors import EngineError
from dimrec.params import COSINE, ORDERED, Algorithm, TrainParams
from dimrec.train.base import Progress
from dimrec.train.dimsum import choose_cosine, dimsum_products, exact_products
from dimrec.train.local.weighting import apply_weighting
from dimrec.train.neighbours import Neighbours
from dimrec.train.sessions import SessionItems

logger = logging.getLogger(__name__)

#: A kernel: ``f(matrix, params, *, threads, progress)`` → every item's top-K neighbours.
Kernel = Callable[..., Neighbours]

#: Each algorithm's kernel, imported only when used (rp3beta and ease need more memory).
KERNELS: dict[Algorithm, tuple[str, str]] = {
    "cosine": ("dimrec.train.local.cosine", "compute_neighbours"),
    "exact": ("dimrec.train.local.cosine", "compute_neighbours"),
    "dimsum": ("dimrec.train.local.cosine", "compute_neighbours"),
    "rp3beta": ("dimrec.train.local.rp3beta", "compute_rp3beta_neighbours"),
    "ease": ("dimrec.train.local.ease", "compute_ease_neighbours"),
    "sequential": ("dimrec.train.local.sequential", "compute_sequential_neighbours"),
    "blend": ("dimrec.train.local.blend", "compute_blend_neighbours"),
}
#: Algorithms given the window's sessions and the unweighted matrix (they weigh, or not, by
#: themselves).
_OWN_INPUT = (*ORDERED, "blend")


def kernel(algorithm: str) -> Kernel:
    """The local kernel of ``algorithm``; EngineError when there is none."""
    if algorithm not in KERNELS:
        raise EngineError(f"the local engine has no kernel for algorithm {algorithm!r}")
    module_name, name = KERNELS[algorithm]
    try:
        found = getattr(importlib.import_module(module_name), name, None)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise EngineError(f"the {algorithm} kernel ({module_name}.{name}) is not available")
    result: Kernel = found
    return result


def resolve_cosine(matrix: sp.csr_matrix, params: TrainParams) -> TrainParams:
    """``params`` with algorithm ``cosine`` replaced by what
    :func:`~dimrec.train.dimsum.choose_cosine` picks on ``matrix`` (users × items, scores
    ≥ 0); other algorithms unchanged."""
    if params.algorithm != "cosine":
        return params
    exact = exact_products(np.diff(matrix.indptr))
    expected: list[float] = []

    def sampled() -> float:
        expected.append(dimsum_products(matrix, params.threshold))
        return expected[0]

    chosen = choose_cosine(exact, sampled)
    logger.info(
        "algorithm cosine: %s (exact cosine adds %.3g pair products%s)",
        chosen,
        exact,
        f", DIMSUM at {params.threshold:g} about {expected[0]:.3g}" if expected else "",
    )
    return params.model_copy(update={"algorithm": chosen})


def local_neighbours(
    matrix: sp.csr_matrix,
    params: TrainParams,
    *,
    sessions: SessionItems | None = None,
    threads: int = 0,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> Neighbours:
    """Every item's top ``params.top_k`` neighbours of ``matrix`` reweighted by
    ``params.weighting``. ``sessions`` (the window's events in session order, item indices
    of ``matrix``'s columns) feed the algorithms of ``ORDERED``; ``timings`` receives the
    cosine kernel's step timings. Algorithm ``cosine`` is resolved on ``matrix`` as it comes
    (the summed scores, before any weighting), as the engines do."""
    params = resolve_cosine(matrix, params)
    compute = kernel(params.algorithm)
    extra: dict[str, object] = {}
    if params.algorithm in COSINE:
        extra["timings"] = timings
    if params.algorithm in _OWN_INPUT:
        extra["sessions"] = sessions
    else:
        matrix = apply_weighting(matrix, params.weighting)
    return compute(matrix, params, threads=threads, progress=progress, **extra)
