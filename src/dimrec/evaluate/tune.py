"""Tuning: choose the algorithm and its parameters by NDCG@10 on a validation split carved
from the training period by the same rule as the test (never the test itself), then
retrain on the whole training period and evaluate once on the test.

The search has two stages, every trial scored on the same validation shoppers:

1. *algorithm*: each algorithm with each combination of its own parameters (exact and
   dimsum: matrix weighting, and dimsum's thresholds; rp3beta α × β; ease λ × weighting;
   sequential rules: steps), on the base shared settings;
2. *shared*: from each algorithm's best trial so far, each shared setting in turn — action
   weights, window length, user filter, neighbours kept (top_k), time-decay half-life —
   takes each of its values, and the algorithm keeps the best (one pass of coordinate
   ascent per algorithm);
3. *blend*: blends of the leaders (each component with its leader's parameters, on the
   best leader's shared settings): row-scaled, every combination of the component weights
   (``blend_weights``); max-scaled, the best leader's component weighing 1 and every
   combination of small weights of the others (``blend_max_weights``).

The chosen configuration is the best of the leaders (the blend's among them).

The final test run scores the chosen configuration beside each algorithm's leader, plain
cosine and the DIMSUM comparison thresholds, popularity and implicit's cosine and BM25
baselines (on the chosen configuration's matrix), all on the same shoppers, so every
difference is paired and has its interval.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dimrec.errors import ConfigError, DataError, InvalidInputError, describe_validation
from dimrec.evaluate.fit import Config
from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.metrics import FloatArray
from dimrec.evaluate.runner import Candidate, Evaluation, SystemScore, evaluate
from dimrec.evaluate.split import Split
from dimrec.evaluate.task import Mode, ModeChoice, SessionQuery, choose_mode
from dimrec.params import BLEND_COMPONENTS, Algorithm, TrainParams, Weighting
from dimrec.tuned import TunedConfig, config_of

log = logging.getLogger(__name__)

TUNE_METRIC = ("ndcg", 10)
#: Called as progress(step, done, total) as each system of each stage is scored.
TuneProgress = Callable[[str, int, int], None]


class TuneGrid(BaseModel):
    """The values each tuned setting may take (a TOML/JSON table of lists)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithms: list[Algorithm] = Field(default=["exact", "rp3beta", "ease", "sequential"])
    """Algorithms searched (dimsum only approximates exact; it is in the final table anyway;
    blends are searched after them, see ``blend_weights``)."""
    thresholds: list[float] = Field(default=[0.1, 0.5])
    """dimsum thresholds searched when dimsum is among the algorithms."""
    rp3_alpha: list[float] = Field(default=[0.5, 0.75, 1.0])
    rp3_beta: list[float] = Field(default=[0.0, 0.25, 0.5, 0.75])
    ease_lambda: list[float] = Field(
        default=[50.0, 200.0, 1000.0, 5000.0, 20000.0, 100000.0, 500000.0]
    )
    """EASE's λ: wide, as its best value grows with the scores' scale (action weights)."""
    sr_steps: list[int] = Field(default=[3, 10])
    """Sequential rules: steps ahead a rule reaches."""
    blend_weights: list[float] = Field(default=[0.0, 0.5, 1.0])
    """Weights tried for each component of a row-scaled blend (ease, rp3beta, cosine,
    sequential, each with its algorithm's best parameters); [] searches none."""
    blend_max_weights: list[float] = Field(default=[0.0, 0.1, 0.25, 0.5])
    """Weights tried for the other components of a max-scaled blend, whose best leader's
    component weighs 1; [] searches none."""
    weights: list[dict[str, float]] = Field(
        default=[
            {"browse": 0.5, "basket": 2.0, "purchase": 6.0},
            {"browse": 1.0, "basket": 1.0, "purchase": 1.0},
            {"browse": 1.0, "basket": 4.0, "purchase": 8.0},
        ]
    )
    """Action weights to try."""
    window_days: list[int | None] = Field(default=[None])
    """Training window lengths in days (None: the whole training period)."""
    user_filters: list[tuple[int, int]] = Field(default=[(2, 100), (2, 1000)])
    """(min_items, max_items) pairs."""
    top_k: list[int] = Field(default=[100])
    """Neighbours kept per item; the fragment sets the store's sim_cap to the choice, so the
    server reads as many as were evaluated."""
    half_life_days: list[float | None] = Field(default=[None, 14.0, 30.0, 90.0])
    """Time-decay half-lives in days (None: no decay)."""
    weighting: list[Weighting] = Field(default=["none", "bm25", "tfidf"])
    """Matrix weightings tried with exact, dimsum and ease (each with its own parameters: the
    weighting changes the scale λ acts on)."""
    comparison_thresholds: list[float] = Field(default=[0.1, 0.5])
    """dimsum thresholds always shown in the final test table."""


@dataclass(frozen=True)
class Trial:
    stage: str
    config: Config
    ndcg: float
    hr: float
    fit_seconds: float
    values: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    """Per-shopper NDCG@10 on validation, fold after fold (for paired comparisons on the same
    shoppers)."""
    folds: tuple[float, ...] = ()
    """NDCG@10 on each validation fold (``ndcg`` is their mean)."""


@dataclass(frozen=True)
class TuneResult:
    trials: list[Trial]
    best: Config
    validation: str
    test: Evaluation
    reference: str | None
    """The baseline the chosen configuration is compared with (implicit BM25 when run)."""

    def best_trial(self) -> Trial:
        key = self.best.key()
        return next(t for t in self.trials if t.config.key() == key)


TUNED = "dimrec tuned"
#: The configuration in use, scored beside the choice by a re-tune.
CURRENT = "current configuration"


def tune(
    events: Interactions,
    split: Split,
    *,
    base: Config,
    grid: TuneGrid | None = None,
    dataset: str = "events",
    mode: ModeChoice = "auto",
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
    ks: Sequence[int] = (5, 10, 20),
    baselines: bool = True,
    current: Config | None = None,
    folds: int = 1,
    threads: int = 0,
    progress: TuneProgress | None = None,
) -> TuneResult:
    """Search ``grid`` on ``folds`` validation splits of ``split`` (:func:`validation_folds`);
    evaluate the best on the test (beside ``current``, the configuration in use, when given:
    :data:`CURRENT`).

    ``mode`` "auto" chooses history or session mode on the validation split
    (:func:`choose_mode`). Each step's errors say which step failed: the test split, tune's
    own validation split, the search, the final test run."""
    grid = grid or TuneGrid()
    with step(f"the test split ({split.describe()})"):
        split.apply(events)
    found = search(
        validation_folds(events, split, folds),
        base=base,
        grid=grid,
        dataset=dataset,
        mode=mode,
        target_actions=target_actions,
        session_items=session_items,
        threads=threads,
        progress=progress,
    )
    best, leaders = found.best, found.leaders
    log.info("tuned: %s (validation ndcg@10 %.4f)", best.config.label(), best.ndcg)
    final = final_candidates(best.config, leaders, grid, baselines=baselines)
    if current is not None:
        final.insert(1, Candidate(CURRENT, "dimrec", current))
    with step("tune's test run"):
        test = evaluate(
            events,
            split,
            final,
            dataset=dataset,
            mode=found.mode,
            target_actions=target_actions,
            session_items=session_items,
            ks=ks,
            threads=threads,
            progress=_reporter(progress, "test"),
        )
    test.notes.insert(0, f"{found.why} on validation")
    names = {s.name for s in test.systems}
    reference = "implicit BM25" if "implicit BM25" in names else None
    return TuneResult(found.trials, best.config, found.validation, test, reference)


#: A validation split and the events it splits (the training period before a cut-off).
Fold = tuple[Split, Interactions]

_VALIDATION = "tune's validation split (carved from the training period, before the test)"


def validation_folds(events: Interactions, split: Split, folds: int = 1) -> list[Fold]:
    """``folds`` validation splits carved from the training period of ``split``, each by the
    same rule from the one before: the first is the test's rule moved back once (time split:
    the cut-off moved back by the test's length, to the last day with events), the second
    moved back again, and so on."""
    if folds < 1:
        raise InvalidInputError(f"tune needs at least 1 validation fold (got {folds})")
    carved: list[Fold] = []
    rule, period = split, events
    for number in range(1, folds + 1):
        name = _VALIDATION if folds == 1 else f"{_VALIDATION}, fold {number} of {folds}"
        with step(name):
            rule, period = rule.validation(period)
            rule.apply(period)
        carved.append((rule, period))
    return carved


@dataclass(frozen=True)
class Search:
    """What the search on validation found."""

    trials: list[Trial]
    leaders: dict[str, Trial]
    """Each algorithm's best trial (and the best blend's, as ``"blend"``)."""
    best: Trial
    mode: Mode
    why: str
    validation: str


def search(
    folds: Sequence[Fold],
    *,
    base: Config,
    grid: TuneGrid,
    dataset: str = "events",
    mode: ModeChoice = "auto",
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
    threads: int = 0,
    progress: TuneProgress | None = None,
) -> Search:
    """The stages of the search (module docstring), every trial scored on every fold: its
    NDCG@10 is the mean of the folds' (each fold weighs the same)."""
    first_split, first_events = folds[0]
    with step(_VALIDATION):
        validation_data = first_split.apply(first_events)
        chosen_mode, why = choose_mode(
            validation_data, mode, target_actions=target_actions, session_items=session_items
        )
    described = "; ".join(rule.describe() for rule, _ in folds)
    log.info("tune: %s on validation (%s)", why, described)
    options: dict[str, Any] = {
        "dataset": f"{dataset} (validation)",
        "mode": chosen_mode,
        "target_actions": target_actions,
        "session_items": session_items,
        "ks": (TUNE_METRIC[1],),
        "threads": threads,
    }
    key = f"{TUNE_METRIC[0]}@{TUNE_METRIC[1]}"

    def run(stage: str, configs: list[Config]) -> list[Trial]:
        unique = list({c.key(): c for c in configs}.values())
        candidates = [Candidate(f"#{n}", "dimrec", c) for n, c in enumerate(unique)]
        scored: list[dict[str, SystemScore]] = []
        for number, (rule, period) in enumerate(folds, start=1):
            label = stage if len(folds) == 1 else f"{stage} (fold {number})"
            with step(_VALIDATION):
                result = evaluate(
                    period, rule, candidates, progress=_reporter(progress, label), **options
                )
            scored.append({s.name: s for s in result.systems})
        trials = []
        for candidate in candidates:
            if any(candidate.name not in fold for fold in scored):
                continue
            systems = [fold[candidate.name] for fold in scored]
            trials.append(
                Trial(
                    stage,
                    candidate.config,
                    float(np.mean([s.mean(*TUNE_METRIC) for s in systems])),
                    float(np.mean([s.mean("hr", TUNE_METRIC[1]) for s in systems])),
                    sum(s.fit_seconds for s in systems),
                    np.concatenate([s.values[key] for s in systems]),
                    tuple(s.mean(*TUNE_METRIC) for s in systems),
                )
            )
        return trials

    for name, values in shared_dimensions(grid, every=True):
        if len(values) == 1 and GRID_FIELDS[name] in grid.model_fields_set:
            base = with_setting(base, name, values[0])  # one value given: use it
    trials = run("algorithm", algorithm_configs(base, grid))
    if not trials:
        raise DataError(
            "tune: no configuration of the tuning grid could be evaluated on this data "
            "(see the notes above); widen the grid (--algorithms) or give more data"
        )
    leaders: dict[str, Trial] = {}
    for trial in trials:
        algorithm = trial.config.params.algorithm
        if algorithm not in leaders or trial.ndcg > leaders[algorithm].ndcg:
            leaders[algorithm] = trial
    for name, values in shared_dimensions(grid):
        configs = [with_setting(t.config, name, v) for t in leaders.values() for v in values]
        stage_trials = run(f"shared: {name}", configs)
        trials += stage_trials
        for trial in stage_trials:
            algorithm = trial.config.params.algorithm
            if trial.ndcg > leaders[algorithm].ndcg:
                leaders[algorithm] = trial
    blends = blend_configs(leaders, grid)
    if blends:
        stage_trials = run("blend", blends)
        trials += stage_trials
        if stage_trials:
            leaders["blend"] = max(stage_trials, key=lambda t: t.ndcg)
    best = max(leaders.values(), key=lambda t: t.ndcg)
    return Search(trials, leaders, best, chosen_mode, why, described)


def _reporter(progress: TuneProgress | None, stage: str) -> Callable[[int, int, str], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda done, total, _name: report(stage, done, total)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Re-raise a DataError or InvalidInputError inside with ``name`` in front: which step of
    tuning failed (the message already says what to do)."""
    try:
        yield
    except (DataError, InvalidInputError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def algorithm_configs(base: Config, grid: TuneGrid) -> list[Config]:
    configs = []
    for algorithm in grid.algorithms:
        if algorithm == "exact":
            configs += [_params(base, algorithm="exact", weighting=w) for w in grid.weighting]
        elif algorithm == "dimsum":
            configs += [
                _params(base, algorithm="dimsum", threshold=t, weighting=w)
                for t, w in itertools.product(grid.thresholds, grid.weighting)
            ]
        elif algorithm == "rp3beta":
            configs += [
                _params(base, algorithm="rp3beta", rp3_alpha=a, rp3_beta=b)
                for a, b in itertools.product(grid.rp3_alpha, grid.rp3_beta)
            ]
        elif algorithm == "ease":
            configs += [
                _params(base, algorithm="ease", ease_lambda=v, weighting=w)
                for v, w in itertools.product(grid.ease_lambda, grid.weighting)
            ]
        elif algorithm == "sequential":
            configs += [_params(base, algorithm="sequential", sr_steps=n) for n in grid.sr_steps]
    return configs


#: The leaders that stand for a blend component's algorithm (the blend's cosine computes
#: exact cosine wherever tuning can, so the exact or cosine leader stands for it).
_LEADERS: dict[str, tuple[str, ...]] = {"cosine": ("cosine", "exact")}


def blend_configs(leaders: dict[str, Trial], grid: TuneGrid) -> list[Config]:
    """Blends of the algorithms' leaders: each component with its leader's parameters, on
    the best leader's shared settings. Row-scaled: each weight from ``grid.blend_weights``
    (scaled so the largest is 1: a blend's ranking does not change with a common factor);
    max-scaled: the component of the best leader at 1, the others from
    ``grid.blend_max_weights``."""
    found = {
        name: next(
            (leaders[a] for a in _LEADERS.get(algorithm, (algorithm,)) if a in leaders), None
        )
        for name, algorithm in BLEND_COMPONENTS.items()
    }
    trials = {name: t for name, t in found.items() if t is not None}
    components = {name: t.config.params for name, t in trials.items()}
    if len(components) < 2:
        return []
    best = max(leaders.values(), key=lambda t: t.ndcg).config
    own: dict[str, object] = {}
    if "blend_ease" in components:
        ease = components["blend_ease"]
        own |= {"ease_lambda": ease.ease_lambda, "weighting": ease.weighting}
    if "blend_rp3beta" in components:
        rp3 = components["blend_rp3beta"]
        own |= {"rp3_alpha": rp3.rp3_alpha, "rp3_beta": rp3.rp3_beta}
    if "blend_sequential" in components:
        own["sr_steps"] = components["blend_sequential"].sr_steps
    seen: set[tuple[float, ...]] = set()
    configs = []
    for weights in itertools.product(grid.blend_weights, repeat=len(components)):
        top = max(weights)
        if top <= 0:
            continue
        scaled = tuple(w / top for w in weights)
        if scaled in seen:
            continue
        seen.add(scaled)
        named = dict(zip(components, scaled, strict=True))
        zeros = {name: 0.0 for name in BLEND_COMPONENTS if name not in named}
        configs.append(_params(best, algorithm="blend", blend_scale="row", **own, **named, **zeros))
    lead = max(trials, key=lambda name: trials[name].ndcg)
    others = [name for name in components if name != lead]
    for weights in itertools.product(grid.blend_max_weights, repeat=len(others)):
        if not any(w > 0 for w in weights):
            continue  # the lead alone: its leader, already scored
        named = {lead: 1.0, **dict(zip(others, weights, strict=True))}
        zeros = {name: 0.0 for name in BLEND_COMPONENTS if name not in named}
        configs.append(_params(best, algorithm="blend", blend_scale="max", **own, **named, **zeros))
    return configs


#: The TuneGrid field of each shared dimension.
GRID_FIELDS = {
    "weights": "weights",
    "window_days": "window_days",
    "user_filter": "user_filters",
    "top_k": "top_k",
    "half_life_days": "half_life_days",
}


def shared_dimensions(grid: TuneGrid, *, every: bool = False) -> list[tuple[str, Sequence[object]]]:
    """The shared settings to search (those with two or more values; all with ``every``)."""
    dims: list[tuple[str, Sequence[object]]] = [
        ("weights", grid.weights),
        ("window_days", grid.window_days),
        ("user_filter", grid.user_filters),
        ("top_k", grid.top_k),
        ("half_life_days", grid.half_life_days),
    ]
    return [(name, values) for name, values in dims if every or len(values) > 1]


def with_setting(config: Config, name: str, value: object) -> Config:
    if name == "weights":
        assert isinstance(value, dict)
        return _params(config, weights=dict(value))
    if name == "top_k":
        return _params(config, top_k=int(str(value)))
    if name == "user_filter":
        assert isinstance(value, tuple | list)
        return _params(config, min_items=int(value[0]), max_items=int(value[1]))
    if name == "window_days":
        return replace(config, window_days=None if value is None else int(str(value)))
    if name == "half_life_days":
        return _params(config, half_life_days=None if value is None else float(str(value)))
    raise ValueError(f"unknown tuning dimension {name!r}")


def _params(config: Config, **changes: object) -> Config:
    values = config.params.model_dump()
    values.update(changes)
    return replace(config, params=TrainParams.model_validate(values))


def final_candidates(
    best: Config, leaders: dict[str, Trial], grid: TuneGrid, *, baselines: bool
) -> list[Candidate]:
    """The chosen configuration; each algorithm at its best on validation; plain cosine
    and the comparison DIMSUM thresholds on the cosine leader's settings; popularity and
    the baselines on the chosen configuration's matrix."""
    candidates = [Candidate(TUNED, "dimrec", best)]
    names = {
        "exact": "cosine exact",
        "dimsum": "dimsum (tuned)",
        "rp3beta": "rp3beta",
        "ease": "ease",
        "sequential": "sequential rules",
        "blend": "blend",
    }
    for algorithm, name in names.items():
        if algorithm in leaders:
            candidates.append(Candidate(name, "dimrec", leaders[algorithm].config))
    cosine = [leaders[a].config for a in ("exact", "dimsum") if a in leaders]
    reference = cosine[0] if cosine else best
    if reference.params.weighting != "none":
        plain = _params(reference, algorithm="exact", weighting="none")
        candidates.append(Candidate("cosine exact, no weighting", "dimrec", plain))
    for threshold in grid.comparison_thresholds:
        dimsum = _params(reference, algorithm="dimsum", threshold=threshold)
        candidates.append(Candidate(f"dimsum {threshold:g}", "dimrec", dimsum))
    shared = _params(best, algorithm="exact", weighting="none")
    candidates.append(Candidate("popularity", "popularity", shared))
    if baselines:
        candidates.append(Candidate("implicit cosine", "implicit-cosine", shared))
        candidates.append(Candidate("implicit BM25", "implicit-bm25", shared))
    return candidates


def tuned_config(result: TuneResult, *, run: str, report: str) -> TunedConfig:
    """The choice of ``result`` as a :class:`~dimrec.tuned.TunedConfig` named ``run``."""
    test = result.test
    tuned = test.system(TUNED)
    scores = {
        "validation_ndcg@10": result.best_trial().ndcg,
        "test_ndcg@10": tuned.mean("ndcg", 10) if 10 in test.ks else float("nan"),
    }
    if result.reference is not None and 10 in test.ks:
        diff = test.difference(TUNED, result.reference)
        scores |= {"test_diff_low": diff.low, "test_diff_high": diff.high}
    return config_of(
        result.best.params,
        run=run,
        report=report,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        dataset=test.dataset,
        validation=result.validation,
        mode=test.mode,
        window_days=result.best.window_days,
        sim_cap=result.best.params.top_k,
        scores=scores,
    )


def fragment_comments(result: TuneResult, config: TunedConfig) -> list[str]:
    """How the choice scored, and how to use the fragment, as comment lines."""
    test = result.test
    lines = [
        f"Chosen by `dimrec tune` ({config.run}) on {test.dataset}: NDCG@10 on validation "
        f"{result.best_trial().ndcg:.4f} ({result.validation}, {test.mode} mode),",
        f"on the test {config.scores['test_ndcg@10']:.4f} ({test.split}, {test.shoppers} "
        "shoppers).",
    ]
    if result.reference is not None and 10 in test.ks:
        diff = test.difference(TUNED, result.reference)
        lines.append(
            f"Against {result.reference}: NDCG@10 difference {diff} (95% paired bootstrap)."
        )
    lines += [
        f"Apply it without editing anything: `dimrec tuned --apply {config.run}`; or layer this",
        "file over your settings: `dimrec -c dimrec.toml -c dimrec.tuned.toml train`.",
    ]
    return lines


def load_grid(path: str | Path, **overrides: object) -> TuneGrid:
    """A grid from a TOML file (keys of :class:`TuneGrid`), with ``overrides`` (None values
    ignored); ConfigError names a bad key or value."""
    values: dict[str, object] = {}
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"tuning grid file {file} does not exist")
        try:
            values = tomllib.loads(file.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"tuning grid {file} is not valid TOML: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TuneGrid.model_validate(values)
    except ValidationError as exc:
        problems = describe_validation(exc)
        raise ConfigError(f"invalid tuning grid ({path or 'options'}): {problems}") from None
