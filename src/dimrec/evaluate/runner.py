"""Running an evaluation: split, build every system in memory, score the test shoppers
through the serving rule, and measure.

Every system is scored on the same shoppers and targets, so per-shopper values pair up and
differences get paired-bootstrap intervals (:meth:`Evaluation.difference`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from dimrec.errors import InvalidInputError
from dimrec.evaluate.fit import (
    Config,
    Kind,
    WindowMatrix,
    build,
    implicit_available,
    window_matrix,
)
from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.metrics import (
    DEFAULT_KS,
    Difference,
    FloatArray,
    coverage,
    paired_bootstrap,
    per_shopper,
    relevance,
)
from dimrec.evaluate.scoring import cap_lists, recommend
from dimrec.evaluate.split import Split, SplitData
from dimrec.evaluate.task import Mode, ModeChoice, SessionQuery, Task, build_task, choose_mode
from dimrec.logs import log_context
from dimrec.train.local.ease import check_catalogue

log = logging.getLogger(__name__)

#: Called as progress(done, total, name) after each system.
EvalProgress = Callable[[int, int, str], None]


class SkippedSystem(Exception):
    """A system that cannot run on this data (e.g. ease on a catalogue above its limit): the
    evaluation notes it and goes on with the others."""


@dataclass(frozen=True)
class Candidate:
    """One system to evaluate."""

    name: str
    kind: Kind = "dimrec"
    config: Config = field(default_factory=Config)


@dataclass(frozen=True)
class SystemScore:
    name: str
    kind: Kind
    config: Config
    values: dict[str, FloatArray]
    """Per-shopper values by ``"metric@k"`` (e.g. ``"ndcg@10"``)."""
    coverage: dict[int, float]
    fallback_share: float
    fit_seconds: float
    pairs: int

    def mean(self, metric: str, k: int) -> float:
        return float(self.values[f"{metric}@{k}"].mean())


@dataclass(frozen=True)
class Evaluation:
    dataset: str
    split: str
    mode: Mode
    shoppers: int
    catalogue: int
    ks: tuple[int, ...]
    systems: list[SystemScore]
    notes: list[str] = field(default_factory=list)

    def system(self, name: str) -> SystemScore:
        for s in self.systems:
            if s.name == name:
                return s
        raise KeyError(f"no system named {name!r} in this evaluation")

    def difference(
        self, a: str, b: str, metric: str = "ndcg", k: int = 10, *, seed: int = 0
    ) -> Difference:
        """Mean of ``a − b`` over shoppers with its 95% paired-bootstrap interval."""
        key = f"{metric}@{k}"
        return paired_bootstrap(self.system(a).values[key], self.system(b).values[key], seed=seed)


def evaluate(
    events: Interactions,
    split: Split,
    candidates: Sequence[Candidate],
    *,
    dataset: str = "events",
    ks: Sequence[int] = DEFAULT_KS,
    mode: ModeChoice = "history",
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
    list_cap: int | None = None,
    threads: int = 0,
    progress: EvalProgress | None = None,
) -> Evaluation:
    """Evaluate each candidate on ``split`` of ``events``.

    ``list_cap`` is the store's ``sim_cap``: the server reads at most that many neighbours
    of each item, so scoring does too (None: the whole top-K lists)."""
    if not candidates:
        raise InvalidInputError("nothing to evaluate: no candidate systems given")
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise InvalidInputError(f"k values must be at least 1 (got {list(ks)})")
    data = split.apply(events)
    chosen, why = choose_mode(
        data, mode, target_actions=target_actions, session_items=session_items
    )
    task = build_task(data, mode=chosen, target_actions=target_actions, session_items=session_items)
    catalogue = catalogue_size(data)
    log.info(
        "evaluating %d system(s) on %d shoppers, %d items (%s)",
        len(candidates),
        len(task),
        catalogue,
        data.description,
    )
    notes: list[str] = [why] if mode == "auto" else []
    systems: list[SystemScore] = []
    cache: dict[tuple[object, ...], WindowMatrix] = {}
    with log_context(dataset=dataset):
        for number, candidate in enumerate(candidates, start=1):
            if candidate.kind.startswith("implicit") and not implicit_available():
                notes.append(f"{candidate.name}: skipped, the implicit package is not installed")
            else:
                try:
                    systems.append(
                        score_system(
                            candidate,
                            data,
                            task,
                            ks,
                            catalogue,
                            cache=cache,
                            list_cap=list_cap,
                            threads=threads,
                        )
                    )
                except SkippedSystem as skipped:
                    notes.append(f"{candidate.name}: skipped, {skipped}")
            if progress is not None:
                progress(number, len(candidates), candidate.name)
    if len(task) < 1000:
        notes.append(
            f"only {len(task)} test shoppers: differences smaller than their intervals are noise"
        )
    return Evaluation(dataset, data.description, chosen, len(task), catalogue, ks, systems, notes)


def catalogue_size(data: SplitData) -> int:
    """Items with any event in the history: the denominator of coverage."""
    return int(np.unique(data.history.item).size)


def score_system(
    candidate: Candidate,
    data: SplitData,
    task: Task,
    ks: tuple[int, ...],
    catalogue: int,
    *,
    cache: dict[tuple[object, ...], WindowMatrix] | None = None,
    list_cap: int | None = None,
    threads: int = 0,
) -> SystemScore:
    """Build one candidate on the split's window and measure it on the task."""
    config = candidate.config
    key = config.matrix_key()
    window = data.window(config.window_days)
    wm = cache.get(key) if cache is not None else None
    if wm is None:
        wm = window_matrix(window, config, as_of_day=data.as_of_day)
        if cache is not None:
            cache[key] = wm
    if candidate.kind == "dimrec" and config.params.algorithm == "ease":
        try:
            check_catalogue(wm.matrix.shape[1], config.params.ease_max_items)
        except InvalidInputError as exc:
            raise SkippedSystem(str(exc)) from None
    built = build(candidate.kind, config, wm, threads=threads)
    queries, inputs = task.queries(window, config.params.weights)
    k_max = max(ks)
    similarity = built.similarity
    if similarity is None:  # no neighbour lists: everyone gets the fallback
        similarity = sp.csr_matrix((queries.shape[1], queries.shape[1]))
    elif list_cap is not None:
        similarity = cap_lists(similarity, list_cap)
    recs = recommend(queries, similarity, built.popular, k_max, inputs=inputs)
    rel = relevance(recs.ranked, task.targets)
    n_targets = np.diff(task.targets.indptr)
    values: dict[str, FloatArray] = {}
    for k in ks:
        for metric, per in per_shopper(rel, n_targets, k).items():
            values[f"{metric}@{k}"] = per
    score = SystemScore(
        name=candidate.name,
        kind=candidate.kind,
        config=config,
        values=values,
        coverage={k: coverage(recs.ranked, k, catalogue) for k in ks},
        fallback_share=float(recs.fallback.mean()),
        fit_seconds=built.fit_seconds,
        pairs=built.pairs,
    )
    log.info(
        "%s: ndcg@%d %.4f, hr@%d %.4f, fit %.2fs",
        candidate.name,
        ks[len(ks) // 2],
        score.mean("ndcg", ks[len(ks) // 2]),
        ks[len(ks) // 2],
        score.mean("hr", ks[len(ks) // 2]),
        built.fit_seconds,
    )
    return score
