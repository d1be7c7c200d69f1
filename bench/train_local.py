"""Benchmark of the local training engine against its peers (not a test).

    .venv/bin/python bench/train_local.py            # real sets + 1M × 200k, 5M × 1M, heavy
    .venv/bin/python bench/train_local.py --quick    # real sets + 100k × 20k shops

On each data set, with the same K (50) and two threads each, it times (wall and CPU seconds,
peak RSS, each contender in a fresh subprocess; ``--repeat N`` alternates them N times and
keeps the best wall time):

- dimrec local exact, and dimrec local DIMSUM at thresholds 0.1 and 0.5;
- implicit's CosineRecommender fit (K = top_k + 1: implicit counts the item itself);
- plain SciPy: unit-norm columns, ``Xᵀ X`` by item blocks on two threads, top-K per row by
  argpartition;
- sparse_dot_topn's ``sp_matmul_topn`` (top_n = top_k + 1, raw: its ties are not ordered).

The ratio that matters is dimrec exact's time over the *best peer's* (the faster of implicit
and sparse_dot_topn), measured in the same run.

It then checks dimrec exact's lists against implicit's and SciPy's (as sets of neighbours,
similarities compared to 1e-9; a list may only differ where the K-th similarity is tied), and
DIMSUM against exact: recall of the exact top-K lists, and DIMSUM's promise — the share of
all pairs with similarity ≥ threshold estimated within 20% — over every pair for catalogues
of ≤ 10,000 items, else over the rows of 1,500 items drawn at random (``dimrec.train.dimsum``
directly: the same sample the kernel sums). Where DIMSUM pays: its time against exact's, the
pair products each adds (known before sampling), and what ``algorithm = "cosine"`` chooses.
Results print as Markdown tables, also saved with the raw figures to
``bench/results/train_local.{md,json}`` (``--out`` for another folder).

Data: MovieLens ml-latest-small and ml-100k (score = rating), UCI Online Retail (user =
CustomerID, item = StockCode, score = number of purchase lines with quantity > 0), and
synthetic shops (Zipf 1/rank popularity over randomly permuted item ids, 5..20 items a user,
scores browse 0.5 / basket 2 / purchase 6 and their sums; *heavy* shops: 20..200 items a
user, where pairs are many). No user filter is applied.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
THREADS = 2
TOP_K = 50
TIE = 1e-9
FULL_PAIRS_MAX_ITEMS = 10_000
SAMPLED_ITEMS = 1500
CONTENDERS = ["dimrec-exact", "dimsum-0.1", "dimsum-0.5", "implicit", "scipy", "sparse_dot_topn"]
PEERS = ["implicit", "sparse_dot_topn"]
#: SciPy's XᵀX holds whole blocks of the product: far too slow and big on heavy shops.
SKIP = {"heavy-300k-50k": {"scipy"}}

Lists = tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]


# --- data ----------------------------------------------------------------------------------


def _matrix(users: np.ndarray, items: np.ndarray, scores: np.ndarray) -> sp.csr_matrix:
    """users × items, summing repeated (user, item); items indexed in sorted id order."""
    _, user_index = np.unique(users, return_inverse=True)
    _, item_index = np.unique(items, return_inverse=True)
    matrix = sp.csr_matrix(
        (scores.astype(np.float64), (user_index, item_index)),
        shape=(user_index.max() + 1, item_index.max() + 1),
    )
    matrix.sum_duplicates()
    return matrix


def _read_csv(path: Path, **options: Any) -> Any:
    import pyarrow.csv as pv

    return pv.read_csv(
        path,
        read_options=pv.ReadOptions(**options.pop("read", {})),
        parse_options=pv.ParseOptions(**options.pop("parse", {})),
        convert_options=pv.ConvertOptions(**options.pop("convert", {})),
    )


def load_movielens_small() -> sp.csr_matrix:
    table = _read_csv(DATA / "movielens" / "ml-latest-small" / "ratings.csv.gz")
    return _matrix(*(table[c].to_numpy() for c in ("userId", "movieId", "rating")))


def load_movielens_100k() -> sp.csr_matrix:
    table = _read_csv(
        DATA / "movielens" / "ml-100k" / "u.data.gz",
        read={"column_names": ["user", "item", "rating", "ts"]},
        parse={"delimiter": "\t"},
    )
    return _matrix(*(table[c].to_numpy() for c in ("user", "item", "rating")))


def load_online_retail() -> sp.csr_matrix:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read_csv(
        DATA / "online_retail" / "online_retail_by_day.csv.gz",
        convert={
            "include_columns": ["StockCode", "Quantity", "CustomerID"],
            "column_types": {"StockCode": pa.string(), "CustomerID": pa.string()},
        },
    )
    keep = pc.and_(pc.is_valid(table["CustomerID"]), pc.greater(table["Quantity"], 0))
    keep = pc.and_(keep, pc.not_equal(table["CustomerID"], ""))
    table = table.filter(keep)
    users = table["CustomerID"].to_numpy(zero_copy_only=False)
    items = table["StockCode"].to_numpy(zero_copy_only=False)
    return _matrix(users, items, np.ones(len(users)))


def synthetic_shop(
    n_users: int, n_items: int, seed: int = 0, items_per_user: tuple[int, int] = (5, 20)
) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    cdf = np.cumsum(popularity[rng.permutation(n_items)])
    per_user = rng.integers(items_per_user[0], items_per_user[1] + 1, n_users)
    rows = np.repeat(np.arange(n_users, dtype=np.int32), per_user)
    cols = np.searchsorted(cdf, rng.random(len(rows)) * cdf[-1]).astype(np.int32)
    scores = rng.choice(
        np.array([0.5, 2.0, 6.0, 2.5, 8.0, 8.5]), len(rows), p=[0.55, 0.2, 0.1, 0.08, 0.04, 0.03]
    )
    matrix = sp.csr_matrix(
        (scores, (rows, np.minimum(cols, n_items - 1))), shape=(n_users, n_items)
    )
    matrix.sum_duplicates()
    return matrix


DATASETS = {
    "ml-latest-small": load_movielens_small,
    "ml-100k": load_movielens_100k,
    "online-retail": load_online_retail,
    "shop-100k-20k": lambda: synthetic_shop(100_000, 20_000),
    "shop-1M-200k": lambda: synthetic_shop(1_000_000, 200_000),
    "shop-5M-1M": lambda: synthetic_shop(5_000_000, 1_000_000),
    "heavy-100k-20k": lambda: synthetic_shop(100_000, 20_000, items_per_user=(20, 200)),
    "heavy-300k-50k": lambda: synthetic_shop(300_000, 50_000, items_per_user=(20, 200)),
}


# --- contenders (run inside a worker process) ----------------------------------------------


def _unit_columns(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.bincount(matrix.indices, weights=matrix.data**2, minlength=matrix.shape[1]))
    norms[norms == 0] = 1.0
    out = matrix.copy()
    out.data = out.data / norms[out.indices]
    return out


def _rows_top_k(block: sp.csr_matrix, first_item: int, k: int) -> Lists:
    """Top-k of each row of a block of the similarity matrix (self and zeros left out)."""
    block = block.tocoo()
    keep = (block.row + first_item != block.col) & (block.data > 0)
    block = sp.csr_matrix((block.data[keep], (block.row[keep], block.col[keep])), shape=block.shape)
    lengths = np.diff(block.indptr)
    take = np.ones(block.nnz, dtype=bool)
    for row in np.flatnonzero(lengths > k):
        begin, end = block.indptr[row], block.indptr[row + 1]
        cut = np.argpartition(-block.data[begin:end], k - 1)[k:]
        take[begin + cut] = False
    rows = np.repeat(np.arange(block.shape[0]), lengths)[take] + first_item
    return rows.astype(np.int32), block.indices[take].astype(np.int32), block.data[take]


def run_scipy(matrix: sp.csr_matrix, k: int) -> Lists:
    unit = _unit_columns(matrix)
    by_item = unit.T.tocsr()
    row_lengths = np.diff(unit.indptr)
    visited = np.concatenate(([0], np.cumsum(row_lengths[by_item.indices])))
    cost = visited[by_item.indptr[1:]] - visited[by_item.indptr[:-1]]
    bounds = [0]
    budget = 20_000_000  # products one block may produce at most (bounds its memory)
    running = 0
    for item, item_cost in enumerate(cost.tolist()):
        if running + item_cost > budget and item > bounds[-1]:
            bounds.append(item)
            running = 0
        running += item_cost
    bounds.append(matrix.shape[1])

    def block(b: int) -> Lists:
        start, stop = bounds[b], bounds[b + 1]
        return _rows_top_k(by_item[start:stop] @ unit, start, k)

    with ThreadPoolExecutor(THREADS) as pool:
        parts = list(pool.map(block, range(len(bounds) - 1)))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]


def run_implicit(matrix: sp.csr_matrix, k: int) -> Lists:
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=k + 1, num_threads=THREADS)
    model.fit(matrix, show_progress=False)
    similarity = model.similarity.tocoo()
    return similarity.row.astype(np.int32), similarity.col.astype(np.int32), similarity.data


def run_sparse_dot_topn(matrix: sp.csr_matrix, k: int) -> Lists:
    from sparse_dot_topn import sp_matmul_topn

    unit = _unit_columns(matrix)
    result = sp_matmul_topn(unit.T.tocsr(), unit, top_n=k + 1, n_threads=THREADS).tocoo()
    return result.row.astype(np.int32), result.col.astype(np.int32), result.data


def run_dimrec(matrix: sp.csr_matrix, k: int, algorithm: str, threshold: float) -> Lists:
    from dimrec.params import TrainParams
    from dimrec.train.local.cosine import compute_neighbours

    params = TrainParams(algorithm=algorithm, threshold=threshold, top_k=k)  # type: ignore[arg-type]
    result = compute_neighbours(matrix, params, threads=THREADS, timings=STEP_TIMINGS)
    return result.item, result.neighbour, result.similarity


STEP_TIMINGS: dict[str, float] = {}


def _contender(name: str, matrix: sp.csr_matrix, k: int) -> Lists:
    if name == "dimrec-exact":
        return run_dimrec(matrix, k, "exact", 0.0)
    if name.startswith("dimsum-all-pairs-"):
        return run_dimrec(matrix, matrix.shape[1], "dimsum", float(name.rsplit("-", 1)[1]))
    if name.startswith("dimsum-"):
        return run_dimrec(matrix, k, "dimsum", float(name.split("-")[1]))
    if name == "dimrec-all-pairs":
        return run_dimrec(matrix, matrix.shape[1], "exact", 0.0)
    return {"implicit": run_implicit, "scipy": run_scipy, "sparse_dot_topn": run_sparse_dot_topn}[
        name
    ](matrix, k)


def _peak_mib() -> float:
    """This process's RSS high-water mark. VmHWM starts afresh at exec, unlike ru_maxrss,
    which Linux carries over from the parent process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(matrix_path: Path, name: str, k: int, out_path: Path) -> None:
    matrix = sp.load_npz(matrix_path).tocsr()
    # Imports and compiled kernels are loaded before the clock starts, for every contender.
    if name.startswith(("dimrec", "dimsum")):
        run_dimrec(sp.csr_matrix(np.eye(3)), 2, "exact", 0.0)
        STEP_TIMINGS.clear()
    elif name == "implicit":
        import implicit.nearest_neighbours  # noqa: F401
        from implicit.utils import ParameterWarning

        warnings.filterwarnings("ignore", category=ParameterWarning)  # it converts COO itself
    elif name == "sparse_dot_topn":
        import sparse_dot_topn  # noqa: F401
    baseline = _peak_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    item, neighbour, similarity = _contender(name, matrix, k)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    np.savez(out_path, item=item, neighbour=neighbour, similarity=similarity)
    stats = {"wall": wall, "cpu": cpu, "peak_mib": _peak_mib(), "baseline_mib": baseline}
    out_path.with_suffix(".json").write_text(json.dumps({**stats, "steps": STEP_TIMINGS}))


def run_worker(matrix_path: Path, name: str, k: int, workdir: Path) -> tuple[dict[str, Any], Lists]:
    out = workdir / f"{matrix_path.stem}-{name}.npz"
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "OPENBLAS_NUM_THREADS": str(THREADS)}
    command = [sys.executable, __file__, "--worker", str(matrix_path), name, str(k), str(out)]
    subprocess.run(command, check=True, env=env)
    stats = json.loads(out.with_suffix(".json").read_text())
    with np.load(out) as saved:
        lists = (saved["item"], saved["neighbour"], saved["similarity"])
    out.unlink()
    return stats, lists


# --- comparisons ---------------------------------------------------------------------------


def canonical(lists: Lists, k: int) -> Lists:
    """Self and zeros out, best first (similarity desc, neighbour asc), at most k per item."""
    item, neighbour, similarity = lists
    keep = (item != neighbour) & (similarity > 0)
    item, neighbour, similarity = item[keep], neighbour[keep], similarity[keep]
    order = np.lexsort((neighbour, -similarity, item))
    item, neighbour, similarity = item[order], neighbour[order], similarity[order]
    starts = np.r_[0, np.flatnonzero(np.diff(item)) + 1] if len(item) else np.zeros(0, int)
    rank = np.arange(len(item)) - np.repeat(starts, np.diff(np.r_[starts, len(item)]))
    keep = rank < k
    return item[keep], neighbour[keep], similarity[keep]


def _keys(lists: Lists, n: int) -> npt.NDArray[np.int64]:
    return lists[0].astype(np.int64) * n + lists[1]


def _lookup(
    lists: Lists, n: int, keys: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """For each key (item·n + neighbour): whether ``lists`` holds it, and its similarity."""
    own = _keys(lists, n)
    if len(own) == 0:
        return np.zeros(len(keys), dtype=bool), np.zeros(len(keys))
    order = np.argsort(own)
    position = np.minimum(np.searchsorted(own[order], keys), len(own) - 1)
    found = own[order][position] == keys
    return found, np.where(found, lists[2][order][position], 0.0)


def _size(*lists: Lists) -> int:
    return int(max(max(a[0].max(initial=0), a[1].max(initial=0)) for a in lists)) + 1


def compare_lists(reference: Lists, other: Lists) -> dict[str, Any]:
    """Items whose top-K neighbour sets are identical, differ only within a tie at the K-th
    similarity, or differ otherwise; and the largest similarity difference on shared pairs.
    Both are canonical (item asc, similarity desc)."""
    n = _size(reference, other)
    in_other, other_sim = _lookup(other, n, _keys(reference, n))
    in_reference, _ = _lookup(reference, n, _keys(other, n))
    count_ref = np.bincount(reference[0], minlength=n)
    count_other = np.bincount(other[0], minlength=n)
    listed = (count_ref > 0) | (count_other > 0)
    differs = np.zeros(n, dtype=bool)
    differs[reference[0][~in_other]] = True
    differs[other[0][~in_reference]] = True
    # The K-th (last, lowest) similarity of each item's reference list.
    kth = np.zeros(n)
    if len(reference[0]):
        last = np.r_[np.flatnonzero(np.diff(reference[0])), len(reference[0]) - 1]
        kth[reference[0][last]] = reference[2][last]
    off_tie = np.zeros(n, dtype=bool)
    ref_only = ~in_other
    off_tie[
        reference[0][ref_only][np.abs(reference[2][ref_only] - kth[reference[0][ref_only]]) > TIE]
    ] = True
    other_only = ~in_reference
    off_tie[
        other[0][other_only][np.abs(other[2][other_only] - kth[other[0][other_only]]) > TIE]
    ] = True
    tie_only = differs & ~off_tie & (count_ref == count_other)
    other_diff = differs & ~tie_only
    delta = np.abs(reference[2][in_other] - other_sim[in_other])
    return {
        "items": int(listed.sum()),
        "identical": int((listed & ~differs).sum()),
        "tie_at_kth": int(tie_only.sum()),
        "other": int(other_diff.sum()),
        "max_abs_sim_delta": float(delta.max(initial=0.0)),
        "other_examples": np.flatnonzero(other_diff)[:5].tolist(),
    }


def dimsum_quality(exact: Lists, dimsum: Lists, threshold: float) -> dict[str, Any]:
    """Recall of the exact top-K lists, and relative errors of the pairs ≥ threshold that
    both top-K lists hold."""
    n = _size(exact, dimsum)
    found, estimate = _lookup(dimsum, n, _keys(exact, n))
    above = found & (exact[2] >= threshold)
    errs = np.abs(estimate[above] - exact[2][above]) / exact[2][above]
    return {
        "recall": float(found.mean()) if len(found) else 1.0,
        "pairs_ge_threshold_in_both": len(errs),
        "within_20pct": float(np.mean(errs <= 0.2)) if len(errs) else None,
        "median_rel_err": float(np.median(errs)) if len(errs) else None,
    }


def full_pair_accuracy(exact_all: Lists, dimsum_all: Lists, threshold: float) -> dict[str, Any]:
    """Over every pair with exact similarity ≥ threshold (a missing estimate counts as 0)."""
    n = _size(exact_all, dimsum_all)
    above = exact_all[2] >= threshold
    truth = exact_all[2][above]
    keys = _keys(exact_all, n)[above]
    _, estimate = _lookup(dimsum_all, n, keys)
    return relative_errors(estimate, truth)


def relative_errors(estimate: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """How far the estimates of the pairs ≥ threshold are from the truth: the share within
    20% (DIMSUM's promise), the median and the 95th percentile of the relative error."""
    errs = np.abs(estimate - truth) / truth
    return {
        "pairs_ge_threshold": len(truth),
        "within_20pct": float(np.mean(errs <= 0.2)) if len(errs) else None,
        "median_rel_err": float(np.median(errs)) if len(errs) else None,
        "p95_rel_err": float(np.quantile(errs, 0.95)) if len(errs) else None,
    }


# --- the run -------------------------------------------------------------------------------


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["wall"])


def sampled_promise(matrix: sp.csr_matrix, threshold: float) -> dict[str, Any]:
    """DIMSUM's promise over the rows of SAMPLED_ITEMS items drawn at random: the share of
    their pairs ≥ threshold (each pair as likely to be counted as in a full count) whose
    estimate — from the very sample the kernel sums — is within 20%."""
    from dimrec.train.dimsum import dimsum_gamma, scaled_matrix

    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    n_items = matrix.shape[1]
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(n_items, min(n_items, SAMPLED_ITEMS), replace=False))
    unit = scaled_matrix(matrix, float("inf"), seed=0).matrix.tocsc()
    estimated = scaled_matrix(matrix, dimsum_gamma(threshold, n_items), seed=42).matrix.tocsc()
    exact = (unit[:, chosen].T @ unit).tocoo()
    above = (exact.data >= threshold) & (chosen[exact.row] != exact.col)
    rows, cols, truth = exact.row[above], exact.col[above], exact.data[above]
    estimate = np.asarray((estimated[:, chosen].T @ estimated).tocsr()[rows, cols]).ravel()
    return {**relative_errors(estimate, truth), "sampled_items": len(chosen)}


def products(matrix: sp.csr_matrix, thresholds: list[str]) -> dict[str, Any]:
    """Pair products of exact cosine and (expected) of DIMSUM per threshold, and what
    ``algorithm = "cosine"`` chooses (dimrec.train.dimsum)."""
    from dimrec.train.dimsum import choose_cosine, dimsum_products, exact_products

    exact = exact_products(np.diff(matrix.indptr))
    out: dict[str, Any] = {"exact": exact}
    for t in thresholds:
        sampled = dimsum_products(matrix, float(t))
        expected = functools.partial(float, sampled)
        out[t] = {"dimsum": sampled, "cosine": choose_cosine(exact, expected)}
    return out


def bench_dataset(name: str, k: int, repeat: int, workdir: Path, log: Any) -> dict[str, Any]:
    matrix = DATASETS[name]()
    matrix.sort_indices()
    path = workdir / f"{name}.npz"
    sp.save_npz(path, matrix, compressed=False)
    shape = {"users": matrix.shape[0], "items": matrix.shape[1], "entries": int(matrix.nnz)}
    log(
        f"## {name}: {shape['users']:,} users × {shape['items']:,} items, "
        f"{shape['entries']:,} entries, K={k}"
    )
    thresholds = ["0.1", "0.5"]
    counted = products(matrix, thresholds)
    log(f"  pair products: {json.dumps(counted)}")
    promise = {t: sampled_promise(matrix, float(t)) for t in thresholds}
    del matrix
    contenders = [c for c in CONTENDERS if c not in SKIP.get(name, set())]
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    checks: dict[str, dict[str, Any]] = {}
    quality: dict[str, dict[str, Any]] = {}
    exact: Lists | None = None
    for round_ in range(repeat):  # rounds interleave the contenders: load drifts over time
        for contender in contenders:  # dimrec-exact first: the others are checked against it
            run, result = run_worker(path, contender, k, workdir)
            runs[contender].append(run)
            log(
                f"  {contender} (run {round_ + 1}): {run['wall']:.2f}s wall, "
                f"{run['cpu']:.2f}s cpu, {run['peak_mib']:.0f} MiB peak "
                f"({run['baseline_mib']:.0f} before)"
            )
            if round_ > 0:
                continue
            # Compared at once, so that only dimrec exact's lists stay in memory.
            if contender == "dimrec-exact":
                exact = result  # already canonical
            elif contender.startswith("dimsum-"):
                threshold = contender.split("-")[1]
                quality[threshold] = dimsum_quality(exact, result, float(threshold))  # type: ignore[arg-type]
            else:
                checks[contender] = compare_lists(exact, canonical(result, k))  # type: ignore[arg-type]
            del result
    stats = {contender: _best(contender_runs) for contender, contender_runs in runs.items()}
    for t in thresholds:
        quality[t]["sampled_rows"] = promise[t]
    if shape["items"] <= FULL_PAIRS_MAX_ITEMS:
        _, exact_all = run_worker(path, "dimrec-all-pairs", k, workdir)
        for t in thresholds:
            _, dimsum_all = run_worker(path, f"dimsum-all-pairs-{t}", k, workdir)
            quality[t]["all_pairs"] = full_pair_accuracy(exact_all, dimsum_all, float(t))
    path.unlink()
    return {
        "dataset": name,
        **shape,
        "k": k,
        "stats": stats,
        "checks": checks,
        "dimsum": quality,
        "products": counted,
    }


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def best_peer(stats: dict[str, Any], key: str) -> tuple[str, float]:
    """The faster of the peers that ran, by ``key`` (wall or cpu)."""
    ran = [(stats[p][key], p) for p in PEERS if p in stats]
    seconds, peer = min(ran)
    return peer, seconds


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "### Time and memory (best of the repeats: wall s / cpu s / peak RSS MiB (+ over the "
        "RSS with the data loaded and libraries imported))",
        "",
        "| data set | " + " | ".join(CONTENDERS) + " | exact / best peer (wall, cpu) |",
        "|---" * (len(CONTENDERS) + 2) + "|",
    ]
    for r in results:
        s = r["stats"]
        cells = [
            (
                f"{s[c]['wall']:.2f} / {s[c]['cpu']:.2f} / {s[c]['peak_mib']:.0f} "
                f"(+{s[c]['peak_mib'] - s[c]['baseline_mib']:.0f})"
            )
            if c in s
            else "—"
            for c in CONTENDERS
        ]
        peer, wall = best_peer(s, "wall")
        _, cpu = best_peer(s, "cpu")
        ratio = (
            f"**{s['dimrec-exact']['wall'] / wall:.2f}** ({peer}), "
            f"{s['dimrec-exact']['cpu'] / cpu:.2f}"
        )
        lines.append(f"| {r['dataset']} | " + " | ".join(cells) + f" | {ratio} |")
    lines += [
        "",
        "### dimrec exact's top-K lists against the others (items)",
        "",
        "| data set | other | identical | differ only in a tie at the K-th | other differences "
        "| max Δsim on shared pairs |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for other, c in r["checks"].items():
            lines.append(
                f"| {r['dataset']} | {other} | {c['identical']:,} | {c['tie_at_kth']:,} | "
                f"{c['other']:,} | {c['max_abs_sim_delta']:.1e} |"
            )
    lines += [
        "",
        "### DIMSUM against exact",
        "",
        "| data set | threshold | time vs exact (wall, cpu) | products vs exact | cosine "
        "chooses | recall of exact top-K | pairs ≥ t within 20% (median, p95 rel. err) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        exact_products = r["products"]["exact"]
        for t, q in r["dimsum"].items():
            run, exact_run = r["stats"][f"dimsum-{t}"], r["stats"]["dimrec-exact"]
            full = q.get("all_pairs") or q["sampled_rows"]
            scope = "all pairs" if "all_pairs" in q else f"rows of {SAMPLED_ITEMS:,} items"
            product = r["products"][t]
            lines.append(
                f"| {r['dataset']} | {t} | {run['wall'] / exact_run['wall']:.2f}, "
                f"{run['cpu'] / exact_run['cpu']:.2f} | "
                f"{product['dimsum'] / max(exact_products, 1):.3f} of {exact_products:.3g} | "
                f"{product['cosine']} | {q['recall']:.3f} | "
                f"{_fmt(full['within_20pct'], '.3f')} of {full['pairs_ge_threshold']:,} "
                f"{scope} ({_fmt(full['median_rel_err'], '.3f')}, "
                f"{_fmt(full['p95_rel_err'], '.3f')}) |"
            )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        **{p: version(p) for p in ("numpy", "scipy", "numba", "implicit", "sparse-dot-topn")},
    }


def _enough_memory(name: str) -> bool:
    import psutil

    need_gib = {"shop-5M-1M": 16}.get(name, 0)
    return psutil.virtual_memory().available / 2**30 >= need_gib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="real sets + 100k × 20k shops")
    parser.add_argument("--datasets", nargs="*", choices=sorted(DATASETS), help="only these")
    parser.add_argument("--top-k", type=int, default=TOP_K)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (best kept)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results",
        help="folder for train_local.json and train_local.md (default bench/results)",
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        matrix_path, name, k, out = args.worker
        worker(Path(matrix_path), name, int(k), Path(out))
        return
    real = ["ml-latest-small", "ml-100k", "online-retail"]
    quick = [*real, "shop-100k-20k", "heavy-100k-20k"]
    names = args.datasets or (
        quick if args.quick else [*real, "shop-1M-200k", "shop-5M-1M", "heavy-300k-50k"]
    )
    env = environment()
    print(f"environment: {json.dumps(env)}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="dimrec-bench-") as tmp:
        for name in names:
            if not _enough_memory(name):
                print(f"## {name}: skipped, not enough free memory", flush=True)
                continue
            results.append(
                bench_dataset(
                    name, args.top_k, args.repeat, Path(tmp), lambda line: print(line, flush=True)
                )
            )
    table = report(results)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_local.json").write_text(
        json.dumps({"environment": env, "results": results}, indent=1)
    )
    (args.out / "train_local.md").write_text(f"environment: {json.dumps(env)}\n\n{table}\n")


if __name__ == "__main__":
    main()
