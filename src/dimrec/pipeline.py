"""The whole flow, one plain function per arrow.

    warehouse ──export──▶ events ──prepare──▶ profiles ──train──▶ models/<version>
                                                                       │
                        HTTP API ◀──reads── store ◀──────publish───────┘

The CLI, the queue tasks and the jobs API only call these functions; the stages below never
call back up. Each function takes the validated :class:`~dimrec.config.Settings` and plain
arguments, and returns a small summary that the caller formats. Offline evaluation and
tuning, which are not part of the daily flow, have their own such functions in
:mod:`dimrec.evaluate.flow`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dimrec import dates, partitions
from dimrec.config import Settings
from dimrec.errors import MissingDataError
from dimrec.export import ExportSummary, export_range, open_warehouse
from dimrec.logs import log_context, timed
from dimrec.model import Model, load_model
from dimrec.params import TrainParams
from dimrec.publish import publisher
from dimrec.publish.admin import open_settings_store
from dimrec.publish.publisher import PublishSummary
from dimrec.train.base import check_supported
from dimrec.train.engines import check_engine_name, open_engine, spark_prepare
from dimrec.train.profiles import PreparedDay, prepare_day
from dimrec.train.stage import Window, check_window, train_model

log = logging.getLogger(__name__)

#: Called as progress(step, done, total) during long steps ("prepare", "similarity", ...).
StepProgress = Callable[[str, int, int], None]


# ── export: warehouse → events ─────────────────────────────────────────────────────────────


def export_days(
    settings: Settings,
    days: Sequence[dt.date | str],
    *,
    progress: StepProgress | None = None,
) -> ExportSummary:
    """Export each of ``days`` from the warehouse (``settings.export``) to the events
    partitions, replacing each day whole.

    Days the warehouse has no data for are listed in ``summary.missing`` while the others
    are exported; call ``summary.raise_for_missing()`` to fail on them. A bad date is an
    InvalidInputError before anything runs; a table lacking a needed column (SchemaError) or
    a warehouse failure stops the run at that day (the days before it stay written).
    """
    checked = [dates.parse_date(day) for day in days]
    events = partitions.events(settings.paths.events_url())
    with open_warehouse(settings.export) as warehouse:
        return export_range(
            warehouse,
            events,
            checked,
            source=settings.export.source,
            input_url=settings.export.input,
            progress=progress,
        )


def unexported_days(settings: Settings, days: Sequence[dt.date]) -> list[dt.date]:
    """The days among ``days`` that have no events partition yet."""
    return partitions.events(settings.paths.events_url()).missing(days)


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
    engine: str | None = None,
    progress: StepProgress | None = None,
) -> PrepareSummary:
    """Make the profiles of ``days`` current (compute those missing or stale; all with
    ``force``), with ``weights`` (default ``settings.weights``), on ``engine`` (default
    ``settings.train.engine``: local, or spark for large days). Checks first that every day
    has events (or, without ``force``, profiles already), naming those that do not."""
    check_engine_name(engine)
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    weights = dict(weights) if weights is not None else settings.weights.as_dict()
    absent = [d for d in days if not events.exists(d) and (force or not profiles.exists(d))]
    if absent:
        named = ", ".join(d.isoformat() for d in absent)
        raise MissingDataError(
            f"no events for {named} under {events.url}; export them first (`dimrec export`)"
        )
    if (engine or settings.train.engine) == "spark":
        spark = spark_prepare()
        step = _step(progress, "prepare")
        return PrepareSummary(
            tuple(spark(settings, days, force=force, weights=weights, progress=step))
        )
    results = []
    for done, day in enumerate(days, start=1):
        with log_context(date=day.isoformat()):
            results.append(prepare_day(events, profiles, day, weights, force=force))
        if progress is not None:
            progress("prepare", done, len(days))
    return PrepareSummary(tuple(results))


# ── train: profiles → models/<version> ─────────────────────────────────────────────────────


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
    params = params if params is not None else settings.train_params()
    window = Window.resolve(
        settings.train.days_init if days_init is None else days_init,
        settings.train.days_end if days_end is None else days_end,
        dates.parse_date(as_of) if as_of is not None else None,
    )
    allow = settings.train.allow_missing if allow_missing is None else allow_missing
    trainer = open_engine(engine or settings.train.engine, settings)
    check_supported(trainer, params)
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    available = [d for d in window.days if events.exists(d) or profiles.exists(d)]
    check_window(window, available, allow_missing=allow)
    timings: dict[str, float] = {}
    with log_context(window=window.describe()):
        with timed(timings, "prepare", log):
            prepare_days(
                settings,
                available,
                weights=params.weights,
                engine=engine or settings.train.engine,
                progress=progress,
            )
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


# ── publish: models/<version> → store ─────────────────────────────────────────────────────
#
# Between publishes an operator lists versions, rolls back and hides items with the light
# functions of dimrec.publish.admin (open_settings_store, rollback, hide, unhide): they load
# only the store, so the CLI and the HTTP server's console call them directly.


def publish(
    settings: Settings,
    version: str | None = None,
    *,
    force: bool = False,
    progress: StepProgress | None = None,
) -> PublishSummary:
    """Publish model ``version`` (default the newest) to the store and make it current.

    The model's checksums are verified first; a version already current is a no-op (see
    ``summary.published``); PublishRefusedError when the catalogue would shrink below
    ``store.min_item_fraction`` of the current one (unless ``force``). Older versions beyond
    ``store.keep_versions`` are pruned afterwards.
    """
    model = load_model(settings.paths.models_url(), version)
    with open_settings_store(settings) as store:
        return publisher.publish_model(
            store, model, settings.store, force=force, progress=_step(progress, "publish")
        )
