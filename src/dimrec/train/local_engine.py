"""The local engine: the window's matrix (DuckDB) and a similarity kernel on this machine.

Follows the engine contract of ``dimrec.train.engine``: :func:`dimrec.train.matrix.build_matrix`
does steps 1–4, the algorithm's kernel step 5 (:func:`dimrec.train.local.compute_neighbours`
for exact and DIMSUM cosine; the rp3beta and ease modules for those), after the optional
reweighting of ``params.weighting``; and :meth:`Neighbours.to_table` turns item indices back
into ids for step 6.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence

import scipy.sparse as sp

from dimrec.errors import EngineError
from dimrec.logs import timed
from dimrec.train.engine import Progress, TrainResult
from dimrec.train.local import compute_neighbours
from dimrec.train.matrix import build_matrix
from dimrec.train.neighbours import Neighbours
from dimrec.train.params import TrainParams

log = logging.getLogger(__name__)

#: A kernel: users × items CSR (columns in item id order) → every item's top-K neighbours.
Kernel = Callable[..., Neighbours]

#: Kernels of the algorithms other than cosine, imported only when used.
_OTHER_KERNELS = {
    "rp3beta": ("dimrec.train.rp3beta", "compute_rp3beta_neighbours"),
    "ease": ("dimrec.train.ease", "compute_ease_neighbours"),
}


class LocalEngine:
    """Trains on this machine with ``threads`` threads (0: one per core)."""

    name = "local"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    def train(
        self,
        profile_urls: Sequence[str],
        params: TrainParams,
        *,
        progress: Progress | None = None,
    ) -> TrainResult:
        timings: dict[str, float] = {}
        with timed(timings, "matrix", log):
            window = build_matrix(
                profile_urls,
                min_items=params.min_items,
                max_items=params.max_items,
                threads=self.threads,
                half_life_days=params.half_life_days,
            )
        with timed(timings, "similarity", log):
            neighbours = self._neighbours(window.matrix, params, progress, timings)
        with timed(timings, "table", log):
            table = neighbours.to_table(window.items)
        counts = {**window.counts, "pairs": len(neighbours)}
        return TrainResult(
            neighbours=table, popularity=window.popularity, counts=counts, timings=timings
        )

    def _neighbours(
        self,
        matrix: sp.csr_matrix,
        params: TrainParams,
        progress: Progress | None,
        timings: dict[str, float],
    ) -> Neighbours:
        weighting = str(getattr(params, "weighting", "none"))
        if weighting != "none":
            weighting_module = importlib.import_module("dimrec.train.weighting")
            matrix = weighting_module.apply_weighting(matrix, weighting)
        if params.algorithm in ("exact", "dimsum"):
            return compute_neighbours(
                matrix, params, threads=self.threads, progress=progress, timings=timings
            )
        kernel = _other_kernel(params.algorithm)
        return kernel(matrix, params, threads=self.threads, progress=progress)


def _other_kernel(algorithm: str) -> Kernel:
    if algorithm not in _OTHER_KERNELS:
        raise EngineError(f"the local engine has no kernel for algorithm {algorithm!r}")
    module_name, name = _OTHER_KERNELS[algorithm]
    try:
        found = getattr(importlib.import_module(module_name), name, None)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise EngineError(f"the {algorithm} kernel ({module_name}.{name}) is not available")
    kernel: Kernel = found
    return kernel
