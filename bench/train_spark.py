"""Benchmark of dimrec's Spark engine against Spark MLlib and dimrec's local engine (not a test).

    .venv/bin/python bench/train_spark.py            # real sets + the 1M × 200k shop
    .venv/bin/python bench/train_spark.py --quick    # real sets + a 100k × 20k shop

Every contender runs in a fresh worker process on ``local[2]`` with the same Spark settings
(driver memory, shuffle partitions) and starts from the same input: the data set written as
a day of dimrec profiles (Parquet: user, item, score). K = 100, no user filter. Contenders:

- ``spark-exact``, ``spark-dimsum-0.1``: ``SparkEngine.train`` (window sum, user filter,
  norms, pairs, integer pair sums, top K, collected through Arrow);
- ``mllib-exact``, ``mllib-0.1``: MLlib's ``RowMatrix.columnSimilarities()`` and
  ``columnSimilarities(0.1)``. MLlib needs the rows as vectors and returns the upper
  triangle of all similarities, so the timed run adds (a) *rows*: the same window sum and
  item index, rows written as sparse-vector Parquet and read back as a RowMatrix (all in
  the JVM, no Python per row), and (b) *top K*: the upper triangle mirrored and cut to each
  item's best K with the same DataFrame step dimrec uses, collected through Arrow — so both
  end with the same lists on the driver. The ratios use MLlib's similarity + top-K time
  (excluding the rows step, which favours MLlib) and, separately, its total;
- ``local-exact``, ``local-dimsum-0.1``: dimrec's local engine (two threads) on the same files.

Reported per run: wall seconds of the training (the JVM start is reported apart), peak RSS
of the JVM and of the Python driver (VmHWM), shuffle bytes written and read and bytes
spilled (Spark's REST API on loopback: /api/v1/applications/<id>/stages), and the ratios.
Checks: Spark exact's lists equal the local engine's; MLlib exact's similarities equal
dimrec's on shared pairs; DIMSUM's recall of the exact top-K lists. ``--timeout`` bounds
every run (a run that exceeds it is reported as such). Results print as Markdown tables;
``--json PATH`` also saves them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train_local import DATASETS, canonical, compare_lists  # noqa: E402

TOP_K = 100
DAY = dt.date(2026, 1, 1)
CONTENDERS = [
    "spark-exact",
    "mllib-exact",
    "spark-dimsum-0.1",
    "mllib-0.1",
    "local-exact",
    "local-dimsum-0.1",
]
NO_FILTER = {"min_items": 1, "max_items": 1_000_000_000}


# --- data ----------------------------------------------------------------------------------


def write_profiles(matrix: sp.csr_matrix, root: Path) -> str:
    """The matrix as one day of profiles (user ids = row numbers, item ids = column numbers
    as text); returns the file URL."""
    from dimrec import partitions

    coo = matrix.tocoo()
    table = pa.table(
        {
            "user": pa.array(coo.row.astype(np.int64)).cast(pa.string()),
            "item": pa.array(coo.col.astype(np.int64)).cast(pa.string()),
            "score": pa.array(coo.data.astype(np.float64)),
        }
    )
    store = partitions.profiles(str(root / "profiles"))
    store.write(DAY, table)
    return str(store.fs.unstrip_protocol(store.path(DAY)))


# --- measurements --------------------------------------------------------------------------


def _hwm_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _jvm_pids() -> list[int]:
    import psutil

    pids = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "java" in child.name():
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its JVM so far: less moved by other
    load on the machine than wall time."""
    import psutil

    total = 0.0
    for pid in [os.getpid(), *_jvm_pids()]:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def _stages(session: Any) -> dict[str, int]:
    """Totals over the application's stages from the UI's REST API (waits for the listener)."""
    url = session.sparkContext.uiWebUrl.rstrip("/")
    app = session.sparkContext.applicationId
    keys = ("shuffleWriteBytes", "shuffleReadBytes", "diskBytesSpilled", "memoryBytesSpilled")
    totals: dict[str, int] = {}
    for _ in range(20):
        with urllib.request.urlopen(f"{url}/api/v1/applications/{app}/stages") as reply:
            stages = json.loads(reply.read())
        if all(s["status"] in ("COMPLETE", "SKIPPED", "FAILED") for s in stages):
            totals = {k: int(sum(s.get(k, 0) for s in stages)) for k in keys}
            break
        time.sleep(0.5)
    return totals


# --- contenders (inside a worker process) --------------------------------------------------


def _session(partitions: int, driver_memory: str) -> Any:
    from dimrec.config import SparkSettings
    from dimrec.train.spark.session import get_session

    conf = {
        "spark.driver.memory": driver_memory,
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.default.parallelism": str(partitions),
        "spark.ui.enabled": "true",
        "spark.ui.port": "0",
        "spark.ui.showConsoleProgress": "false",
        "spark.local.dir": tempfile.gettempdir(),
    }
    session, _ = get_session(SparkSettings(master="local[2]", app_name="dimrec-bench", conf=conf))
    return session


def run_dimrec(session: Any, url: str, algorithm: str, threshold: float) -> tuple[Any, dict]:
    from dimrec.params import TrainParams
    from dimrec.train.spark import SparkEngine

    params = TrainParams(algorithm=algorithm, threshold=threshold, top_k=TOP_K, **NO_FILTER)
    result = SparkEngine(session=session).train([url], params)
    table = result.neighbours
    return table, {"steps": result.timings}


def run_local(url: str, algorithm: str, threshold: float) -> tuple[Any, dict]:
    from dimrec.params import TrainParams
    from dimrec.train.local.engine import LocalEngine

    params = TrainParams(algorithm=algorithm, threshold=threshold, top_k=TOP_K, **NO_FILTER)
    result = LocalEngine(threads=2).train([url], params)
    return result.neighbours, {"steps": result.timings}


def run_mllib(session: Any, url: str, threshold: float, workdir: Path) -> tuple[Any, dict]:
    from pyspark.mllib.common import callMLlibFunc
    from pyspark.mllib.linalg import VectorUDT
    from pyspark.mllib.linalg.distributed import RowMatrix
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructField, StructType

    from dimrec.train.spark.similarity import top_k

    steps: dict[str, float] = {}
    start = time.perf_counter()
    summed = (
        session.read.parquet(url).groupBy("user", "item").agg(F.sum("score").alias("score"))
    ).cache()
    items = summed.select("item").distinct().toArrow().sort_by("item").column("item")
    index = session.createDataFrame(
        pa.table({"item": items, "idx": pa.array(np.arange(len(items), dtype=np.int32))})
    )
    n = len(items)
    rows = (
        summed.join(F.broadcast(index), "item")
        .groupBy("user")
        .agg(F.array_sort(F.collect_list(F.struct("idx", "score"))).alias("r"))
        .select(
            F.struct(
                F.lit(0).cast("tinyint").alias("type"),
                F.lit(n).alias("size"),
                F.col("r.idx").alias("indices"),
                F.col("r.score").alias("values"),
            ).alias("vec")
        )
    )
    path = str(workdir / "mllib-rows")
    rows.write.mode("overwrite").parquet(path)
    summed.unpersist()
    vectors = session.read.schema(StructType([StructField("vec", VectorUDT())])).parquet(path)
    matrix = RowMatrix(vectors, 0, n)
    steps["rows"] = time.perf_counter() - start
    start = time.perf_counter()
    similarities = matrix.columnSimilarities(threshold)
    entries = callMLlibFunc("getMatrixEntries", similarities._java_matrix_wrapper._java_model)
    pairs = entries.select(
        F.col("i").cast("int").alias("i"),
        F.col("j").cast("int").alias("j"),
        F.col("value").alias("similarity"),
    )
    best = top_k(pairs, min(TOP_K, n - 1), n, at_most_one=threshold == 0).toArrow()
    steps["similarity+topk"] = time.perf_counter() - start
    table = pa.table(
        {
            "item": items.take(best.column("item")),
            "neighbour": items.take(best.column("neighbour")),
            "similarity": best.column("similarity"),
        }
    )
    return table, {"steps": steps}


def worker(name: str, url: str, out: Path, partitions: int, driver_memory: str) -> None:
    import pyarrow.parquet as pq

    info: dict[str, Any] = {}
    start = time.perf_counter()
    session = None
    if not name.startswith("local"):
        session = _session(partitions, driver_memory)
        info["jvm_start"] = time.perf_counter() - start
    algorithm = "exact" if name.endswith("exact") else "dimsum"
    threshold = 0.0 if algorithm == "exact" else 0.1
    cpu = _cpu_seconds()
    start = time.perf_counter()
    if name.startswith("spark"):
        table, extra = run_dimrec(session, url, algorithm, threshold)
    elif name.startswith("mllib"):
        table, extra = run_mllib(session, url, threshold, out.parent)
    else:
        table, extra = run_local(url, algorithm, threshold)
    info["wall"] = time.perf_counter() - start
    info["cpu"] = _cpu_seconds() - cpu
    info.update(extra)
    info["python_peak_mib"] = _hwm_mib()
    if session is not None:
        info["jvm_peak_mib"] = sum(_hwm_mib(pid) for pid in _jvm_pids())
        info["shuffle"] = _stages(session)
        session.stop()
    pq.write_table(table, out.with_suffix(".parquet"))
    out.write_text(json.dumps(info))


def run_worker(name: str, url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        url,
        str(out),
        str(args.partitions),
        args.driver_memory,
    ]
    try:
        subprocess.run(command, check=True, timeout=args.timeout, cwd=workdir)
    except subprocess.TimeoutExpired:
        return {"timeout": args.timeout}
    except subprocess.CalledProcessError as exc:
        return {"failed": exc.returncode}
    info: dict[str, Any] = json.loads(out.read_text())
    info["lists"] = str(out.with_suffix(".parquet"))
    return info


# --- comparisons and report ----------------------------------------------------------------


def _lists(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    item = pc.cast(table.column("item"), pa.int32()).to_numpy()
    neighbour = pc.cast(table.column("neighbour"), pa.int32()).to_numpy()
    return canonical((item, neighbour, table.column("similarity").to_numpy()), TOP_K)


def checks(runs: dict[str, dict[str, Any]], n_items: int) -> dict[str, Any]:
    lists = {name: _lists(r["lists"]) for name, r in runs.items() if "lists" in r}
    out: dict[str, Any] = {}
    exact = lists.get("spark-exact")
    if exact is None:
        return out
    if "local-exact" in lists:
        local = lists["local-exact"]
        out["spark == local (exact)"] = all(
            np.array_equal(a, b) for a, b in zip(exact, local, strict=True)
        )
    for other in ("mllib-exact", "spark-dimsum-0.1", "mllib-0.1", "local-dimsum-0.1"):
        if other in lists:
            out[other] = compare_lists(exact, lists[other])
            pairs = exact[0].astype(np.int64) * n_items + exact[1]
            found = lists[other][0].astype(np.int64) * n_items + lists[other][1]
            out[other]["recall"] = float(np.isin(pairs, found).mean()) if len(pairs) else 1.0
    return out


def _cell(run: dict[str, Any]) -> str:
    if "timeout" in run:
        return f"> {run['timeout']:.0f} s (timeout)"
    if "failed" in run:
        return f"failed ({run['failed']})"
    memory = run.get("jvm_peak_mib", 0) + run["python_peak_mib"]
    shuffle = run.get("shuffle", {}).get("shuffleWriteBytes")
    text = f"{run['wall']:.1f} s ({run['cpu']:.1f} s CPU), {memory:,.0f} MiB"
    return text + (f", {shuffle / 2**20:,.0f} MiB shuffled" if shuffle is not None else "")


def _ratio(a: dict[str, Any], b: dict[str, Any], key: str | None = None) -> str:
    if "wall" not in a or "wall" not in b:
        return "—"
    denominator = b["steps"][key] if key else b["wall"]
    return f"{a['wall'] / denominator:.2f}"


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "| data set | " + " | ".join(CONTENDERS) + " |",
        "|---" * (len(CONTENDERS) + 1) + "|",
    ]
    for r in results:
        lines.append(
            f"| {r['dataset']} | " + " | ".join(_cell(r["runs"][c]) for c in CONTENDERS) + " |"
        )
    lines += [
        "",
        "| data set | exact: spark / mllib (sim+topK) | exact: spark / mllib (total) "
        "| 0.1: spark / mllib (sim+topK) | 0.1: spark / mllib (total) | exact: spark / local "
        "| 0.1: spark / local | recall of exact top-K: spark-dimsum, mllib-0.1 "
        "| max Δsim mllib vs spark (exact) | spark == local |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        runs, c = r["runs"], r["checks"]
        recall = ", ".join(
            f"{c[x]['recall']:.3f}" if x in c else "—" for x in ("spark-dimsum-0.1", "mllib-0.1")
        )
        delta = f"{c['mllib-exact']['max_abs_sim_delta']:.1e}" if "mllib-exact" in c else "—"
        core = "similarity+topk"
        lines.append(
            f"| {r['dataset']} | {_ratio(runs['spark-exact'], runs['mllib-exact'], core)} "
            f"| {_ratio(runs['spark-exact'], runs['mllib-exact'])} "
            f"| {_ratio(runs['spark-dimsum-0.1'], runs['mllib-0.1'], core)} "
            f"| {_ratio(runs['spark-dimsum-0.1'], runs['mllib-0.1'])} "
            f"| {_ratio(runs['spark-exact'], runs['local-exact'])} "
            f"| {_ratio(runs['spark-dimsum-0.1'], runs['local-dimsum-0.1'])} "
            f"| {recall} | {delta} | {c.get('spark == local (exact)', '—')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="real sets + a 100k × 20k shop")
    parser.add_argument("--datasets", nargs="*", choices=sorted(DATASETS), help="only these")
    parser.add_argument("--contenders", nargs="*", choices=CONTENDERS, default=CONTENDERS)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--partitions", type=int, default=16, help="shuffle partitions")
    parser.add_argument("--driver-memory", default="6g", help="the JVM's heap (local mode)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, url, out, partitions, memory = args.worker
        worker(name, url, Path(out), int(partitions), memory)
        return
    real = ["ml-latest-small", "ml-100k", "online-retail"]
    names = args.datasets or [*real, "shop-100k-20k" if args.quick else "shop-1M-200k"]
    environment = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "spark": __import__("pyspark").__version__,
        "partitions": args.partitions,
        "driver_memory": args.driver_memory,
    }
    print(f"environment: {json.dumps(environment)}", flush=True)
    results = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"dimrec-bench-{name}-") as tmp:
            workdir = Path(tmp)
            matrix = DATASETS[name]()
            shape = {"users": matrix.shape[0], "items": matrix.shape[1], "entries": matrix.nnz}
            url = write_profiles(matrix, workdir)
            del matrix
            print(f"## {name}: {shape}", flush=True)
            runs = {}
            for contender in CONTENDERS:
                if contender not in args.contenders:
                    runs[contender] = {"failed": "skipped"}
                    continue
                runs[contender] = run_worker(contender, url, workdir, args)
                print(f"  {contender}: {_cell(runs[contender])}", flush=True)
            result = {
                "dataset": name,
                **shape,
                "runs": runs,
                "checks": checks(runs, shape["items"]),
            }
            for run in runs.values():
                run.pop("lists", None)
            results.append(result)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps({"environment": environment, "results": results}, indent=2))


if __name__ == "__main__":
    main()
