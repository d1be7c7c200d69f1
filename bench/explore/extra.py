"""Exploration (issue 13): neighbour tables the tune grid lacks, on Online Retail's
validation folds only (the test days are dropped on loading, as in folds.py).

Every component is computed on one window matrix per fold (the EASE^R leader's shared
settings, --base), kept to its top 100 positive neighbours per item, divided by its largest
value (max scaling, as blend_scale "max") and added with weights; each table is scored
through the serving rule (dimrec.evaluate.scoring.recommend) on the fold's shoppers.

    nice -n 19 .venv/bin/python -m bench.explore.extra
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bench.explore.folds import training_period  # noqa: E402

from dimrec.evaluate.fit import Config, _expand, window_matrix  # noqa: E402
from dimrec.evaluate.metrics import paired_bootstrap, per_shopper, relevance  # noqa: E402
from dimrec.evaluate.scoring import recommend  # noqa: E402
from dimrec.evaluate.task import build_task  # noqa: E402
from dimrec.evaluate.tune import validation_folds  # noqa: E402
from dimrec.params import TrainParams  # noqa: E402
from dimrec.train.local.algorithms import local_neighbours  # noqa: E402
from dimrec.train.local.blend import max_normalised  # noqa: E402
from dimrec.train.local.dense_topk import top_positive  # noqa: E402
from dimrec.train.local.weighting import apply_weighting  # noqa: E402

TOP_K = 100


class Fold:
    """One validation fold: its window matrix, task and scorer."""

    def __init__(self, rule, events, params: TrainParams) -> None:  # type: ignore[no-untyped-def]
        data = rule.apply(events)
        self.task = build_task(data, mode="history", target_actions=("purchase",))
        window = data.window(None)
        self.wm = window_matrix(window, Config(params), as_of_day=data.as_of_day)
        self.queries, self.inputs = self.task.queries(window, params.weights)
        self.params = params
        self.n = self.wm.matrix.shape[1]
        self.describe = data.description

    def component(self, **changes: object) -> sp.csr_matrix:
        p = self.params.model_copy(update=changes)
        nb = local_neighbours(self.wm.matrix, p, sessions=self.wm.sessions)
        return max_normalised(nb, self.n)

    def dense(self, weights: np.ndarray, top_k: int = TOP_K) -> sp.csr_matrix:
        w = weights.copy()
        np.fill_diagonal(w, 0.0)
        nb = top_positive(w, 0, top_k)
        return max_normalised(nb, self.n)

    def score(self, local: sp.csr_matrix) -> np.ndarray:
        sim = _expand(sp.csr_matrix(local), self.wm.items, self.wm.n_codes)
        recs = recommend(self.queries, sim, self.wm.popular, 10, inputs=self.inputs)
        rel = relevance(recs.ranked, self.task.targets)
        return per_shopper(rel, np.diff(self.task.targets.indptr), 10)["ndcg"]


def ease_dense(x: sp.csr_matrix, lam: float, damp: float = 0.0) -> np.ndarray:
    g = (x.T @ x).toarray()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[np.newaxis, :]
    np.fill_diagonal(b, 0.0)
    if damp:
        pop = np.asarray((x > 0).sum(axis=0)).ravel().astype(float)
        b = b / np.maximum(pop, 1.0)[np.newaxis, :] ** damp
    return b


def gfcf(x: sp.csr_matrix, rank: int, alpha: float) -> np.ndarray:
    """GF-CF (Shen et al., CIKM 2021): the normalised item-item filter R̃ᵀR̃ plus α times
    the ideal low-pass filter D^-½ V Vᵀ D^½ (V: R̃'s top ``rank`` right singular vectors)."""
    du = np.asarray(x.sum(axis=1)).ravel()
    di = np.asarray(x.sum(axis=0)).ravel()
    du_s = np.where(du > 0, du, 1.0) ** -0.5
    di_s = np.where(di > 0, di, 1.0) ** -0.5
    r = sp.diags(du_s) @ x @ sp.diags(di_s)
    linear = (r.T @ r).toarray()
    if alpha == 0:
        return linear
    _, _, vt = spla.svds(sp.csc_matrix(r), k=rank)
    ideal = (di_s[:, None] * vt.T) @ (vt * (1.0 / di_s)[None, :])
    return linear + alpha * ideal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "explore-extra.json"))
    parser.add_argument(
        "--base",
        default='{"weighting": "bm25", "max_items": 1000, "half_life_days": 30}',
        help="the EASE^R leader's shared settings (JSON of TrainParams fields)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dimrec-explore-") as work:
        split, period = training_period(Path(work))
    params = TrainParams(algorithm="ease", **json.loads(args.base))
    folds = [Fold(r, e, params) for r, e in validation_folds(period, split, args.folds)]
    results: dict[str, list[float]] = {}
    values: dict[str, list[np.ndarray]] = {}

    def record(name: str, tables: list[sp.csr_matrix]) -> None:
        v = [f.score(t) for f, t in zip(folds, tables, strict=True)]
        values[name] = v
        results[name] = [float(x.mean()) for x in v]
        print(f"{name:60s} " + " ".join(f"{m:.4f}" for m in results[name]), flush=True)

    started = time.perf_counter()
    comps: dict[str, list[sp.csr_matrix]] = {}
    for lam in (20000.0, 50000.0, 100000.0, 200000.0, 500000.0):
        comps[f"ease {lam:g}"] = [f.component(algorithm="ease", ease_lambda=lam) for f in folds]
        record(f"ease {lam:g}", comps[f"ease {lam:g}"])
    xs = [apply_weighting(f.wm.matrix, "bm25") for f in folds]
    for damp in (0.1, 0.25):
        for lam in (50000.0, 100000.0):
            t = [f.dense(ease_dense(x, lam, damp)) for f, x in zip(folds, xs, strict=True)]
            record(f"ease {lam:g} popularity-damped ^{damp}", t)
    for k in (200, 500):
        t = [f.dense(ease_dense(x, 100000.0), k) for f, x in zip(folds, xs, strict=True)]
        record(f"ease 100000 top {k}", t)
    comps["cosine bm25"] = [f.component(algorithm="exact", weighting="bm25") for f in folds]
    record("cosine bm25", comps["cosine bm25"])
    comps["rp3beta"] = [
        f.component(algorithm="rp3beta", rp3_alpha=0.5, rp3_beta=0.5, weighting="none")
        for f in folds
    ]
    record("rp3beta α0.5 β0.5", comps["rp3beta"])
    comps["sequential"] = [f.component(algorithm="sequential", sr_steps=10) for f in folds]
    record("sequential 10", comps["sequential"])
    for source in ("bm25", "plain"):
        for rank, alpha in ((0, 0.0), (64, 0.3), (256, 0.3)):
            t = [
                f.dense(gfcf(x if source == "bm25" else f.wm.matrix, rank, alpha))
                for f, x in zip(folds, xs, strict=True)
            ]
            name = f"gf-cf {source} rank {rank} α {alpha:g}"
            comps[name] = t
            record(name, t)
    # max-scaled blends led by EASE λ 100k
    others = ["ease 20000", "ease 500000", "cosine bm25", "gf-cf bm25 rank 0 α 0", "rp3beta"]
    lead = comps["ease 100000"]
    for name in others:
        for w in (0.1, 0.25, 0.5, 1.0):
            t = [a + w * b for a, b in zip(lead, comps[name], strict=True)]
            record(f"ease 100k + {w:g}·{name}", t)
    for w1, w2 in itertools.product((0.1, 0.25), (0.1, 0.25)):
        t = [
            a + w1 * b + w2 * c
            for a, b, c in zip(lead, comps["cosine bm25"], comps["ease 500000"], strict=True)
        ]
        record(f"ease 100k + {w1:g}·cosine + {w2:g}·ease 500k", t)
    print(f"({time.perf_counter() - started:.0f} s)")
    diffs: dict[str, list[list[float]]] = {}
    for name, v in values.items():
        diffs[name] = []
        for a, b in zip(v, values["ease 100000"], strict=True):
            d = paired_bootstrap(a, b)
            diffs[name].append([d.mean, d.low, d.high])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"folds": [f.describe for f in folds], "ndcg@10": results, "vs ease 100k": diffs},
            indent=2,
        )
        + "\n",
        "utf-8",
    )


if __name__ == "__main__":
    main()
