"""Offline quality, as :mod:`dimrec.pipeline` is the production flow: settings → the
exported events (or a public data set) → an evaluation or a tuning run → a report.

``dimrec evaluate`` and ``dimrec tune`` call these functions (and the periodic re-tune
does); they read what the pipeline wrote and write reports under
``models/evaluations/``, never a model version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dimrec import tuned
from dimrec.config import Settings
from dimrec.evaluate import report as evaluation_report
from dimrec.evaluate.datasets import DataSpec
from dimrec.evaluate.fit import Config as EvalConfig
from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.metrics import Difference
from dimrec.evaluate.runner import Evaluation
from dimrec.evaluate.runner import evaluate as evaluate_systems
from dimrec.evaluate.split import SplitSpec
from dimrec.evaluate.systems import DEFAULT_SYSTEMS, parse_systems
from dimrec.evaluate.task import ModeChoice, SessionQuery
from dimrec.evaluate.tune import (
    CURRENT,
    TUNED,
    TuneGrid,
    TuneResult,
    fragment_comments,
    tuned_config,
)
from dimrec.evaluate.tune import tune as tune_systems
from dimrec.fsio import atomic_write_bytes, join, url_to_fs
from dimrec.model import new_version
from dimrec.tuned import FRAGMENT_FILE, TUNED_FILE, TunedConfig

#: The decision of a periodic re-tune, beside its report.
RETUNE_FILE = "retune.json"
#: Called as progress(step, done, total) during long steps.
StepProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvaluateSummary:
    evaluation: Evaluation
    reference: str | None
    """The system differences are measured against (implicit BM25, else popularity)."""
    report_url: str


@dataclass(frozen=True)
class TuneSummary:
    result: TuneResult
    config: TunedConfig
    """The choice, as applied (``tuned.json`` in the report folder)."""
    report_url: str
    fragment_url: str
    fragment: str
    """The chosen configuration as a settings file to layer over dimrec.toml."""
    applied_url: str | None = None
    """Where the choice was applied (``--apply``), None when it was not."""


def evaluate(
    settings: Settings,
    *,
    data: DataSpec | None = None,
    split: SplitSpec | None = None,
    systems: Sequence[str] | None = None,
    ks: Sequence[int] = (5, 10, 20),
    mode: ModeChoice = "auto",
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
    window_days: int | None = None,
    half_life_days: float | None = None,
    report_to: str | None = None,
    progress: StepProgress | None = None,
) -> EvaluateSummary:
    """Train each of ``systems`` in memory on the split's training window, score the test
    shoppers through the serving rule, and write an HTML + JSON report (default under
    ``models/evaluations/<version>/``). The training parameters not named by a system come
    from ``settings.train``; the events from the export (or a public data set, ``data``); each
    neighbour list is read up to ``settings.store.sim_cap`` items, as the server does."""
    systems = DEFAULT_SYSTEMS if systems is None else systems
    data = data or DataSpec()
    split = split or SplitSpec()
    events = _evaluation_events(settings, data, split, window_days)
    params = settings.train_params()
    if half_life_days is not None:
        params = params.model_copy(update={"half_life_days": half_life_days})
    base = EvalConfig(params, window_days)
    evaluation = evaluate_systems(
        events,
        split.make(events),
        parse_systems(systems, base),
        dataset=data.name(),
        ks=ks,
        mode=mode,
        target_actions=target_actions,
        session_items=session_items,
        list_cap=settings.store.sim_cap,
        threads=settings.train.threads,
        progress=None if progress is None else lambda d, t, _n: progress("evaluate", d, t),
    )
    reference = evaluation_report.default_reference(evaluation)
    html = evaluation_report.render_html(evaluation, reference=reference)
    data_out = evaluation_report.summary(evaluation, reference=reference)
    url = evaluation_report.write_report(
        report_to or _report_folder(settings, f"evaluate-{new_version()}"), html, data_out
    )
    return EvaluateSummary(evaluation, reference, url)


def tune(
    settings: Settings,
    *,
    data: DataSpec | None = None,
    split: SplitSpec | None = None,
    grid: TuneGrid | None = None,
    ks: Sequence[int] = (5, 10, 20),
    mode: ModeChoice = "auto",
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
    baselines: bool = True,
    report_to: str | None = None,
    fragment_to: str | None = None,
    apply: bool = False,
    current: EvalConfig | None = None,
    folds: int = 1,
    progress: StepProgress | None = None,
) -> TuneSummary:
    """Choose algorithm and parameters by NDCG@10 on a validation split carved from the
    training period, evaluate the choice once on the test, and write the report, the choice
    (``tuned.json``) and the same as a settings file (``dimrec.tuned.toml``) in the run's
    folder (default ``models/evaluations/tune-<version>/``). With ``apply`` the choice
    becomes the applied tune that ``train`` and the daily chain read (:mod:`dimrec.tuned`).
    ``folds`` > 1 scores every trial on that many validation splits, each moved back by the
    test's length (:func:`~dimrec.evaluate.tune.validation_folds`)."""

    data = data or DataSpec()
    split = split or SplitSpec()
    grid = grid or TuneGrid()
    longest = max((w for w in grid.window_days if w is not None), default=None)
    widest = None if None in grid.window_days else longest
    events = _evaluation_events(settings, data, split, widest, validation_folds=folds)
    result = tune_systems(
        events,
        split.make(events),
        base=EvalConfig(settings.train_params()),
        grid=grid,
        dataset=data.name(),
        mode=mode,
        target_actions=target_actions,
        session_items=session_items,
        ks=ks,
        baselines=baselines,
        current=current,
        folds=folds,
        threads=settings.train.threads,
        progress=progress,
    )
    run = f"tune-{new_version()}"
    folder = report_to or _report_folder(settings, run)
    html = evaluation_report.render_html(
        result.test, reference=result.reference, tuning=result, title="dimrec tune"
    )
    url = evaluation_report.write_report(folder, html, evaluation_report.tuning_summary(result))
    config = tuned_config(result, run=run, report=url)
    fs, root = url_to_fs(folder)
    atomic_write_bytes(fs, join(root, TUNED_FILE), config.to_json())
    text = tuned.fragment(config, fragment_comments(result, config))
    fragment_url = fragment_to or join(folder, FRAGMENT_FILE)
    fs, path = url_to_fs(fragment_url)
    atomic_write_bytes(fs, path, text.encode("utf-8"))
    applied = tuned.apply(settings.paths.models_url(), config) if apply else None
    return TuneSummary(result, config, url, fragment_url, text, applied)


@dataclass(frozen=True)
class RetuneSummary:
    tune: TuneSummary
    current: str
    """The configuration in use before (its label), and the applied tune's run if any."""
    difference: Difference | None
    """NDCG@10 of the choice minus the current configuration on the test days (paired
    bootstrap, 95%); None when the choice is the current configuration."""
    switched: bool
    reason: str


def retune(
    settings: Settings,
    *,
    as_of: dt.date,
    grid: TuneGrid | None = None,
    progress: StepProgress | None = None,
) -> RetuneSummary:
    """The periodic re-tune: tune on the exported events of the training window before
    ``as_of`` and switch the applied tune to the choice only when it beats the configuration
    in use on the test days — held out from the choice — with a paired 95% interval of the
    NDCG@10 difference above zero. (On the validation days the choice was picked on, the
    newcomer would be favoured by its own selection.) The report stays in the run's folder
    with ``retune.json``, the decision."""
    days_init, days_end = tuned.training_window(settings)
    first = as_of - dt.timedelta(days=days_init)
    last = as_of - dt.timedelta(days=days_end)
    params, applied = tuned.training_params(settings)
    in_use = EvalConfig(params, applied.window_days if applied is not None else None)
    summary = tune(
        settings,
        data=DataSpec(first=first, last=last),
        grid=grid,
        ks=(10,),
        current=in_use,
        progress=progress,
    )
    test = summary.result.test
    label = in_use.label() + (f" (applied tune {applied.run})" if applied else " (settings)")
    if summary.result.best.key() == in_use.key():
        difference, switched = None, False
        reason = "the choice is the configuration in use: nothing to switch"
    else:
        difference = test.difference(TUNED, CURRENT)
        switched = difference.low > 0
        verdict = "better" if switched else "not better with 95% confidence"
        reason = (
            f"the choice is {verdict} than the configuration in use on the test days: "
            f"NDCG@10 difference {difference}"
        )
    if switched:
        tuned.apply(settings.paths.models_url(), summary.config)
    decision = {
        "run": summary.config.run,
        "current": label,
        "chosen": summary.result.best.label(),
        "difference": None if difference is None else dataclasses.asdict(difference),
        "switched": switched,
        "reason": reason,
    }
    fs, path = url_to_fs(join(summary.report_url.rpartition("/")[0], RETUNE_FILE))
    atomic_write_bytes(fs, path, (json.dumps(decision, indent=2) + "\n").encode("utf-8"))
    return RetuneSummary(summary, label, difference, switched, reason)


def _evaluation_events(
    settings: Settings,
    data: DataSpec,
    split: SplitSpec,
    window_days: int | None,
    *,
    validation_folds: int = 0,
) -> Interactions:
    """The events to split. From the export, unless days are given: the training window
    (``window_days``, default the [train] window's length) before the cut-off and the test
    days after it (and, for tuning, each validation fold's days before the window)."""

    if data.dataset is None and data.first is None and split.cutoff is not None:
        length = window_days or settings.train.days_init - settings.train.days_end + 1
        test_days = split.test_days or 1
        extra = test_days * validation_folds
        first = split.cutoff - dt.timedelta(days=length - 1 + extra)
        last = split.cutoff + dt.timedelta(days=test_days)
        data = DataSpec(first=first, last=last)
    return data.load(settings.paths.events_url())


def _report_folder(settings: Settings, name: str) -> str:
    """``models/evaluations/<name>``: where a run's report goes by default."""
    return join(settings.paths.models_url(), "evaluations", name)
