"""Item-item similarities from implicit's ALS factors, tried as a dimrec model (not a test).

    .venv/bin/python bench/quality_als.py      # Online Retail and ml-100k: ≈ 3 min
    .venv/bin/python bench/quality_als.py --datasets ml-100k

Issue 13 asked for models from the literature that fit the serving rule (a model is an
item-neighbour table) and win on validation, naming item-item from implicit ALS factors. This
scores that model on the **validation** splits of ``bench/evaluate_quality.py`` (the test is
never touched): ALS (``implicit.cpu.als.AlternatingLeastSquares``, 15 iterations, seed 0) on
the window's users × items scores, each item's top K neighbours by the cosine of the item
factors (negative ones dropped), over a grid of factors × regularization × α, beside EASE^R
(λ grid), implicit's BM25 and dimrec's defaults on the same split.

The product ships no ALS model: to score one through the evaluation's own code (same split,
same scoring rule), this script stands it in for the ``implicit-cosine`` baseline kind while
it runs. Results: bench/README.md, "Tried and dropped".
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as implicit asks: its own threads

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.evaluate_quality import DATASETS, ndcg_at_10, on_validation  # noqa: E402

from dimrec.evaluate import fit  # noqa: E402
from dimrec.evaluate.fit import Config  # noqa: E402
from dimrec.evaluate.runner import Candidate  # noqa: E402
from dimrec.params import TrainParams  # noqa: E402

GRID = list(
    itertools.product([16, 32, 64, 128], [0.01, 0.1, 1.0, 10.0, 100.0, 300.0], [1.0, 10.0, 40.0])
)
EASE_LAMBDAS = (200.0, 1000.0, 5000.0, 20000.0)


def als_item_item(
    matrix: sp.csr_matrix, top_k: int, factors: int, regularization: float, alpha: float
) -> sp.csr_matrix:
    """Each item's top ``top_k`` neighbours by the cosine of its ALS item factors."""
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=15,
        num_threads=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit's notes on BLAS threads and dtypes
        model.fit(sp.csr_matrix(matrix, dtype=np.float32), show_progress=False)
    vectors = np.asarray(model.item_factors, dtype=np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0.0)
    similarity[similarity < 0] = 0.0
    k = min(top_k, similarity.shape[1] - 1)
    columns = np.argpartition(-similarity, k, axis=1)[:, :k].ravel()
    rows = np.repeat(np.arange(similarity.shape[0]), k)
    return sp.csr_matrix((similarity[rows, columns], (rows, columns)), shape=similarity.shape)


def score_dataset(name: str, work: Path, chosen: list[tuple[int, float, float] | None]) -> None:
    """Print the validation NDCG@10 of the references and of the best ALS configurations."""
    score = on_validation(name, DATASETS[name], work, quick=False)

    def scores(candidates: list[Candidate]) -> dict[str, float]:
        return ndcg_at_10(score(candidates))

    ease = [
        Candidate(
            f"ease λ {lam:g}", "dimrec", Config(TrainParams(algorithm="ease", ease_lambda=lam))
        )
        for lam in EASE_LAMBDAS
    ]
    found = scores(
        [
            *ease,
            Candidate("implicit BM25", "implicit-bm25", Config()),
            Candidate("dimrec defaults", "dimrec", Config(TrainParams())),
        ]
    )
    started = time.perf_counter()
    for factors, regularization, alpha in GRID:
        chosen[0] = (factors, regularization, alpha)
        label = f"ALS item-item f{factors} reg {regularization:g} α {alpha:g}"
        found.update(scores([Candidate(label, "implicit-cosine", Config())]))
    chosen[0] = None
    seconds = time.perf_counter() - started
    print(f"\n{name}: validation NDCG@10 ({len(GRID)} ALS configurations in {seconds:.0f} s)")
    ranked = sorted(found.items(), key=lambda pair: -pair[1])
    references = [pair for pair in ranked if not pair[0].startswith("ALS")]
    best_als = [pair for pair in ranked if pair[0].startswith("ALS")][:5]
    for label, value in references + best_als:
        print(f"  {label:42s} {value:.4f}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="online-retail,ml-100k")
    args = parser.parse_args()
    chosen: list[tuple[int, float, float] | None] = [None]
    baseline = fit._implicit

    def standing_in(kind: Any, matrix: sp.csr_matrix, top_k: int, threads: int) -> Any:
        if kind == "implicit-cosine" and chosen[0] is not None:
            return als_item_item(matrix, top_k, *chosen[0])
        return baseline(kind, matrix, top_k, threads)

    fit._implicit = standing_in  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="dimrec-als-") as work:
        for name in args.datasets.split(","):
            score_dataset(name, Path(work), chosen)


if __name__ == "__main__":
    main()
