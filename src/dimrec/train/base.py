"""What a training engine does, the same way on every engine (local, Spark).

Given the profile files of a window's days (``user, item, score`` Parquet, one file a day)
and :class:`~dimrec.params.TrainParams`, an engine:

1. sums the scores of each (user, item) over the window;
2. computes popularity over *all* users of the window: per item the summed score and the
   number of distinct users, ordered score desc, users desc, item asc;
3. keeps the users with ``min_items`` ≤ distinct items ≤ ``max_items``;
4. indexes the items those users touched, sorted by id (binary UTF-8 order), so that index
   order is id order and ties between equal similarities break by item id;
5. computes each item's top-``top_k`` neighbours by the chosen algorithm (exact or DIMSUM
   cosine between item columns of the user × item score matrix, ``cosine`` choosing between
   them by :func:`dimrec.train.dimsum.choose_cosine` on the summed scores; others where
   supported),
   leaving out the item itself and zero similarities; cosine lists are symmetric before the
   top-K cut;
6. returns the ``neighbours`` table (``dimrec.model.NEIGHBOURS_SCHEMA``) in canonical order
   (item asc, similarity desc, neighbour asc), the popularity table
   (``dimrec.model.POPULARITY_SCHEMA``), counts and per-step timings.

Because every engine returns the same tables, the model writer produces byte-identical
files for identical results, whichever engine computed them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from dimrec.errors import DataError, EngineError
from dimrec.params import Algorithm, TrainParams, Weighting

#: Called as progress(done, total) during long steps.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainResult:
    neighbours: pa.Table
    popularity: pa.Table
    counts: dict[str, int]
    """At least: users (kept by the filter), users_dropped, items, pairs, profiles."""
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per step."""
    algorithm: Algorithm | None = None
    """The algorithm computed, when ``params.algorithm`` left the choice to the data
    (``cosine``: exact or dimsum, :func:`dimrec.train.dimsum.choose_cosine`)."""


class Engine(Protocol):
    name: str
    algorithms: frozenset[Algorithm]
    """The algorithms this engine computes."""
    weightings: frozenset[Weighting]
    """The matrix weightings it applies before the algorithm."""

    def train(
        self,
        profile_urls: Sequence[str],
        params: TrainParams,
        *,
        progress: Progress | None = None,
        event_urls: Sequence[str] | None = None,
    ) -> TrainResult:
        """Train on the given daily profile files (fsspec URLs); ``event_urls`` are the same
        days' events files, given when the algorithm learns from the order of events
        (``dimrec.params.ORDERED``). Raises DataError when nothing is left to train on."""


def check_supported(engine: Engine, params: TrainParams) -> None:
    """EngineError naming what ``engine`` does not compute of ``params``, and what does."""
    if params.algorithm not in engine.algorithms:
        raise EngineError(
            f"algorithm {params.algorithm!r} is not supported on the {engine.name} engine (it "
            f"computes {' and '.join(sorted(engine.algorithms))}); use --engine local, or one "
            f"of its algorithms (--algorithm, [train] algorithm)"
        )
    if params.weighting not in engine.weightings:
        raise EngineError(
            f"weighting {params.weighting!r} is not supported on the {engine.name} engine; "
            f"use weighting {' or '.join(sorted(engine.weightings))} or --engine local"
        )


def no_profiles_error(n_files: int) -> DataError:
    """What every engine raises when the window's files hold no profile (step 1)."""
    return DataError(
        f"the window's {n_files} day(s) hold no profiles; "
        "check that the export found events for those days"
    )


def no_user_kept_error(min_items: int, max_items: int, users_total: int) -> DataError:
    """What every engine raises when the user filter (step 3) leaves nobody."""
    return DataError(
        f"no user of the window has between min_items={min_items} and "
        f"max_items={max_items} distinct items ({users_total} users were all left "
        "out); widen the window or the item limits"
    )


def window_counts(
    *, profiles: int, users_total: int, users_kept: int, items: int
) -> dict[str, int]:
    """The window's part of ``TrainResult.counts``: profiles, users, users_dropped, items."""
    return {
        "profiles": profiles,
        "users": users_kept,
        "users_dropped": users_total - users_kept,
        "items": items,
    }
