"""Offline recommendation quality of dimrec against its baselines (not a test).

    .venv/bin/python bench/evaluate_quality.py                      # every data set
    .venv/bin/python bench/evaluate_quality.py --datasets online-retail,ml-100k-user

For each data set it runs ``dimrec tune`` (``dimrec.evaluate.flow.tune``): the grid (below; it
includes keeping 100 or 300 neighbours per item, the store's sim_cap following) is searched
by NDCG@10 on a validation split carved from the training period by the same rule, the
choice is retrained on the whole training period and evaluated once on the test, beside the
best of each algorithm (cosine exact, rp3beta, ease), DIMSUM at 0.1 and 0.5, popularity, and
implicit's CosineRecommender and BM25Recommender on the same matrix. Then two ablations on
the test, each a paired comparison on the same shoppers:

- matrix weighting: none vs bm25 vs tfidf, for exact cosine and for ease (its tuned λ), on
  the tuned shared settings;
- time decay: the tuned configuration with each half-life against none.

Every difference is printed with its 95% paired-bootstrap interval (2,000 resamples of
shoppers). Reports (HTML + JSON) and the chosen ``dimrec.tuned.toml`` go under
``--out/<data set>/``; the tables print as Markdown.

Data sets (``../shared/data``): UCI Online Retail (purchases; user = CustomerID, item =
StockCode; cancellations, Quantity ≤ 0 and rows without a customer dropped; cut-off at 80%
of the date range), MovieLens 100k (ratings ≥ 4; per-user last 20% by time, and a time
split at 80%), MovieLens latest-small (ratings ≥ 4, time split at 80%), the GA360 sample
(5 sessions a day: session mode, any action a target — far too small, reported as noise) and
a synthetic shop (``dimrec.synth``: GA360 files → ``dimrec export`` → the same evaluation).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

from dimrec import pipeline  # noqa: E402
from dimrec.config import load_settings  # noqa: E402
from dimrec.evaluate import flow  # noqa: E402
from dimrec.evaluate.datasets import DataSpec  # noqa: E402
from dimrec.evaluate.fit import Config  # noqa: E402
from dimrec.evaluate.runner import Candidate, Evaluation, evaluate  # noqa: E402
from dimrec.evaluate.split import SplitSpec  # noqa: E402
from dimrec.evaluate.tune import TuneGrid, TuneResult  # noqa: E402

MOVIELENS_GRID = TuneGrid(
    rp3_alpha=[0.5, 0.75, 1.0],
    rp3_beta=[0.25, 0.5, 0.75],
    ease_lambda=[1000.0, 5000.0, 20000.0],
    weights=[{"browse": 0.5, "basket": 2.0, "purchase": 6.0}],
    user_filters=[(2, 100), (2, 1000)],
    top_k=[100, 300],
    half_life_days=[None, 30.0, 90.0],
)
SHOP_GRID = TuneGrid(
    rp3_alpha=[0.5, 0.75, 1.0],
    rp3_beta=[0.25, 0.5, 0.75],
    ease_lambda=[1000.0, 5000.0, 20000.0, 50000.0, 100000.0],
    weights=[
        {"browse": 0.5, "basket": 2.0, "purchase": 6.0},
        {"browse": 1.0, "basket": 1.0, "purchase": 1.0},
        {"browse": 1.0, "basket": 4.0, "purchase": 8.0},
    ],
    user_filters=[(2, 100), (2, 1000)],
    top_k=[100, 300],
    half_life_days=[None, 7.0, 14.0, 30.0, 90.0],
)

DATASETS: dict[str, dict[str, Any]] = {
    "online-retail": {
        "data": DataSpec("online-retail", str(DATA)),
        "split": SplitSpec(cutoff_fraction=0.8),
        "grid": SHOP_GRID.model_copy(
            update={"weights": [{"browse": 0.5, "basket": 2.0, "purchase": 6.0}]}
        ),
        "targets": ("purchase",),
    },
    "ml-100k-user": {
        "data": DataSpec("movielens-100k", str(DATA)),
        "split": SplitSpec(per_user_fraction=0.2),
        "grid": MOVIELENS_GRID,
        "targets": ("purchase",),
    },
    "ml-100k-time": {
        "data": DataSpec("movielens-100k", str(DATA)),
        "split": SplitSpec(cutoff_fraction=0.8),
        "grid": MOVIELENS_GRID,
        "targets": ("purchase",),
    },
    "ml-small-time": {
        "data": DataSpec("movielens-small", str(DATA)),
        "split": SplitSpec(cutoff_fraction=0.8),
        "grid": MOVIELENS_GRID.model_copy(update={"ease_lambda": [5000.0, 20000.0]}),
        "targets": ("purchase",),
    },
    "ga360-sample": {
        "data": DataSpec("ga360-sample", str(DATA)),
        "split": SplitSpec(cutoff_fraction=0.8),
        "grid": TuneGrid(
            rp3_beta=[0.0, 0.5],
            rp3_alpha=[1.0],
            ease_lambda=[10.0, 100.0],
            weights=[{"browse": 0.5, "basket": 2.0, "purchase": 6.0}],
            user_filters=[(2, 100)],
        ),
        "targets": ("browse", "basket", "purchase"),
        "mode": "session",
    },
    "synthetic": {
        "synthetic": True,
        "split": SplitSpec(test_days=3),
        "grid": SHOP_GRID.model_copy(
            update={"window_days": [None, 7, 14], "half_life_days": [None, 7.0, 30.0]}
        ),
        "targets": ("basket", "purchase"),
    },
}
SYNTH_SHOP = {"days": 28, "sessions_per_day": 4000, "n_items": 1500, "n_users": 12000}


def synthetic_settings(root: Path) -> Any:
    """Generate a synthetic shop and export it; settings pointing at its events."""
    from dimrec.synth import SKU_REGEX, generate

    start = dt.date(2026, 1, 1)
    out = root / "synth"
    generate(str(out), start=start, formats=("ga360",), **SYNTH_SHOP)
    settings = load_settings(
        paths={"data": str(root / "var")},
        export={"source": "ga360", "input": str(out / "ga360"), "sku_regex": SKU_REGEX},
    )
    days = [start + dt.timedelta(days=d) for d in range(SYNTH_SHOP["days"])]
    pipeline.export_days(settings, days).raise_for_missing()
    return settings


def run_dataset(name: str, spec: dict[str, Any], out: Path, work: Path) -> dict[str, Any]:
    if spec.get("synthetic"):
        settings = synthetic_settings(work)
        data = DataSpec()
    else:
        settings = load_settings(paths={"data": str(work / "var")})
        data = spec["data"]
    folder = out / name
    started = time.perf_counter()
    summary = flow.tune(
        settings,
        data=data,
        split=spec["split"],
        grid=spec["grid"],
        mode=spec.get("mode", "history"),
        target_actions=spec["targets"],
        report_to=str(folder),
    )
    result = summary.result
    events = data.load(settings.paths.events_url())
    ablations = run_ablations(events, spec, result)
    seconds = time.perf_counter() - started
    record = {
        "dataset": name,
        "seconds": round(seconds, 1),
        "validation": result.validation,
        "chosen": result.best.label(),
        "trials": len(result.trials),
        "test": table_rows(result.test, result.reference),
        "ablations": {k: table_rows(v, ref) for k, (v, ref) in ablations.items()},
        "notes": result.test.notes,
        "shoppers": result.test.shoppers,
        "split": result.test.split,
        "fragment": summary.fragment,
    }
    print_markdown(record)
    return record


def run_ablations(
    events: Any, spec: dict[str, Any], result: TuneResult
) -> dict[str, tuple[Evaluation, str]]:
    """Weighting and time decay, each against its plain version, on the test."""
    best = result.best
    ease_lambda = next(
        (s.config.params.ease_lambda for s in result.test.systems if s.name == "ease"),
        best.params.ease_lambda,
    )
    plain = dataclasses.replace(
        best, params=best.params.model_copy(update={"half_life_days": None})
    )
    options = {
        "dataset": "ablation",
        "mode": spec.get("mode", "history"),
        "target_actions": spec["targets"],
        "ks": (10,),
    }
    split = spec["split"].make(events)
    out: dict[str, tuple[Evaluation, str]] = {}
    for algorithm, lam in (("exact", best.params.ease_lambda), ("ease", ease_lambda)):
        weighted = [
            Candidate(
                f"{algorithm}, {w}",
                "dimrec",
                Config(
                    best.params.model_copy(
                        update={"algorithm": algorithm, "weighting": w, "ease_lambda": lam}
                    ),
                    best.window_days,
                ),
            )
            for w in ("none", "bm25", "tfidf")
        ]
        out[f"weighting of {algorithm}"] = (
            evaluate(events, split, weighted, **options),
            f"{algorithm}, none",
        )
    half_lives = [h for h in spec["grid"].half_life_days if h is not None]
    if half_lives:
        decayed = [Candidate("no decay", "dimrec", plain)] + [
            Candidate(
                f"half-life {h:g} d",
                "dimrec",
                dataclasses.replace(
                    plain, params=plain.params.model_copy(update={"half_life_days": h})
                ),
            )
            for h in half_lives
        ]
        out["time decay"] = (evaluate(events, split, decayed, **options), "no decay")
    return out


def table_rows(ev: Evaluation, reference: str | None) -> list[dict[str, Any]]:
    rows = []
    for s in ev.systems:
        row: dict[str, Any] = {
            "system": s.name,
            "config": s.config.label() if s.kind != "popularity" else "",
            "hr@10": s.mean("hr", 10),
            "ndcg@10": s.mean("ndcg", 10),
            "coverage@10": s.coverage[10],
            "fallback": s.fallback_share,
            "fit_seconds": s.fit_seconds,
        }
        if reference is not None and s.name != reference:
            d = ev.difference(s.name, reference)
            row["diff"] = {"reference": reference, "mean": d.mean, "low": d.low, "high": d.high}
        rows.append(row)
    return rows


def print_markdown(record: dict[str, Any]) -> None:
    print(f"\n### {record['dataset']}\n")
    print(
        f"{record['split']}; {record['shoppers']} test shoppers; chosen on validation "
        f"({record['validation']}, {record['trials']} trials): `{record['chosen']}`; "
        f"{record['seconds']} s in all.\n"
    )
    for note in record["notes"]:
        print(f"> {note}\n")
    print_rows(record["test"])
    for name, rows in record["ablations"].items():
        print(f"\nAblation — {name}:\n")
        print_rows(rows)
    sys.stdout.flush()


def print_rows(rows: list[dict[str, Any]]) -> None:
    reference = next((r["diff"]["reference"] for r in rows if "diff" in r), None)
    head = "| system | HR@10 | NDCG@10 | coverage@10 | fallback | fit s |"
    if reference:
        head += f" Δ NDCG@10 vs {reference} [95% CI] |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['system']} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | "
            f"{r['coverage@10']:.3f} | {r['fallback']:.1%} | {r['fit_seconds']:.2f} |"
        )
        if reference:
            d = r.get("diff")
            line += (
                " reference |"
                if d is None
                else (
                    f" {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
                    f"{' **>0**' if d['low'] > 0 else ''} |"
                )
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "evaluate"))
    parser.add_argument("--json", default=None, help="Also write all results to this file.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {', '.join(DATASETS)}")
    if not DATA.is_dir():
        parser.error(f"the real data folder {DATA} is absent")
    out = Path(args.out)
    records = []
    with tempfile.TemporaryDirectory(prefix="dimrec-evalbench-") as work:
        for name in names:
            records.append(run_dataset(name, DATASETS[name], out, Path(work) / name))
    path = Path(args.json) if args.json else out / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2, default=str) + "\n", "utf-8")
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
