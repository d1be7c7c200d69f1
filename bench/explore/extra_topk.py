"""Exploration (issue 13): how much EASE^R loses to its top-K truncation, and whether a
blend still adds anything once the lists are longer. Online Retail validation folds only
(the test days dropped on loading, as in folds.py); same window as extra.py.

    nice -n 19 .venv/bin/python -m bench.explore.extra_topk
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from bench.explore.extra import ROOT, Fold, ease_dense
from bench.explore.folds import training_period

from dimrec.evaluate.metrics import paired_bootstrap
from dimrec.evaluate.tune import validation_folds
from dimrec.params import TrainParams
from dimrec.train.local.weighting import apply_weighting


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dimrec-explore-") as work:
        split, period = training_period(Path(work))
    params = TrainParams(algorithm="ease", weighting="bm25", max_items=1000, half_life_days=30)
    folds = [Fold(r, e, params) for r, e in validation_folds(period, split, 3)]
    values: dict[str, list[np.ndarray]] = {}

    def record(name: str, tables: list[sp.csr_matrix]) -> None:
        values[name] = [f.score(t) for f, t in zip(folds, tables, strict=True)]
        line = " ".join(f"{v.mean():.4f}" for v in values[name])
        if "ease top 100" in values and name != "ease top 100":
            diffs = [
                paired_bootstrap(a, b)
                for a, b in zip(values[name], values["ease top 100"], strict=True)
            ]
            line += "   vs top 100: " + " ".join(
                f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]" for d in diffs
            )
        print(f"{name:44s} {line}", flush=True)

    xs = [apply_weighting(f.wm.matrix, "bm25") for f in folds]
    b = [ease_dense(x, 100000.0) for x in xs]
    for k in (100, 300, 1000):
        record(f"ease top {k}", [f.dense(w, k) for f, w in zip(folds, b, strict=True)])
    record("ease all positive", [f.dense(w, f.n) for f, w in zip(folds, b, strict=True)])
    full = [sp.csr_matrix(w / np.abs(w).max()) for w in b]
    record("ease full (negative weights too)", full)
    rp3 = [
        f.component(algorithm="rp3beta", rp3_alpha=0.5, rp3_beta=0.5, weighting="none", top_k=300)
        for f in folds
    ]
    lead = [f.dense(w, 300) for f, w in zip(folds, b, strict=True)]
    for w in (0.1, 0.25, 0.5):
        record(
            f"ease top 300 + {w:g}·rp3beta top 300",
            [a + w * c for a, c in zip(lead, rp3, strict=True)],
        )
    out = ROOT / "bench" / "results" / "explore-extra_topk.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({k: [float(x.mean()) for x in v] for k, v in values.items()}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
