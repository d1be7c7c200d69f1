"""The whole flow, one plain function per arrow.

    warehouse ──export──▶ events ──prepare──▶ profiles ──train──▶ models/<version>
                                                                       │
                        HTTP API ◀──reads── store ◀──────publish───────┘

    upkeep: gc (left-overs of interrupted writes), doctor (integrity of all of the above)

The CLI, the queue tasks and the jobs API only call these functions; the stages below never
call back up. Each function takes the validated :class:`~dimrec.config.Settings` and plain
arguments, and returns a small summary that the caller formats; each records its runs (the
outcome of each step for each day, with the reason of a failure) in :mod:`dimrec.runs`.
Offline evaluation and tuning, which are not part of the daily flow, have their own such
functions in :mod:`dimrec.evaluate.flow`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dimrec import dates, partitions, tuned
from dimrec.config import Settings
from dimrec.errors import EngineError, MissingDataError
from dimrec.export import DayGuard, ExportSummary, export_range, open_warehouse
from dimrec.logs import log_context, timed
from dimrec.model import Model, load_model
from dimrec.params import TrainParams
from dimrec.publish import publisher
from dimrec.publish.admin import open_settings_store
from dimrec.publish.publisher import PublishSummary
from dimrec.publish.stores import open_store
from dimrec.runs import RunLog, failure
from dimrec.train.base import check_supported
from dimrec.train.engines import check_engine_name, open_engine, spark_prepare
from dimrec.train.profiles import PreparedDay, prepare_day
from dimrec.train.stage import Window, check_window, train_model
from dimrec.tuned import TunedConfig
from dimrec.upkeep import doctor as checks
from dimrec.upkeep.doctor import Report
from dimrec.upkeep.leftovers import MIN_AGE_SECONDS, Leftover, find_leftovers
from dimrec.upkeep.leftovers import remove as remove_leftovers

log = logging.getLogger(__name__)

#: Called as progress(step, done, total) during long steps ("prepare", "similarity", ...).
StepProgress = Callable[[str, int, int], None]


# ── export: warehouse → events ─────────────────────────────────────────────────────────────


def export_days(
    settings: Settings,
    days: Sequence[dt.date | str],
    *,
    allow_empty: bool = False,
    progress: StepProgress | None = None,
) -> ExportSummary:
    """Export each of ``days`` from the warehouse (``settings.export``) to the events
    partitions, replacing each day whole.

    Days the warehouse has no data for are listed in ``summary.missing`` while the others
    are exported; call ``summary.raise_for_missing()`` to fail on them. A bad date is an
    InvalidInputError before anything runs; a table lacking a needed column (SchemaError) or
    a warehouse failure stops the run at that day (the days before it stay written). So does
    a day whose rows were nearly all rejected, or with far fewer events than the day it would
    replace (DataError; ``export.max_rejected_fraction`` and ``export.min_events_fraction``),
    unless ``allow_empty``: its partition is kept as it was.
    """
    checked = [dates.parse_date(day) for day in days]
    events = partitions.events(settings.paths.events_url())
    runs = RunLog(settings.paths.runs_url())
    guard = (
        None
        if allow_empty
        else DayGuard(settings.export.max_rejected_fraction, settings.export.min_events_fraction)
    )
    done = 0
    started = time.perf_counter()

    def count(step: str, finished: int, total: int) -> None:
        nonlocal done, started
        done, started = finished, time.perf_counter()
        if progress is not None:
            progress(step, finished, total)

    try:
        with open_warehouse(settings.export) as warehouse:
            summary = export_range(
                warehouse,
                events,
                checked,
                source=settings.export.source,
                input_url=settings.export.input,
                progress=count,
                guard=guard,
            )
    except Exception as exc:  # the day being exported failed; the days before it are kept
        if done < len(checked):
            seconds = time.perf_counter() - started
            runs.finished("export", checked[done], "failed", failure(exc), seconds=seconds)
        raise
    for day in summary.days:
        said = f"{day.events:,} events, {day.users:,} users, {day.items:,} items"
        runs.finished("export", day.day, "succeeded", said, seconds=day.seconds)
    for missing in summary.missing:
        runs.finished("export", missing.day, "failed", missing.reason, seconds=0.0)
    return summary


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
    runs = RunLog(settings.paths.runs_url())
    absent = [d for d in days if not events.exists(d) and (force or not profiles.exists(d))]
    if absent:
        error = MissingDataError(
            f"no events for {dates.describe_days(absent)} under {events.url}; export them "
            "first (`dimrec export`)"
        )
        for day in absent:
            runs.finished("prepare", day, "failed", str(error), seconds=0.0)
        raise error
    if (engine or settings.train.engine) == "spark":
        spark = spark_prepare()
        step = _step(progress, "prepare")
        started = time.perf_counter()
        try:
            prepared = spark(settings, days, force=force, weights=weights, progress=step)
        except Exception as exc:  # one Spark job prepares the days together
            for day in days:
                seconds = time.perf_counter() - started
                runs.finished("prepare", day, "failed", failure(exc), seconds=seconds)
            raise
        for result in prepared:
            runs.finished("prepare", result.day, "succeeded", _said(result), seconds=result.seconds)
        return PrepareSummary(tuple(prepared))
    results = []
    for done, day in enumerate(days, start=1):
        with log_context(date=day.isoformat()), runs.running("prepare", day) as run:
            result = prepare_day(events, profiles, day, weights, force=force)
            run.message = _said(result)
        results.append(result)
        if progress is not None:
            progress("prepare", done, len(days))
    return PrepareSummary(tuple(results))


def _said(day: PreparedDay) -> str:
    if day.cached:
        return f"{day.profiles:,} profiles, already current"
    return f"{day.events:,} events → {day.profiles:,} profiles"


# ── train: profiles → models/<version> ─────────────────────────────────────────────────────


def training_params(
    settings: Settings, overrides: Mapping[str, object] | None = None
) -> tuple[TrainParams, TunedConfig | None]:
    """The training parameters and the applied tune they came from (if any). Highest first:
    ``overrides`` (command line, job parameters; None values ignored) > the applied tune
    (:mod:`dimrec.tuned`) > the settings (environment, ``[train]``/``[weights]``) > the
    defaults. InvalidInputError names a bad override."""
    return tuned.training_params(settings, overrides)


def training_window(settings: Settings) -> tuple[int, int]:
    """``(days_init, days_end)`` of the training window: the settings' ``[train]`` window,
    its length set by the applied tune when it chose one."""
    return tuned.training_window(settings)


def train(
    settings: Settings,
    *,
    days_init: int | None = None,
    days_end: int | None = None,
    as_of: str | dt.date | None = None,
    params: TrainParams | None = None,
    overrides: Mapping[str, object] | None = None,
    engine: str | None = None,
    allow_missing: bool | None = None,
    progress: StepProgress | None = None,
) -> Model:
    """Train a model on the window ``days_init``..``days_end`` days before ``as_of`` (default
    today) and write it under ``models/<version>/``.

    Without ``params`` the parameters are :func:`training_params` with ``overrides`` (the
    applied tune over the settings), and the manifest names the applied tune's run. Days
    whose profiles are missing or stale are prepared from their events first (the others are
    cached). Unset window arguments come from :func:`training_window`. Errors: a window with
    no data, missing days (unless ``allow_missing``), bad parameters, nothing left after the
    user filter — each before anything is written to ``models/``.
    """
    config = None
    if params is None:
        params, config = training_params(settings, overrides)
    default_init, default_end = training_window(settings)
    window = Window.resolve(
        default_init if days_init is None else days_init,
        default_end if days_end is None else days_end,
        dates.parse_date(as_of) if as_of is not None else None,
        max_days=settings.max_window_days,
    )
    allow = settings.train.allow_missing if allow_missing is None else allow_missing
    trainer = open_engine(engine or settings.train.engine, settings)
    try:
        check_supported(trainer, params)
    except EngineError as exc:
        if config is None:
            raise
        raise EngineError(
            f"{exc} (the applied tune {config.run} chose it; `dimrec tuned --clear` removes "
            "it, or tune again with --algorithms exact)"
        ) from None
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    runs = RunLog(settings.paths.runs_url())
    with log_context(window=window.describe()), runs.running("train", window.days[-1]) as run:
        available = [d for d in window.days if events.exists(d) or profiles.exists(d)]
        check_window(window, available, allow_missing=allow)
        timings: dict[str, float] = {}
        with timed(timings, "prepare", log):
            prepare_days(
                settings,
                available,
                weights=params.weights,
                engine=engine or settings.train.engine,
                progress=progress,
            )
        model = train_model(
            profiles_url=profiles.url,
            events_url=events.url,
            models_url=settings.paths.models_url(),
            window=window,
            params=params,
            engine=trainer,
            allow_missing=allow,
            progress=_step(progress, "similarity"),
            timings=timings,
            tuned_by=config.run if config is not None else None,
        )
        counts = model.manifest.counts
        run.version = model.version
        run.message = (
            f"model {model.version} ({params.algorithm}): {counts.items:,} items, "
            f"{counts.pairs:,} pairs from {counts.users:,} users"
        )
    return model


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
    ``store.keep_versions`` are pruned afterwards. A model trained with an applied tune keeps
    its whole top-K lists (the tune evaluated them so), whatever ``store.sim_cap``.
    """
    with RunLog(settings.paths.runs_url()).running("publish") as run:
        model = load_model(settings.paths.models_url(), version)
        window = model.manifest.window
        run.day, run.version = (window.days or (window.as_of,))[-1], model.version
        store_settings = settings.store
        if model.manifest.tuned_by is not None:  # keep as many neighbours as tune evaluated
            top_k = model.manifest.params.top_k
            store_settings = store_settings.model_copy(update={"sim_cap": top_k})
        with open_settings_store(settings) as store:
            summary = publisher.publish_model(
                store, model, store_settings, force=force, progress=_step(progress, "publish")
            )
        run.message = summary.message
    return summary


# ── upkeep: left-overs and integrity ───────────────────────────────────────────────────────


def _data_roots(settings: Settings) -> list[str]:
    paths = settings.paths
    return [paths.events_url(), paths.profiles_url(), paths.models_url(), paths.runs_url()]


def leftovers(settings: Settings, *, min_age: float = MIN_AGE_SECONDS) -> list[Leftover]:
    """Left-overs of interrupted writes under the data folders (temporary files, model
    folders without a manifest, legacy records) last written ``min_age`` seconds ago or more."""
    return find_leftovers(_data_roots(settings), settings.paths.models_url(), min_age=min_age)


def gc(
    settings: Settings, *, min_age: float = MIN_AGE_SECONDS, dry_run: bool = False
) -> list[Leftover]:
    """Remove the :func:`leftovers` (unless ``dry_run``); returns them. Nothing written in
    the last ``min_age`` seconds is touched: it may be being written now."""
    found = leftovers(settings, min_age=min_age)
    if not dry_run:
        remove_leftovers(found)
    return found


def doctor(settings: Settings, *, min_age: float = MIN_AGE_SECONDS) -> Report:
    """Check events, profiles, models and the store (see :mod:`dimrec.upkeep.doctor`);
    reads only, never creates a store."""
    report = Report()
    events = partitions.events(settings.paths.events_url())
    profiles = partitions.profiles(settings.paths.profiles_url())
    checks.check_partitions(report, events)
    checks.check_partitions(report, profiles)
    checks.check_profiles(report, events, profiles)
    checks.check_models(report, settings.paths.models_url())
    checks.check_store(report, lambda: open_store(settings.store.url, create=False))
    checks.check_leftovers(report, leftovers(settings, min_age=min_age))
    return report
