"""The local engine: the window's matrix (DuckDB) and a similarity kernel on this machine.

Follows the engine contract of ``dimrec.train.base``: :func:`dimrec.train.local.matrix.build_matrix`
does steps 1–4, the algorithm's kernel step 5 after the optional reweighting of
``params.weighting`` (:func:`dimrec.train.local.algorithms.local_neighbours`), and
:meth:`Neighbours.to_table` turns item indices back into ids for step 6.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dimrec.logs import timed
from dimrec.params import WEIGHTINGS, Algorithm, TrainParams, Weighting
from dimrec.train.base import Progress, TrainResult, check_supported
from dimrec.train.local.algorithms import KERNELS, local_neighbours, resolve_cosine
from dimrec.train.local.matrix import build_matrix

log = logging.getLogger(__name__)


class LocalEngine:
    """Trains on this machine with ``threads`` threads (0: one per core)."""

    name = "local"
    algorithms: frozenset[Algorithm] = frozenset(KERNELS)
    weightings: frozenset[Weighting] = frozenset(WEIGHTINGS)

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    def train(
        self,
        profile_urls: Sequence[str],
        params: TrainParams,
        *,
        progress: Progress | None = None,
    ) -> TrainResult:
        check_supported(self, params)
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
            computed = resolve_cosine(window.matrix, params)
            neighbours = local_neighbours(
                window.matrix, computed, threads=self.threads, progress=progress, timings=timings
            )
        with timed(timings, "table", log):
            table = neighbours.to_table(window.items)
        counts = {**window.counts, "pairs": len(neighbours)}
        return TrainResult(
            neighbours=table,
            popularity=window.popularity,
            counts=counts,
            timings=timings,
            algorithm=computed.algorithm if computed is not params else None,
        )
