"""Reports of an evaluation: a Rich table for the terminal, a JSON summary, and a
self-contained HTML page with inline SVG plots (metric vs k; metric and training time vs
the DIMSUM threshold; differences with their intervals; the tuning grid).
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup
from rich.table import Table

from dimrec.evaluate import svg
from dimrec.evaluate.metrics import METRICS, Difference
from dimrec.evaluate.runner import Evaluation, SystemScore
from dimrec.evaluate.tune import TuneResult
from dimrec.fsio import atomic_write_bytes, join, url_to_fs

TITLES = {"hr": "HR", "precision": "P", "recall": "R", "ndcg": "NDCG", "map": "MAP"}


def default_reference(evaluation: Evaluation) -> str | None:
    """The system differences are measured against: implicit BM25, else popularity."""
    names = [s.name for s in evaluation.systems]
    for name in ("implicit BM25", "popularity"):
        if name in names:
            return name
    return None


def differences(
    evaluation: Evaluation, reference: str | None, metric: str = "ndcg", k: int = 10
) -> dict[str, Difference]:
    """Each system's difference from ``reference`` with its 95% paired-bootstrap interval."""
    if reference is None or k not in evaluation.ks:
        return {}
    return {
        s.name: evaluation.difference(s.name, reference, metric, k)
        for s in evaluation.systems
        if s.name != reference
    }


def rich_table(evaluation: Evaluation, *, reference: str | None = None, k: int = 10) -> Table:
    """Metrics at ``k`` (the middle k when absent), coverage, fallback, fit time, and the
    NDCG difference from ``reference`` with its interval."""
    k = k if k in evaluation.ks else evaluation.ks[len(evaluation.ks) // 2]
    diffs = differences(evaluation, reference, "ndcg", k)
    table = Table(
        title=f"{evaluation.dataset}: {evaluation.split}, {evaluation.shoppers} shoppers, "
        f"{evaluation.catalogue} items",
        caption=" · ".join(evaluation.notes) or None,
    )
    table.add_column("system")
    for metric in METRICS:
        table.add_column(f"{TITLES[metric]}@{k}", justify="right")
    table.add_column(f"cov@{k}", justify="right")
    table.add_column("fallback", justify="right")
    table.add_column("fit s", justify="right")
    if diffs:
        table.add_column(f"Δ NDCG@{k} vs {reference} [95% CI]", justify="right")
    for s in evaluation.systems:
        row = [s.name, *(f"{s.mean(m, k):.4f}" for m in METRICS)]
        row += [f"{s.coverage[k]:.3f}", f"{s.fallback_share:.1%}", f"{s.fit_seconds:.2f}"]
        if diffs:
            d = diffs.get(s.name)
            row.append("—" if d is None else _styled(d))
        table.add_row(*row)
    return table


def _styled(d: Difference) -> str:
    colour = "green" if d.low > 0 else "red" if d.high < 0 else "default"
    return f"[{colour}]{d}[/]"


def summary(evaluation: Evaluation, *, reference: str | None = None) -> dict[str, Any]:
    """Everything measured, as plain JSON-ready values."""
    reference = reference if reference is not None else default_reference(evaluation)
    return {
        "dataset": evaluation.dataset,
        "split": evaluation.split,
        "mode": evaluation.mode,
        "shoppers": evaluation.shoppers,
        "catalogue": evaluation.catalogue,
        "ks": list(evaluation.ks),
        "notes": evaluation.notes,
        "reference": reference,
        "systems": [_system_summary(evaluation, s, reference) for s in evaluation.systems],
    }


def _system_summary(
    evaluation: Evaluation, s: SystemScore, reference: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": s.name,
        "kind": s.kind,
        "config": s.config.label(),
        "params": s.config.params.model_dump(),
        "window_days": s.config.window_days,
        "metrics": {key: float(values.mean()) for key, values in sorted(s.values.items())},
        "coverage": {str(k): v for k, v in s.coverage.items()},
        "fallback_share": s.fallback_share,
        "fit_seconds": s.fit_seconds,
        "pairs": s.pairs,
    }
    if reference is not None and s.name != reference:
        out["differences"] = {
            f"{metric}@{k}": _diff_dict(evaluation.difference(s.name, reference, metric, k))
            for metric in ("ndcg", "hr")
            for k in evaluation.ks
        }
    return out


def _diff_dict(d: Difference) -> dict[str, float]:
    return {"mean": d.mean, "low": d.low, "high": d.high, "level": d.level}


def tuning_summary(result: TuneResult) -> dict[str, Any]:
    return {
        "validation": result.validation,
        "best": result.best.label(),
        "trials": [
            {
                "stage": t.stage,
                "config": t.config.label(),
                "ndcg@10": t.ndcg,
                "hr@10": t.hr,
                "fit_seconds": t.fit_seconds,
            }
            for t in result.trials
        ],
        "test": summary(result.test, reference=result.reference),
    }


def plots(evaluation: Evaluation, reference: str | None) -> list[str]:
    """The evaluation's SVG charts."""
    charts = []
    for metric in ("ndcg", "hr"):
        series = {
            s.name: [(float(k), s.mean(metric, k)) for k in evaluation.ks]
            for s in evaluation.systems
        }
        if len(evaluation.ks) > 1:
            charts.append(
                svg.line_chart(
                    series,
                    title=f"{TITLES[metric]}@k",
                    x_label="k",
                    y_label=f"{TITLES[metric]}@k",
                )
            )
    k = 10 if 10 in evaluation.ks else evaluation.ks[len(evaluation.ks) // 2]
    sweep = [
        s
        for s in evaluation.systems
        if s.kind == "dimrec" and s.config.params.algorithm in ("exact", "dimsum")
    ]
    quality: dict[str, dict[float, float]] = {}
    seconds: dict[str, dict[float, float]] = {}
    for s in sweep:
        line = f"cosine, {s.config.params.weighting} weighting"
        quality.setdefault(line, {}).setdefault(_threshold(s), s.mean("ndcg", k))
        seconds.setdefault(line, {}).setdefault(_threshold(s), s.fit_seconds)
    if any(len(points) > 1 for points in quality.values()):
        charts.append(
            svg.line_chart(
                {name: sorted(points.items()) for name, points in quality.items()},
                title=f"NDCG@{k} vs DIMSUM threshold (0 = exact)",
                x_label="threshold",
                y_label=f"NDCG@{k}",
                width=460,
            )
            + svg.line_chart(
                {name: sorted(points.items()) for name, points in seconds.items()},
                title="training time vs threshold",
                x_label="threshold",
                y_label="seconds",
                width=460,
            )
        )
    diffs = differences(evaluation, reference, "ndcg", k)
    if diffs:
        names = list(diffs)
        charts.append(
            svg.interval_chart(
                names,
                [diffs[n].mean for n in names],
                [diffs[n].low for n in names],
                [diffs[n].high for n in names],
                title=f"NDCG@{k} minus {reference}, 95% paired-bootstrap intervals",
                value_label=f"difference in NDCG@{k}",
            )
        )
    return charts


def _threshold(s: SystemScore) -> float:
    return 0.0 if s.config.params.algorithm == "exact" else s.config.params.threshold


def tuning_plot(result: TuneResult) -> str:
    trials = sorted(result.trials, key=lambda t: -t.ndcg)
    best = result.best_trial()
    labels = [f"{t.stage}: {t.config.label()}" for t in trials]
    return svg.bar_chart(
        labels,
        [t.ndcg for t in trials],
        title="tuning grid: validation NDCG@10 of every trial",
        value_label="validation NDCG@10",
        highlight=trials.index(best),
    )


def render_html(
    evaluation: Evaluation,
    *,
    reference: str | None = None,
    tuning: TuneResult | None = None,
    title: str = "dimrec evaluation",
) -> str:
    """A self-contained HTML report (styles and SVG inline)."""
    reference = reference if reference is not None else default_reference(evaluation)
    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        resources.files("dimrec.evaluate").joinpath("report.html.j2").read_text("utf-8")
    )
    k_main = 10 if 10 in evaluation.ks else evaluation.ks[len(evaluation.ks) // 2]
    diffs = differences(evaluation, reference, "ndcg", k_main)
    return template.render(
        title=title,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ev=evaluation,
        metrics=METRICS,
        titles=TITLES,
        k_main=k_main,
        reference=reference,
        diffs=diffs,
        charts=[Markup(c) for c in plots(evaluation, reference)],
        tuning=tuning,
        tuning_chart=Markup(tuning_plot(tuning)) if tuning else "",
    )


def write_report(folder_url: str, html: str, data: dict[str, Any]) -> str:
    """Write ``report.html`` and ``report.json`` into ``folder_url``; returns the HTML's URL."""
    fs, root = url_to_fs(folder_url)
    atomic_write_bytes(fs, join(root, "report.json"), _json(data))
    atomic_write_bytes(fs, join(root, "report.html"), html.encode("utf-8"))
    return join(folder_url, "report.html")


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
