"""Exploration (issue 13): does choosing on several validation folds carry over better?

Online Retail only, **the test never loaded**: the events after the test's cut-off (80% of
the date range) are dropped right after loading, before anything else. The validation folds
are carved from the training period by tune's own rule (``validation_folds``): fold 1 is
today's validation split (the cut-off moved back by the test's length), fold 2 moved back
again, fold 3 once more.

    nice -n 19 .venv/bin/python -m bench.explore.folds --select 1 --select 2 --select 2,3

Each ``--select`` runs tune's search (``dimrec.evaluate.tune.search``, default grid) on
those folds (NDCG@10 = mean over them), then scores the choice and the EASE^R and RP3beta
leaders (chosen by the same rule) on every fold, with the paired-bootstrap 95% interval of
choice − better leader on each fold. Results go to --out as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

from dimrec.config import load_settings  # noqa: E402
from dimrec.dates import to_day  # noqa: E402
from dimrec.evaluate.datasets import DataSpec  # noqa: E402
from dimrec.evaluate.fit import Config  # noqa: E402
from dimrec.evaluate.interactions import Interactions  # noqa: E402
from dimrec.evaluate.runner import Candidate, evaluate  # noqa: E402
from dimrec.evaluate.split import SplitSpec, TimeSplit  # noqa: E402
from dimrec.evaluate.tune import TuneGrid, search, validation_folds  # noqa: E402
from dimrec.params import TrainParams  # noqa: E402

PEERS = ("ease", "rp3beta")


def training_period(work: Path) -> tuple[TimeSplit, Interactions]:
    """Online Retail's events up to the test's cut-off (the test days are dropped here)."""
    settings = load_settings(paths={"data": str(work / "var")})
    events = DataSpec("online-retail", str(DATA)).load(settings.paths.events_url())
    split = SplitSpec(cutoff_fraction=0.8).make(events)
    assert isinstance(split, TimeSplit)
    period = events.select(events.day <= to_day(split.cutoff))
    del events
    return split, period


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--select", action="append", required=True, help="folds, e.g. 2,3")
    parser.add_argument("--folds", type=int, default=3, help="folds carved (scored on all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "explore-folds.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dimrec-explore-") as work:
        split, period = training_period(Path(work))
    folds = validation_folds(period, split, args.folds)
    for n, (rule, events) in enumerate(folds, start=1):
        print(f"fold {n}: {rule.describe()} ({len(events)} events)")
    grid = TuneGrid()
    base = Config(TrainParams())
    common = {"mode": "history", "target_actions": ("purchase",)}
    out: list[dict[str, object]] = []
    for selection in args.select:
        chosen = [int(x) for x in selection.split(",")]
        started = time.perf_counter()
        found = search(
            [folds[n - 1] for n in chosen],
            base=base,
            grid=grid,
            dataset="online-retail",
            **common,  # type: ignore[arg-type]
        )
        seconds = time.perf_counter() - started
        systems = {"choice": found.best.config}
        systems |= {p: found.leaders[p].config for p in PEERS if p in found.leaders}
        print(f"\nselected on folds {chosen} ({len(found.trials)} trials, {seconds:.0f} s)")
        for name, config in systems.items():
            print(f"  {name}: {config.label()}")
        record: dict[str, object] = {
            "select": chosen,
            "seconds": round(seconds, 1),
            "trials": len(found.trials),
            "systems": {k: v.label() for k, v in systems.items()},
            "validation_ndcg": {k: t.ndcg for k, t in found.leaders.items()},
            "folds": {},
        }
        for n, (rule, events) in enumerate(folds, start=1):
            result = evaluate(
                events,
                rule,
                [Candidate(name, "dimrec", c) for name, c in systems.items()],
                dataset=f"fold {n}",
                ks=(10,),
                **common,  # type: ignore[arg-type]
            )
            scores = {s.name: s.mean("ndcg", 10) for s in result.systems}
            peer = max((p for p in PEERS if p in scores), key=lambda p: scores[p])
            diff = result.difference("choice", peer)
            tag = "selected on" if n in chosen else "held out"
            print(
                f"  fold {n} ({tag}, {result.shoppers} shoppers): "
                + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
                + f"; choice − {peer} {diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
            )
            record["folds"][str(n)] = {  # type: ignore[index]
                "split": result.split,
                "shoppers": result.shoppers,
                "ndcg@10": scores,
                "peer": peer,
                "diff": [diff.mean, diff.low, diff.high],
            }
        out.append(record)
        sys.stdout.flush()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
