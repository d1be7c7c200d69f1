"""The local engine: the window's matrix (DuckDB) and a similarity kernel on this machine.

The cosine kernels are loaded (Numba's start-up and its cache) on a thread while the
window's matrix is built, so that a run does not pay for the two one after the other.

Follows the engine contract of ``dimrec.train.base``: :func:`dimrec.train.local.matrix.build_matrix`
does steps 1–4 (and, for the algorithms that learn from order, the kept users' events are
read in session order by :func:`dimrec.train.local.sequences.read_sessions`), the
algorithm's kernel step 5 after the optional reweighting of ``params.weighting``
(:func:`dimrec.train.local.algorithms.local_neighbours`), and
:meth:`Neighbours.to_table` turns item indices back into ids for step 6.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from dimrec.logs import timed
from dimrec.params import COSINE, WEIGHTINGS, Algorithm, TrainParams, Weighting
from dimrec.train.base import Progress, TrainResult, check_supported
from dimrec.train.local.algorithms import KERNELS, local_neighbours, resolve_cosine
from dimrec.train.local.matrix import build_matrix
from dimrec.train.local.sequences import read_sessions

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
        event_urls: Sequence[str] | None = None,
    ) -> TrainResult:
        check_supported(self, params)
        ordered = params.ordered
        timings: dict[str, float] = {}
        loading = _load_kernels_meanwhile(params)
        try:
            with timed(timings, "matrix", log):
                window = build_matrix(
                    profile_urls,
                    min_items=params.min_items,
                    max_items=params.max_items,
                    threads=self.threads,
                    half_life_days=params.half_life_days,
                    with_users=ordered,
                )
        finally:
            if loading is not None:
                loading.join()
        sessions = None
        if ordered:
            assert window.users is not None
            with timed(timings, "sessions", log):
                sessions = read_sessions(
                    event_urls or [],
                    window.users,
                    window.items,
                    half_life_days=params.half_life_days,
                    threads=self.threads,
                )
        with timed(timings, "similarity", log):
            computed = resolve_cosine(window.matrix, params)
            neighbours = local_neighbours(
                window.matrix,
                computed,
                sessions=sessions,
                threads=self.threads,
                progress=progress,
                timings=timings,
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


def _load_kernels_meanwhile(params: TrainParams) -> threading.Thread | None:
    """For the cosine kernels (a cosine algorithm, or a blend with a cosine component), a
    thread that imports Numba and loads the compiled kernels
    (:func:`dimrec.train.local.cosine.load_kernels`, about 0.7 s of CPU on every run) while
    the window's matrix is built, most of that time in DuckDB, which does not hold the GIL.
    The caller joins it before the similarity step."""
    if params.algorithm not in COSINE and not (
        params.algorithm == "blend" and params.blend_cosine > 0
    ):
        return None
    thread = threading.Thread(target=_load_kernels, name="dimrec-load-kernels")
    thread.start()
    return thread


def _load_kernels() -> None:
    try:
        from dimrec.train.local.cosine import load_kernels

        load_kernels()
    except Exception:  # the similarity step meets the same problem and reports it
        log.debug("loading the cosine kernels ahead failed", exc_info=True)
