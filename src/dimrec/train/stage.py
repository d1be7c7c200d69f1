"""The train stage: a window of daily profiles → an engine → a model version folder.

:func:`train_model` checks the window (which days have profiles, whether they were computed
with the parameters' weights) before anything runs, trains with the given engine, and writes
``models/<version>/`` through :func:`dimrec.model.write_model` with a complete manifest. A
failure at any point leaves no version folder behind, not even a partial one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dimrec import dates, partitions
from dimrec.errors import DataError, MissingDataError
from dimrec.fsio import join, url_to_fs
from dimrec.logs import log_context, timed
from dimrec.model import Model, ModelCounts, ModelWindow, Training, new_version, write_model
from dimrec.params import TrainParams
from dimrec.train.base import Engine, Progress, TrainResult, check_supported
from dimrec.train.profiles import prepared_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """The days from ``days_init`` days before ``as_of`` through ``days_end`` days before it."""

    as_of: dt.date
    days_init: int
    days_end: int
    days: tuple[dt.date, ...]

    @classmethod
    def resolve(
        cls,
        days_init: int,
        days_end: int,
        as_of: dt.date | None = None,
        *,
        max_days: int = dates.MAX_WINDOW_DAYS,
    ) -> Window:
        anchor = as_of or dt.date.today()
        days = dates.window(days_init, days_end, anchor, max_days=max_days)
        return cls(anchor, days_init, days_end, tuple(days))

    def describe(self) -> str:
        return f"{self.days[0].isoformat()}..{self.days[-1].isoformat()} ({len(self.days)} days)"


def train_model(
    *,
    profiles_url: str,
    models_url: str,
    window: Window,
    params: TrainParams,
    engine: Engine,
    allow_missing: bool = False,
    progress: Progress | None = None,
    timings: Mapping[str, float] | None = None,
    events_url: str | None = None,
    tuned_by: str | None = None,
) -> Model:
    """Train on the window's profiles with ``engine`` and write a new model version.

    Raises MissingDataError when the window has no profiles at all or, unless
    ``allow_missing``, when some of its days have none (naming them); DataError when a day's
    profiles were computed with other weights or nothing is left to train on. ``timings``
    of earlier steps (e.g. prepare) are recorded in the manifest too. An algorithm that
    learns from the order of events (``params.ordered``) also reads the window's days under
    ``events_url``. ``tuned_by`` names the tune run the parameters came from.
    """
    check_supported(engine, params)
    store = partitions.profiles(profiles_url)
    present = [day for day in window.days if store.exists(day)]
    missing = check_window(window, present, allow_missing=allow_missing)
    if missing:
        log.warning("training without the missing day(s) %s", dates.describe_days(missing))
    _check_weights(store, present, params)
    steps: dict[str, float] = dict(timings or {})
    urls = [_url_of(store, day) for day in present]
    event_urls = _event_urls(events_url, present) if params.ordered else None
    with log_context(engine=engine.name, algorithm=params.algorithm):
        log.info("training on %s with %s", window.describe(), params.model_dump_json())
        with timed(steps, "train", log):
            result = engine.train(urls, params, progress=progress, event_urls=event_urls)
        steps.update(result.timings)
        version = new_version()
        training = Training(
            window=ModelWindow(
                as_of=window.as_of,
                days_init=window.days_init,
                days_end=window.days_end,
                days=tuple(present),
                missing_days=tuple(missing),
            ),
            # The manifest records what was computed: retraining with it gives the same model.
            params=(
                params
                if result.algorithm is None
                else params.model_copy(update={"algorithm": result.algorithm})
            ),
            engine=engine.name,
            counts=ModelCounts.model_validate(result.counts),
            timings=steps,
            tuned_by=tuned_by,
        )
        with log_context(version=version):
            model = _write(models_url, version, result, training)
            log.info("model %s written to %s: %s", version, model.url, result.counts)
    return model


def check_window(
    window: Window, present: Sequence[dt.date], *, allow_missing: bool
) -> list[dt.date]:
    """The window's days not in ``present``; raises MissingDataError when no day is present
    or, unless ``allow_missing``, when some are missing (naming them)."""
    have = set(present)
    missing = [day for day in window.days if day not in have]
    if len(missing) == len(window.days):
        raise MissingDataError(
            f"no profiles or events for any day of the window {window.describe()}; export "
            "those days first (`dimrec export`), then train"
        )
    if missing and not allow_missing:
        raise MissingDataError(
            f"{len(missing)} of the window's {len(window.days)} days have no profiles or "
            f"events: {dates.describe_days(missing)}; export them, or "
            "train on the other days with --allow-missing"
        )
    return missing


def _check_weights(
    store: partitions.DayPartitions, days: Sequence[dt.date], params: TrainParams
) -> None:
    """Refuse profiles known to have been computed with weights other than the params'."""
    wanted = {k: float(v) for k, v in params.weights.items()}
    other = [day for day in days if prepared_weights(store, day) not in (None, wanted)]
    if other:
        raise DataError(
            f"profiles of {dates.describe_days(other)} were computed with "
            f"other weights than {wanted}; prepare them again (`dimrec prepare --force`)"
        )


def _event_urls(events_url: str | None, days: Sequence[dt.date]) -> list[str]:
    """The events files of ``days`` for an algorithm that learns from the events' order.
    Days whose events are gone (only their profiles are left) are left out of the sessions
    with a warning; MissingDataError when none of them has events."""
    if events_url is None:
        raise MissingDataError("this algorithm learns from the events' order: give events_url")
    store = partitions.events(events_url)
    kept = [day for day in days if store.exists(day)]
    gone = [day.isoformat() for day in days if day not in kept]
    if not kept:
        raise MissingDataError(
            f"the algorithm learns from the order of events, and the events of "
            f"{', '.join(gone)} are gone (only their profiles are left); export those days "
            "again, or train another algorithm"
        )
    if gone:
        log.warning(
            "the events of %s are gone: the sessions of the other days only", ", ".join(gone)
        )
    return [_url_of(store, day) for day in kept]


def _url_of(store: partitions.DayPartitions, day: dt.date) -> str:
    return str(store.fs.unstrip_protocol(store.path(day)))


def _write(models_url: str, version: str, result: TrainResult, training: Training) -> Model:
    """Write the version folder; on any failure remove what was written of it."""
    try:
        return write_model(
            models_url,
            neighbours=result.neighbours,
            popularity=result.popularity,
            training=training,
            version=version,
        )
    except BaseException:
        fs, root = url_to_fs(join(models_url, version))
        if fs.exists(root):
            fs.rm(root, recursive=True)
        raise
