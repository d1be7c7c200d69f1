"""The whole flow, one plain function per arrow.

    warehouse ──export──▶ events ──prepare──▶ profiles ──train──▶ models/<version>
                                                                       │
                        HTTP API ◀──reads── store ◀──────publish───────┘

The CLI, the queue tasks and the jobs API only call these functions; the stages below never
call back up. Each function takes the validated :class:`~dimrec.config.Settings` and plain
arguments, and returns a small summary that the caller formats.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dimrec import dates, partitions
from dimrec.config import Settings
from dimrec.errors import MissingDataError
from dimrec.logs import log_context, timed
from dimrec.model import Model
from dimrec.train.engines import open_engine
from dimrec.train.params import TrainParams
from dimrec.train.profiles import PreparedDay, prepare_day
from dimrec.train.stage import Window, check_window, train_model, validated_params

log = logging.getLogger(__name__)

#: Called as progress(step, done, total) during long steps ("prepare", "similarity", ...).
StepProgress = Callable[[str, int, int], None]


# ── prepare: events → profiles ─────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class PrepareSummary:
    days: tuple[PreparedDay, ...]

    @property
    def prepared(self) -> list[dt.date]:
        """Days whose profiles were (re)computed."""
        return [d.day for d in self.days if not d.cached]

    @property
    def cached(self) -> list[dt.date]:
        """Days whose profiles were current and kept."""
        return [d.day for d in self.days if d.cached]


def prepare_days(
    settings: Settings,
    days: Sequence[dt.date],
    *,
    force: bool = False,
    weights: Mapping[str, float] | None = None,
    progress: StepProgress | None = None,
) -> PrepareSummary:
    """Make the profiles of ``days`` current (compute those missing or stale; all with
    ``force``), with ``weights`` (default ``settings.weights``). Checks first that every day
    has events (or, without ``force``, profiles already), naming those that do not."""
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    weights = dict(weights) if weights is not None else settings.weights.as_dict()
    absent = [d for d in days if not events.exists(d) and (force or not profiles.exists(d))]
    if absent:
        named = ", ".join(d.isoformat() for d in absent)
        raise MissingDataError(
            f"no events for {named} under {events.url}; export them first (`dimrec export`)"
        )
    results = []
    for done, day in enumerate(days, start=1):
        with log_context(date=day.isoformat()):
            results.append(prepare_day(events, profiles, day, weights, force=force))
        if progress is not None:
            progress("prepare", done, len(days))
    return PrepareSummary(tuple(results))


# ── train: profiles → models/<version> ─────────────────────────────────────────────────────


def train_params(settings: Settings, **overrides: object) -> TrainParams:
    """Training parameters from the settings with ``overrides`` (None values ignored);
    InvalidInputError names each bad one (threshold outside [0, 1], top_k < 1, ...)."""
    return validated_params(settings, **overrides)


def train(
    settings: Settings,
    *,
    days_init: int | None = None,
    days_end: int | None = None,
    as_of: str | dt.date | None = None,
    params: TrainParams | None = None,
    engine: str | None = None,
    allow_missing: bool | None = None,
    progress: StepProgress | None = None,
) -> Model:
    """Train a model on the window ``days_init``..``days_end`` days before ``as_of`` (default
    today) and write it under ``models/<version>/``.

    Days whose profiles are missing or stale are prepared from their events first (the
    others are cached). Unset arguments come from ``settings.train``. Errors: a window with
    no data, missing days (unless ``allow_missing``), bad parameters, nothing left after the
    user filter — each before anything is written to ``models/``.
    """
    params = params if params is not None else train_params(settings)
    window = Window.resolve(
        settings.train.days_init if days_init is None else days_init,
        settings.train.days_end if days_end is None else days_end,
        dates.parse_date(as_of) if as_of is not None else None,
    )
    allow = settings.train.allow_missing if allow_missing is None else allow_missing
    trainer = open_engine(engine or settings.train.engine, settings)
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    available = [d for d in window.days if events.exists(d) or profiles.exists(d)]
    check_window(window, available, allow_missing=allow)
    timings: dict[str, float] = {}
    with log_context(window=window.describe()):
        with timed(timings, "prepare", log):
            prepare_days(settings, available, weights=params.weights, progress=progress)
        return train_model(
            profiles_url=profiles.url,
            models_url=settings.paths.models_url(),
            window=window,
            params=params,
            engine=trainer,
            allow_missing=allow,
            progress=_step(progress, "similarity"),
            timings=timings,
        )


def _step(progress: StepProgress | None, step: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(step, done, total)
