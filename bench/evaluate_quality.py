"""Offline recommendation quality of dimrec against tuned EASE^R and RP3beta (not a test).

    .venv/bin/python bench/evaluate_quality.py                   # every data set, ≈ 20 min here
    .venv/bin/python bench/evaluate_quality.py --quick           # small slices, ≈ 3 min
    .venv/bin/python bench/evaluate_quality.py --datasets ml-100k,online-retail
    .venv/bin/python bench/evaluate_quality.py --defaults-only   # choose the defaults

Protocol, per data set (``DATASETS``):

1. ``dimrec tune`` (:func:`dimrec.evaluate.flow.tune`) with its default grid — the same on
   every data set, nothing chosen per set — searches on a **validation split carved from
   the training period by the same rule as the test** (time split: the cut-off moved back by
   the test's length, to the last day with events; per-user split: each user's last 20% of
   their training events): each algorithm over its own grid (EASE^R λ × matrix weighting,
   RP3beta α × β, cosine × weighting, sequential rules' steps), then the shared settings
   (action weights, user filter, time decay) per algorithm, then blends of the leaders.
   The choice ("dimrec tuned") and each algorithm's leader are trained on the whole training
   period and scored **once** on the test.
2. The peers are the tune's own EASE^R and RP3beta leaders: tuned on the same validation
   split over their usual grids and the shared settings. The better of the two *on the test*
   (which favours the peers) is the reference: "dimrec tuned − best peer" with its
   paired-bootstrap 95% interval (2,000 resamples of test shoppers or sessions).
3. dimrec's defaults as shipped (``TrainParams()``: what ``dimrec train`` and the daily
   chain run before any tune) against implicit's BM25Recommender on the same (default)
   matrix, on the same test.

``--defaults-only`` scores candidate default configurations (algorithms that train on any
catalogue size: no EASE, whose dense inverse is bounded by ``ease_max_items``) on each
data set's **validation** split only — never the test — and prints each one's NDCG@10
relative to the best candidate of the set: the defaults in ``dimrec.params`` are the
candidate with the best mean among those at or above implicit BM25 on every set.

Data sets (``../shared/data``): UCI Online Retail (purchases, customer × stock code; time
split at 80% of the date range; history mode), MovieLens 100k (ratings ≥ 4; each user's
last 20% by time; history mode), the GA360 sample (5 sessions a day; time split at 80%;
session mode: each test session's first half asks for the rest, any action a target) and a
synthetic shop (``dimrec.synth``: GA360 files → ``dimrec export``; last 3 days; session
mode). Reports (HTML + JSON) and each run's choice go under ``--out/<data set>/``; the
tables print as Markdown and all figures go to ``--out/results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

from dimrec import pipeline  # noqa: E402
from dimrec.config import Settings, load_settings  # noqa: E402
from dimrec.evaluate import flow  # noqa: E402
from dimrec.evaluate.datasets import DataSpec  # noqa: E402
from dimrec.evaluate.fit import Config  # noqa: E402
from dimrec.evaluate.interactions import Interactions  # noqa: E402
from dimrec.evaluate.runner import Candidate, Evaluation, evaluate  # noqa: E402
from dimrec.evaluate.split import SplitSpec  # noqa: E402
from dimrec.params import TrainParams  # noqa: E402

PEERS = ("ease", "rp3beta")

DATASETS: dict[str, dict[str, Any]] = {
    "online-retail": {
        "data": DataSpec("online-retail", str(DATA)),
        "split": SplitSpec(cutoff_fraction=0.8),
        "mode": "history",
        "targets": ("purchase",),
        "quick": DataSpec(
            "online-retail", str(DATA), first=dt.date(2011, 6, 1), last=dt.date(2011, 9, 30)
        ),
    },
    "ml-100k": {
        "data": DataSpec("movielens-100k", str(DATA)),
        "split": SplitSpec(per_user_fraction=0.2),
        "mode": "history",
        "targets": ("purchase",),
    },
    "ga360-sample": {
        "data": DataSpec("ga360-sample", str(DATA)),
        "split": SplitSpec(cutoff_fraction=0.8),
        "mode": "session",
        "targets": None,
    },
    "synthetic": {
        "synthetic": True,
        "split": SplitSpec(test_days=3),
        "mode": "session",
        "targets": None,
    },
}
SYNTH_SHOP = {"days": 28, "sessions_per_day": 4000, "n_items": 1500, "n_users": 12000}
SYNTH_QUICK = {"days": 10, "sessions_per_day": 1000, "n_items": 400, "n_users": 3000}

#: Candidate defaults (``--defaults-only``): each trains on any catalogue size.
DEFAULT_CANDIDATES: dict[str, dict[str, Any]] = {
    "exact": {"algorithm": "exact"},
    "exact bm25": {"algorithm": "exact", "weighting": "bm25"},
    "exact tfidf": {"algorithm": "exact", "weighting": "tfidf"},
    "rp3beta α1 β0.6": {"algorithm": "rp3beta", "rp3_alpha": 1.0, "rp3_beta": 0.6},
    "rp3beta α0.5 β0.25": {"algorithm": "rp3beta", "rp3_alpha": 0.5, "rp3_beta": 0.25},
    "rp3beta α0.75 β0.25": {"algorithm": "rp3beta", "rp3_alpha": 0.75, "rp3_beta": 0.25},
    "sequential 10": {"algorithm": "sequential", "sr_steps": 10},
    "blend rp3beta + cosine": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 1.0,
        "blend_cosine": 1.0,
        "blend_sequential": 0.0,
    },
    "blend rp3beta + sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 1.0,
        "blend_cosine": 0.0,
        "blend_sequential": 1.0,
    },
    "blend cosine + sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "blend_rp3beta": 0.0,
        "blend_cosine": 1.0,
        "blend_sequential": 1.0,
    },
    "blend cosine + ½ sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "blend_rp3beta": 0.0,
        "blend_cosine": 1.0,
        "blend_sequential": 0.5,
    },
    "blend cosine + ¼ sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "blend_rp3beta": 0.0,
        "blend_cosine": 1.0,
        "blend_sequential": 0.25,
    },
    "blend cosine + ¼ rp3beta + ¼ sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 0.25,
        "blend_cosine": 1.0,
        "blend_sequential": 0.25,
    },
    # The shipped default (dimrec.params): cosine 1 + RP3beta ¼ + sequential rules ½,
    # max-scaled; and the same row-scaled.
    "the default: cosine + ¼ rp3beta + ½ sequential, max-scaled": {},
    "blend cosine + ¼ rp3beta + ½ sequential (row-scaled)": {"blend_scale": "row"},
    "blend cosine + ½ rp3beta + ½ sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 0.5,
        "blend_cosine": 1.0,
        "blend_sequential": 0.5,
    },
    "blend cosine + ½ rp3beta + sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 0.5,
        "blend_cosine": 1.0,
        "blend_sequential": 1.0,
    },
    "blend ½ cosine + rp3beta + sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 1.0,
        "blend_cosine": 0.5,
        "blend_sequential": 1.0,
    },
    "blend rp3beta + cosine + sequential": {
        "algorithm": "blend",
        "blend_scale": "row",
        "rp3_alpha": 0.5,
        "rp3_beta": 0.25,
        "blend_rp3beta": 1.0,
        "blend_cosine": 1.0,
        "blend_sequential": 1.0,
    },
}


def synthetic_settings(root: Path, shop: dict[str, int]) -> Settings:
    """Generate a synthetic shop and export it; settings pointing at its events."""
    from dimrec.synth import SKU_REGEX, generate

    start = dt.date(2026, 1, 1)
    out = root / "synth"
    generate(
        str(out),
        start=start,
        formats=("ga360",),
        days=shop["days"],
        sessions_per_day=shop["sessions_per_day"],
        n_items=shop["n_items"],
        n_users=shop["n_users"],
    )
    settings = load_settings(
        paths={"data": str(root / "var")},
        export={"source": "ga360", "input": str(out / "ga360"), "sku_regex": SKU_REGEX},
    )
    days = [start + dt.timedelta(days=d) for d in range(shop["days"])]
    pipeline.export_days(settings, days).raise_for_missing()
    return settings


def prepared(spec: dict[str, Any], work: Path, quick: bool) -> tuple[Settings, DataSpec]:
    if spec.get("synthetic"):
        return synthetic_settings(work, SYNTH_QUICK if quick else SYNTH_SHOP), DataSpec()
    settings = load_settings(paths={"data": str(work / "var")})
    return settings, spec["quick"] if quick and "quick" in spec else spec["data"]


def run_dataset(
    name: str, spec: dict[str, Any], out: Path, work: Path, quick: bool
) -> dict[str, Any]:
    settings, data = prepared(spec, work, quick)
    started = time.perf_counter()
    summary = flow.tune(
        settings,
        data=data,
        split=spec["split"],
        mode=spec["mode"],
        target_actions=spec["targets"],
        ks=(10,),
        report_to=str(out / name),
    )
    tune_seconds = time.perf_counter() - started
    result = summary.result
    test = result.test
    peers = [p for p in PEERS if p in {s.name for s in test.systems}]
    best_peer = max(peers, key=lambda p: test.system(p).mean("ndcg", 10)) if peers else None
    events = data.load(settings.paths.events_url())
    defaults = defaults_against_bm25(events, spec)
    record = {
        "dataset": name,
        "seconds": round(time.perf_counter() - started, 1),
        "tune_seconds": round(tune_seconds, 1),
        "validation": result.validation,
        "split": test.split,
        "mode": test.mode,
        "shoppers": test.shoppers,
        "chosen": result.best.label(),
        "trials": len(result.trials),
        "best_peer": best_peer,
        "test": rows(test, best_peer),
        "defaults": rows(defaults, "implicit BM25"),
        "notes": test.notes,
    }
    print_markdown(record)
    return record


def defaults_against_bm25(events: Interactions, spec: dict[str, Any]) -> Evaluation:
    """The shipped defaults and implicit BM25 on the same default matrix, on the test."""
    default = Config(TrainParams())
    candidates = [
        Candidate("dimrec defaults", "dimrec", default),
        Candidate("implicit BM25", "implicit-bm25", default),
        Candidate("popularity", "popularity", default),
    ]
    return evaluate(
        events,
        spec["split"].make(events),
        candidates,
        dataset="defaults",
        mode=spec["mode"],
        target_actions=spec["targets"],
        ks=(10,),
    )


def on_validation(
    name: str, spec: dict[str, Any], work: Path, quick: bool
) -> Callable[[list[Candidate]], Evaluation]:
    """Evaluates candidates on the data set's validation split (the test is not touched),
    its events loaded once."""
    settings, data = prepared(spec, work, quick)
    events = data.load(settings.paths.events_url())
    rule, validation_events = spec["split"].make(events).validation(events)

    def run(candidates: list[Candidate]) -> Evaluation:
        return evaluate(
            validation_events,
            rule,
            candidates,
            dataset=f"{name} (validation)",
            mode=spec["mode"],
            target_actions=spec["targets"],
            ks=(10,),
        )

    return run


def ndcg_at_10(result: Evaluation) -> dict[str, float]:
    return {system.name: system.mean("ndcg", 10) for system in result.systems}


def choose_defaults(name: str, spec: dict[str, Any], work: Path, quick: bool) -> dict[str, float]:
    """Each candidate default's validation NDCG@10 (the test is not touched)."""
    candidates = [
        Candidate(label, "dimrec", Config(TrainParams(**params)))
        for label, params in DEFAULT_CANDIDATES.items()
    ]
    candidates.append(Candidate("implicit BM25 (reference)", "implicit-bm25", Config()))
    result = on_validation(name, spec, work, quick)(candidates)
    scores = ndcg_at_10(result)
    print(f"\n{name}: {result.split}, {result.shoppers} validation rows")
    for label, value in sorted(scores.items(), key=lambda kv: -kv[1]):
        print(f"  {label:54s} {value:.4f}")
    sys.stdout.flush()
    return scores


def rows(ev: Evaluation, reference: str | None) -> list[dict[str, Any]]:
    out = []
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
        out.append(row)
    return out


def print_markdown(record: dict[str, Any]) -> None:
    print(f"\n### {record['dataset']}\n")
    print(
        f"{record['split']}, {record['mode']} mode, {record['shoppers']} test rows; chosen on "
        f"validation ({record['validation']}, {record['trials']} trials): "
        f"`{record['chosen']}`; tune {record['tune_seconds']} s, {record['seconds']} s in all.\n"
    )
    for note in record["notes"]:
        print(f"> {note}\n")
    print_rows(record["test"])
    print("\nDefaults, untuned, on the same test:\n")
    print_rows(record["defaults"])
    sys.stdout.flush()


def print_rows(table: list[dict[str, Any]]) -> None:
    reference = next((r["diff"]["reference"] for r in table if "diff" in r), None)
    head = "| system | configuration | HR@10 | NDCG@10 | cov@10 | fallback | fit s |"
    if reference:
        head += f" Δ NDCG@10 vs {reference} [95% CI] |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in table:
        line = (
            f"| {r['system']} | {r['config']} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | "
            f"{r['coverage@10']:.3f} | {r['fallback']:.1%} | {r['fit_seconds']:.2f} |"
        )
        if reference:
            d = r.get("diff")
            line += (
                " reference |"
                if d is None
                else f" {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
                f"{' **>0**' if d['low'] > 0 else ''} |"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "evaluate"))
    parser.add_argument("--quick", action="store_true", help="Small slices: a smoke test.")
    parser.add_argument(
        "--defaults-only", action="store_true", help="Score candidate defaults on validation."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {', '.join(DATASETS)}")
    if not DATA.is_dir():
        parser.error(f"the real data folder {DATA} is absent")
    out = Path(args.out)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dimrec-evalbench-") as work:
        if args.defaults_only:
            scores = {n: choose_defaults(n, DATASETS[n], Path(work) / n, args.quick) for n in names}
            print("\nmean NDCG@10 relative to each set's best candidate (validation):")
            relative = {
                label: float(np.mean([s[label] / max(s.values()) for s in scores.values()]))
                for label in [*DEFAULT_CANDIDATES, "implicit BM25 (reference)"]
            }
            for label, value in sorted(relative.items(), key=lambda kv: -kv[1]):
                print(f"  {label:54s} {value:.3f}")
            records: Any = {"validation": scores, "relative": relative}
        else:
            records = [run_dataset(n, DATASETS[n], out, Path(work) / n, args.quick) for n in names]
    path = out / ("defaults.json" if args.defaults_only else "results.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2, default=str) + "\n", "utf-8")
    print(f"\nresults: {path} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
