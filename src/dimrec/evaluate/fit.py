"""Building the systems an evaluation compares, in memory, from a split's training window.

Every system is fit on the same window matrix that the train stage would build (profile
scores summed per user and item, users kept when ``min_items`` ≤ distinct items ≤
``max_items``, items those users touched) and yields an items × items similarity matrix in
the evaluation's item codes, plus the window's popularity order (over all its users: score
desc, distinct users desc, item id) for the fallback:

- ``dimrec``: the training kernels (exact / dimsum cosine, rp3beta, ease, sequential rules
  on the window's sessions, blends — whose components are computed once per matrix);
- ``popularity``: no similarity, every shopper gets the popularity list;
- ``implicit-cosine`` / ``implicit-bm25``: implicit's CosineRecommender / BM25Recommender
  (K1 1.2, B 0.75) with K = top_k + 1 (their lists include the item itself, which scoring
  leaves out), when the ``implicit`` package is installed.
"""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.errors import EngineError
from dimrec.evaluate.interactions import ACTIONS, Interactions
from dimrec.evaluate.scoring import similarity_matrix
from dimrec.params import BLEND_COMPONENTS, TrainParams
from dimrec.train.base import no_user_kept_error
from dimrec.train.local.algorithms import local_neighbours
from dimrec.train.local.blend import blend
from dimrec.train.neighbours import Neighbours
from dimrec.train.sessions import SessionItems

log = logging.getLogger(__name__)

Kind = Literal["dimrec", "popularity", "implicit-cosine", "implicit-bm25"]
KINDS: tuple[Kind, ...] = ("dimrec", "popularity", "implicit-cosine", "implicit-bm25")


@dataclass(frozen=True)
class Config:
    """What decides a model in an evaluation: training parameters and the data they see."""

    params: TrainParams = field(default_factory=TrainParams)
    window_days: int | None = None
    """Train on the history's last days (None: all of it)."""

    def label(self) -> str:
        p = self.params
        parts: list[str] = [p.algorithm]
        if p.algorithm == "dimsum":
            parts.append(f"t={p.threshold:g}")
        elif p.algorithm == "rp3beta":
            parts.append(f"α={p.rp3_alpha:g} β={p.rp3_beta:g}")
        elif p.algorithm == "ease":
            parts.append(f"λ={p.ease_lambda:g}")
        elif p.algorithm == "sequential":
            parts.append(f"steps={p.sr_steps}")
        elif p.algorithm == "blend":
            parts.append(_blend_label(p))
        if p.weighting != "none" and p.applies("weighting", p.algorithm):
            parts.append(p.weighting)
        w = p.weights
        parts.append(f"w={w.get('browse', 0):g}/{w.get('basket', 0):g}/{w.get('purchase', 0):g}")
        parts.append(f"users {p.min_items}–{p.max_items}")
        parts.append(f"K={p.top_k}")
        if self.window_days is not None:
            parts.append(f"{self.window_days}d")
        if p.half_life_days is not None:
            parts.append(f"½{p.half_life_days:g}d")
        return " ".join(parts)

    def key(self) -> str:
        """Identifies the configuration (configs hold dicts, so they are not hashable)."""
        return f"{self.params.model_dump_json()}|{self.window_days}"

    def matrix_key(self) -> tuple[object, ...]:
        p = self.params
        weights = tuple(sorted(p.weights.items()))
        return (self.window_days, p.half_life_days, weights, p.min_items, p.max_items)


def _blend_label(p: TrainParams) -> str:
    parts = []
    if p.blend_ease:
        parts.append(f"{p.blend_ease:g}·ease λ={p.ease_lambda:g}")
    if p.blend_rp3beta:
        parts.append(f"{p.blend_rp3beta:g}·rp3beta α={p.rp3_alpha:g} β={p.rp3_beta:g}")
    if p.blend_cosine:
        parts.append(f"{p.blend_cosine:g}·cosine bm25")
    if p.blend_sequential:
        parts.append(f"{p.blend_sequential:g}·sequential steps={p.sr_steps}")
    return " + ".join(parts) + (" (max-scaled)" if p.blend_scale == "max" else "")


@dataclass(frozen=True)
class WindowMatrix:
    matrix: sp.csr_matrix
    """Kept users × the items they touched (columns ``items``)."""
    items: npt.NDArray[np.int64]
    """Evaluation item code of each column, ascending (so ties still break by id)."""
    popular: npt.NDArray[np.int64]
    """Item codes of the window, best first."""
    users: int
    n_codes: int
    """Size of the evaluation's item vocabulary."""
    sessions: SessionItems
    """The kept users' events in session order, items as columns of ``matrix``."""
    components: dict[str, Neighbours] = field(default_factory=dict, compare=False)
    """Blend components already computed on this matrix, by their parameters (a tuning run
    scores many blends of the same components)."""


@dataclass(frozen=True)
class Built:
    similarity: sp.csr_matrix | None
    """Items × items in evaluation codes; None for popularity."""
    popular: npt.NDArray[np.int64]
    fit_seconds: float
    pairs: int


def window_matrix(
    window: Interactions, config: Config, *, as_of_day: int | None = None
) -> WindowMatrix:
    p = config.params
    score = window.scores(p.weights, half_life_days=p.half_life_days, as_of_day=as_of_day)
    full = window.matrix(score)
    popular = _popularity(full)
    distinct = np.diff(full.indptr)
    kept = full[(distinct >= p.min_items) & (distinct <= p.max_items)]
    if kept.nnz == 0:
        raise no_user_kept_error(p.min_items, p.max_items, int((distinct > 0).sum()))
    items = np.unique(kept.indices).astype(np.int64)
    column = np.full(full.shape[1], -1, dtype=np.int64)
    column[items] = np.arange(len(items))
    compact = sp.csr_matrix(
        (kept.data, column[kept.indices], kept.indptr), shape=(kept.shape[0], len(items))
    )
    compact.sort_indices()
    users = np.flatnonzero((distinct >= p.min_items) & (distinct <= p.max_items))
    mine = np.isin(window.user, users) & (column[window.item] >= 0)
    decay = window.scores(
        dict.fromkeys(ACTIONS, 1.0), half_life_days=p.half_life_days, as_of_day=as_of_day
    )
    sessions = SessionItems.of(
        window.user[mine], column[window.item[mine]], window.day[mine], window.ts[mine], decay[mine]
    )
    return WindowMatrix(compact, items, popular, kept.shape[0], window.n_items, sessions)


def _popularity(full: sp.csr_matrix) -> npt.NDArray[np.int64]:
    csc = full.tocsc()
    score = np.asarray(csc.sum(axis=0)).ravel()
    users = np.diff(csc.indptr)
    present = np.flatnonzero(users > 0)
    order = np.lexsort((present, -users[present], -score[present]))
    return present[order].astype(np.int64)


def build(kind: Kind, config: Config, wm: WindowMatrix, *, threads: int = 0) -> Built:
    """Fit ``kind`` on the window matrix; similarity mapped back to evaluation codes."""
    if kind == "popularity":
        return Built(None, wm.popular, 0.0, 0)
    if kind == "dimrec":
        p = config.params
        _warm_up(p)
        start = time.perf_counter()
        if p.algorithm == "blend":
            neighbours = blend(p, lambda part: _component(wm, part, threads), wm.matrix.shape[1])
        else:
            neighbours = local_neighbours(wm.matrix, p, sessions=wm.sessions, threads=threads)
        seconds = time.perf_counter() - start
        local = similarity_matrix(neighbours, wm.matrix.shape[1])
    else:
        start = time.perf_counter()
        local = _implicit(kind, wm.matrix, config.params.top_k, threads)
        seconds = time.perf_counter() - start
    similarity = _expand(local, wm.items, wm.n_codes)
    return Built(similarity, wm.popular, seconds, int(similarity.nnz))


def _component(wm: WindowMatrix, params: TrainParams, threads: int) -> Neighbours:
    key = params.model_dump_json(exclude=set(BLEND_COMPONENTS))  # a blend's weights aside
    if key not in wm.components:
        wm.components[key] = local_neighbours(
            wm.matrix, params, sessions=wm.sessions, threads=threads
        )
    return wm.components[key]


_WARM: set[str] = set()


def _warm_up(params: TrainParams) -> None:
    """Run a kernel once on a tiny matrix, so compiled kernels (Numba) are not timed
    compiling."""
    if params.algorithm in _WARM:
        return
    tiny = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]))
    sessions = SessionItems.of(*(np.array(v) for v in ([0, 0, 1], [0, 1, 2], [0, 0, 0], [0, 1, 2])))
    small = params.model_copy(update={"top_k": 2})
    local_neighbours(tiny, small, sessions=sessions, threads=1)
    _WARM.add(params.algorithm)


def _expand(local: sp.csr_matrix, items: npt.NDArray[np.int64], n_codes: int) -> sp.csr_matrix:
    coo = sp.coo_matrix(local)
    keep = coo.row != coo.col
    n = n_codes
    return sp.csr_matrix(
        (coo.data[keep], (items[coo.row[keep]], items[coo.col[keep]])), shape=(n, n)
    )


def implicit_available() -> bool:
    try:
        importlib.import_module("implicit.nearest_neighbours")
    except ImportError:
        return False
    return True


def _implicit(kind: Kind, matrix: sp.csr_matrix, top_k: int, threads: int) -> sp.csr_matrix:
    try:
        nn = importlib.import_module("implicit.nearest_neighbours")
    except ImportError:
        raise EngineError(
            "implicit is not installed: it is a dev/bench dependency (`uv sync --group dev`)"
        ) from None
    if kind == "implicit-cosine":
        model = nn.CosineRecommender(K=top_k + 1, num_threads=threads)
    elif kind == "implicit-bm25":
        model = nn.BM25Recommender(K=top_k + 1, K1=1.2, B=0.75, num_threads=threads)
    else:
        raise EngineError(f"unknown baseline {kind!r}")
    with warnings.catch_warnings():
        # implicit's CosineRecommender hands its own COO matrix to its kernel and warns.
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(sp.csr_matrix(matrix, dtype=np.float64), show_progress=False)
    similarity: sp.csr_matrix = sp.csr_matrix(model.similarity)
    return similarity
