"""The Spark engine: the engine contract (``dimrec.train.base``) run by PySpark.

``SparkEngine(settings.spark).train(profile_urls, params)`` returns the same
:class:`~dimrec.train.base.TrainResult` as the local engine — the same tables in the same
canonical order, the same counts — so the model writer produces the same files. Exact
cosine is equal bit for bit to the local engine's on scores that add up exactly (sums of
the default action weights do); DIMSUM draws its own (seeded, reproducible) sample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from types import TracebackType

from pyspark.sql import SparkSession

from dimrec.config import SparkSettings
from dimrec.errors import DataError
from dimrec.logs import log_context, timed
from dimrec.params import COSINE, Algorithm, TrainParams, Weighting
from dimrec.partitions import PROFILES_SCHEMA
from dimrec.train.base import Progress, TrainResult, check_supported
from dimrec.train.decay import file_decay_factors
from dimrec.train.dimsum import dimsum_gamma
from dimrec.train.spark.matrix import window_matrix
from dimrec.train.spark.session import get_session, read_parquet_files
from dimrec.train.spark.similarity import (
    collect_neighbours,
    combines,
    pair_sums,
    resolve_cosine,
    scaled_entries,
    top_k,
)

log = logging.getLogger(__name__)

#: Progress steps reported as progress(done, STEPS).
STEPS = 4


class SparkEngine:
    """Trains with Spark: ``local[*]`` by default, any cluster by ``settings.master``.

    The session is started on first use (or the active one is used, e.g. under
    ``spark-submit``); :meth:`close` stops it if this engine started it.
    """

    name = "spark"
    algorithms: frozenset[Algorithm] = frozenset(COSINE)
    weightings: frozenset[Weighting] = frozenset({"none"})

    def __init__(
        self, settings: SparkSettings | None = None, *, session: SparkSession | None = None
    ) -> None:
        self.settings = settings or SparkSettings()
        self._session = session
        self._owned = False

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session, self._owned = get_session(self.settings)
        return self._session

    def close(self) -> None:
        """Stop the session if this engine started it."""
        if self._session is not None and self._owned:
            self._session.stop()
        self._session, self._owned = None, False

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def train(
        self,
        profile_urls: Sequence[str],
        params: TrainParams,
        *,
        progress: Progress | None = None,
        event_urls: Sequence[str] | None = None,
    ) -> TrainResult:
        """Train on the given daily profile files (fsspec URLs Spark can read, or any
        fsspec URL for small data read on the driver). Raises DataError when nothing is
        left to train on, EngineError for what Spark does not compute (``event_urls``, for
        the algorithms that learn from order, are not used: Spark computes none of them)."""
        del event_urls
        check_supported(self, params)
        if not profile_urls:
            raise DataError("the window has no profile files to train on")
        timings: dict[str, float] = {}
        report = progress or (lambda _done, _total: None)
        with log_context(engine=self.name, algorithm=params.algorithm):
            with timed(timings, "spark.session", log):
                session = self.session
            partitions = int(session.conf.get("spark.sql.shuffle.partitions") or 8)
            with timed(timings, "matrix", log):
                factors = (
                    None
                    if params.half_life_days is None
                    else file_decay_factors(profile_urls, params.half_life_days)
                )
                profiles = read_parquet_files(
                    session, profile_urls, PROFILES_SCHEMA, factors=factors
                )
                window = window_matrix(
                    profiles,
                    min_items=params.min_items,
                    max_items=params.max_items,
                    partitions=partitions,
                    n_files=len(profile_urls),
                )
            report(1, STEPS)
            try:
                n_items = len(window.items)
                computed = resolve_cosine(session, window, params)
                gamma = (
                    dimsum_gamma(computed.threshold, n_items)
                    if computed.algorithm == "dimsum"
                    else math.inf
                )
                with timed(timings, "similarity", log):
                    scaled, sampled, bits = scaled_entries(session, window, gamma, params.seed)
                    if sampled:
                        log.info("DIMSUM γ=%.3f: %d items sampled", gamma, sampled)
                    report(2, STEPS)
                    k = min(params.top_k, max(n_items - 1, 1))
                    combine = combines(window.user_pairs, n_items, partitions)
                    log.info("pair sums %s the shuffle", "before" if combine else "after")
                    pairs = pair_sums(scaled, n_items, bits, partitions=partitions, combine=combine)
                    best = top_k(pairs, k, n_items, at_most_one=math.isinf(gamma))
                    neighbours = collect_neighbours(best, k)
                report(3, STEPS)
                with timed(timings, "table", log):
                    table = neighbours.to_table(window.items)
                report(4, STEPS)
            finally:
                for frame in window.persisted:
                    frame.unpersist()
        counts = {**window.counts, "pairs": len(neighbours)}
        log.info("%d items: %d neighbour pairs", n_items, len(neighbours))
        return TrainResult(
            neighbours=table,
            popularity=window.popularity,
            counts=counts,
            timings=timings,
            algorithm=computed.algorithm if computed is not params else None,
        )
