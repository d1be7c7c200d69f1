"""Ranking metrics at k, per shopper, and the paired bootstrap of a difference.

A ranking is a row of item codes, best first, padded with -1 when fewer than k items were
recommended. Relevance is binary: an item is relevant when it is one of the shopper's
targets. With T the shopper's targets and rel_r the relevance at rank r (1-based):

- hit rate (HR@k): 1 when any of the top k is relevant;
- precision@k: hits in the top k / k;
- recall@k: hits in the top k / |T|;
- NDCG@k: Σ_r rel_r / log2(r + 1), divided by its best value Σ_{r ≤ min(|T|, k)} 1 / log2(r + 1);
- MAP@k (average precision): Σ_r rel_r · precision@r / min(|T|, k);
- coverage@k: distinct items in all top-k lists / items in the catalogue.

Means over shoppers are the reported values; the per-shopper values feed the bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

METRICS = ("hr", "precision", "recall", "ndcg", "map")
DEFAULT_KS: tuple[int, ...] = (5, 10, 20)

FloatArray = npt.NDArray[np.float64]


def relevance(ranked: npt.NDArray[np.int64], targets: sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """``rel[u, r]``: whether the item at rank r of shopper u is one of u's targets."""
    n_items = targets.shape[1]
    t = sp.csr_matrix(targets)
    t.sum_duplicates()
    rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
    target_keys = rows * n_items + t.indices.astype(np.int64)
    shopper = np.arange(ranked.shape[0], dtype=np.int64)[:, np.newaxis]
    keys = shopper * n_items + ranked.astype(np.int64)
    rel = np.isin(keys, target_keys)
    rel &= ranked >= 0
    return rel


def per_shopper(
    rel: npt.NDArray[np.bool_], n_targets: npt.NDArray[np.integer], k: int
) -> dict[str, FloatArray]:
    """Each metric of ``METRICS`` at ``k`` for each shopper (row of ``rel``)."""
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")
    top = rel[:, :k].astype(np.float64)
    if top.shape[1] < k:
        top = np.pad(top, ((0, 0), (0, k - top.shape[1])))
    sizes = np.asarray(n_targets, dtype=np.float64)
    hits = top.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = top @ discounts
    ideal_len = np.minimum(sizes, k).astype(np.int64)
    ideal = np.r_[0.0, np.cumsum(discounts)][ideal_len]
    precision_at = np.cumsum(top, axis=1) / np.arange(1, k + 1)
    denominator = np.maximum(np.minimum(sizes, k), 1.0)
    return {
        "hr": (hits > 0).astype(np.float64),
        "precision": hits / k,
        "recall": np.divide(hits, sizes, out=np.zeros_like(hits), where=sizes > 0),
        "ndcg": np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0),
        "map": (precision_at * top).sum(axis=1) / denominator,
    }


def coverage(ranked: npt.NDArray[np.int64], k: int, catalogue_size: int) -> float:
    """Distinct items in the top-k lists over the catalogue size."""
    items = ranked[:, :k]
    distinct = np.unique(items[items >= 0])
    return float(len(distinct) / catalogue_size) if catalogue_size else 0.0


@dataclass(frozen=True)
class Difference:
    """Mean of a - b over shoppers, with a paired-bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    level: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def paired_bootstrap(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Difference:
    """The mean of ``a - b`` and its percentile interval from resampling shoppers.

    ``a`` and ``b`` are the per-shopper values of two systems on the same shoppers; each
    bootstrap sample draws shoppers with replacement and keeps the pairs together.
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n == 0:
        raise ValueError("paired_bootstrap needs at least one shopper")
    if len(np.asarray(a)) != len(np.asarray(b)):
        raise ValueError("a and b must hold one value per shopper each, on the same shoppers")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, samples, chunk):
        stop = min(start + chunk, samples)
        draws = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Difference(float(diff.mean()), float(low), float(high), level)
