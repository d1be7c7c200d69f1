"""Load test: ``dimrec serve`` against the original design's serving path, with wrk on loopback.

    .venv/bin/python -m bench.serve_load            # about 3 minutes; results in bench/results/

1. Builds (once; reused while its parameters stay the same) a synthetic model of 100k items ×
   100 neighbours in a SQLite store under ``var/bench/serve/``, written through the store API.
   Items fall in categories of 1000; 80% of an item's neighbours share its category, 20% are
   popular items. Scores are best first.
2. Samples request paths for shoppers of 1, 10 and 50 input items (a category, then items of it
   by popularity; 70% browsed, 20% basket, 10% purchased), ``n=10``.
3. Starts ``dimrec serve --workers 2`` and the baseline: a Flask app on gunicorn that, per
   request, fetches each input item's neighbour list from the same store
   (``Store.neighbours``), sums scores in a Python dict and takes the top n with ``heapq`` —
   the original design's path. Checks that both give the same answers on sampled requests.
4. Runs wrk (one thread, ``--connections`` open connections, a warm-up then ``--duration``
   seconds) for each server and request size, rotating through the sampled paths
   (``bench/serve_load.lua``). Records requests/s, p50/p99 latency, errors (socket errors and
   non-2xx answers) and the servers' CPU time per request (their process trees, via psutil).
5. Times scoring alone in this process (CPU time): dimrec's NumPy scorer against summing in a
   Python dict with a heap, on the same model and shoppers.

Prints a Markdown table and writes it with the raw numbers to ``bench/results/serve_load.md``
and ``.json``. wrk is a Debian package (``scripts/ensure-system-deps.sh`` installs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import heapq
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from dimrec.config import WeightsSettings
from dimrec.publish.base import Entry, Store
from dimrec.publish.stores import open_store

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_suffix(".lua")
STORE_ENV = "SERVE_LOAD_STORE"
CATEGORY = 1000
BATCH = 2000
PARAMS = (("browsed", "browse"), ("basket", "basket"), ("purchased", "purchase"))


# --- the synthetic model ----------------------------------------------------------------


def item_ids(items: int) -> list[str]:
    return [f"SKU{k:07d}" for k in range(items)]


def model_version(items: int, neighbours: int, seed: int) -> str:
    return f"bench-{items}x{neighbours}-s{seed}"


def popularity_weights(items: int, seed: int) -> np.ndarray:
    """Zipf-like popularity of each item (item numbers are shuffled against it)."""
    rng = np.random.default_rng(seed + 1)
    ranks = rng.permutation(items) + 1
    weights = 1.0 / ranks**0.8
    return weights / weights.sum()


def neighbour_lists(items: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(neighbours, scores)``, both ``items × width``, best first, no self, no repeats."""
    rng = np.random.default_rng(seed)
    popular = np.argsort(-popularity_weights(items, seed))[: max(width * 50, 1000)]
    own = int(width * 0.8) + 20
    other = width - int(width * 0.8) + 20
    numbers = np.arange(items)[:, None]
    base = (numbers // CATEGORY) * CATEGORY
    size = np.minimum(CATEGORY, items - base)
    same = base + (numbers - base + rng.integers(1, CATEGORY, (items, own))) % size
    far = popular[rng.integers(0, len(popular), (items, other))]
    candidates = np.sort(np.concatenate([same, far], axis=1), axis=1)
    valid = candidates != numbers
    valid[:, 1:] &= candidates[:, 1:] != candidates[:, :-1]
    if (valid.sum(axis=1) < width).any():
        raise SystemExit("could not draw enough distinct neighbours; use more items")
    first = np.argsort(~valid, axis=1, kind="stable")[:, :width]
    chosen = rng.permuted(np.take_along_axis(candidates, first, axis=1), axis=1)
    scores = np.sort(rng.beta(2, 5, (items, width)).astype(np.float32), axis=1)[:, ::-1]
    return chosen, scores


def ensure_store(url: str, items: int, width: int, seed: int, rebuild: bool) -> Store:
    store = open_store(url)
    version = model_version(items, width, seed)
    if not rebuild and store.current() == version and store.count(version) == items:
        print(f"reusing {version} in {url}")
        return store
    print(f"writing {version} ({items} items × {width} neighbours) to {url} …")
    started = time.perf_counter()
    ids = item_ids(items)
    neighbours, scores = neighbour_lists(items, width, seed)
    manifest = {"version": version, "items": items, "neighbours": width, "seed": seed}
    store.stage(version, manifest)
    for start in range(0, items, BATCH):
        stop = min(start + BATCH, items)
        store.put_entries(
            version,
            [
                Entry(
                    ids[k], tuple(ids[j] for j in neighbours[k].tolist()), tuple(scores[k].tolist())
                )
                for k in range(start, stop)
            ],
        )
    popular = np.argsort(-popularity_weights(items, seed))[:2000]
    store.put_popularity(
        version, [ids[k] for k in popular.tolist()], np.linspace(1000, 1, len(popular)).tolist()
    )
    store.activate(version)
    for old in store.versions():
        if not old.current:
            store.drop(old.version)
    print(f"  written in {time.perf_counter() - started:.1f} s")
    return store


# --- requests -----------------------------------------------------------------------------


def request_paths(items: int, size: int, count: int, seed: int) -> list[str]:
    """``count`` paths of shoppers with ``size`` distinct input items from one category."""
    rng = np.random.default_rng(seed * 1000 + size)
    ids = item_ids(items)
    weights = popularity_weights(items, seed)
    categories = (items + CATEGORY - 1) // CATEGORY
    category_weight = np.add.reduceat(weights, np.arange(0, items, CATEGORY))
    paths = []
    for category in rng.choice(categories, count, p=category_weight / category_weight.sum()):
        lo, hi = category * CATEGORY, min(items, (category + 1) * CATEGORY)
        local = weights[lo:hi] / weights[lo:hi].sum()
        chosen = lo + rng.choice(hi - lo, size, replace=False, p=local)
        actions = rng.choice(3, size, p=[0.7, 0.2, 0.1])
        query = [
            f"{param}=" + ",".join(ids[k] for k in chosen[actions == a].tolist())
            for a, (param, _) in enumerate(PARAMS)
            if (actions == a).any()
        ]
        paths.append("/make_recommendation?" + "&".join([*query, "n=10"]))
    return paths


# --- the baseline: the original design's serving path -------------------------------------


def baseline_app() -> Any:
    """Flask app (gunicorn factory): per request, fetch every input item's neighbour list from
    the store, sum weight × similarity in a dict, top n with a heap."""
    from flask import Flask, jsonify, request

    store = open_store(os.environ[STORE_ENV])
    version = store.current()
    action_weights = WeightsSettings().as_dict()
    weights = {param: action_weights[action] for param, action in PARAMS}
    app = Flask("serve_load_baseline")

    @app.get("/make_recommendation")
    def make_recommendation() -> Any:
        started = time.perf_counter()
        given: dict[str, float] = {}
        for param, weight in weights.items():
            for item in request.args.get(param, "").split(","):
                if item:
                    given[item] = given.get(item, 0.0) + weight
        n = int(request.args.get("n", 10))
        scores: dict[str, float] = {}
        for item, entry in store.neighbours(version, given).items():
            weight = given[item]
            for other, similarity in zip(entry.neighbours, entry.scores, strict=True):
                scores[other] = scores.get(other, 0.0) + weight * similarity
        for item in given:
            scores.pop(item, None)
        top = heapq.nsmallest(n, scores.items(), key=lambda pair: (-pair[1], pair[0]))
        return jsonify(
            results=[{"item": item, "score": score} for item, score in top],
            version=version,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    return app


# --- scoring alone: NumPy (dimrec) against dict accumulation ---------------------------------


def dict_scores(
    lists: dict[str, tuple[tuple[str, ...], tuple[float, ...]]], weights: dict[str, float], n: int
) -> list[tuple[str, float]]:
    """The baseline's scoring: sum weight × similarity in a dict, top n with a heap."""
    scores: dict[str, float] = {}
    for item, weight in weights.items():
        neighbours, similarities = lists[item]
        for other, similarity in zip(neighbours, similarities, strict=True):
            scores[other] = scores.get(other, 0.0) + weight * similarity
    for item in weights:
        scores.pop(item, None)
    return heapq.nsmallest(n, scores.items(), key=lambda pair: (-pair[1], pair[0]))


def scoring_cpu(store_url: str, sizes: Sequence[int], paths: dict[int, list[str]]) -> list[str]:
    """CPU µs per shopper of dimrec's scorer and of dict accumulation, on the same model and
    shoppers (process CPU time: barely moved by other load on the machine)."""
    from urllib.parse import parse_qsl

    from dimrec.serve.index import build_index
    from dimrec.serve.scoring import ServingState, recommend

    store = open_store(store_url)
    version = store.current()
    assert version is not None
    entries = list(store.entries(version))
    state = ServingState.of(build_index(version, entries, []), frozenset())
    lists = {e.item: (e.neighbours, e.scores) for e in entries}
    store.close()
    action_weights = WeightsSettings().as_dict()
    weights_of = {param: action_weights[action] for param, action in PARAMS}
    rows = ["| input items | dimrec NumPy µs/shopper | dict + heap µs/shopper | ratio |"]
    rows.append("|---:|---:|---:|---:|")
    for size in sizes:
        shoppers = []
        for path in paths[size][:2000]:
            weights: dict[str, float] = {}
            for param, value in parse_qsl(path.partition("?")[2]):
                for item in value.split(",") if param in weights_of else ():
                    weights[item] = weights.get(item, 0.0) + weights_of[param]
            shoppers.append(weights)
        timings = []
        for score in (
            lambda w: recommend(state, w, 10),
            lambda w: dict_scores(lists, w, 10),
        ):
            started = time.process_time()
            for weights in shoppers:
                score(weights)
            timings.append((time.process_time() - started) / len(shoppers) * 1e6)
        rows.append(
            f"| {size} | {timings[0]:.0f} | {timings[1]:.0f} | {timings[1] / timings[0]:.1f}× |"
        )
    return rows


# --- running servers and wrk ----------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    name: str, command: Sequence[str], env: dict[str, str], cwd: Path
) -> Iterator[psutil.Process]:
    log = (cwd / f"{name}.log").open("w")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield psutil.Process(process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT if name == "dimrec" else signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def wait_ready(name: str, url: str, process: psutil.Process, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            raise SystemExit(f"{name} exited; see its log")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{name} was not ready within {timeout:.0f} s")


def cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


@dataclasses.dataclass
class Run:
    server: str
    size: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_ms_per_request: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, paths_file: Path, seconds: float, connections: int) -> dict[str, Any]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(LUA), url,
    ]  # fmt: skip
    env = {**os.environ, "SERVE_LOAD_PATHS": str(paths_file)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    line = next(row for row in done.stdout.splitlines() if row.startswith("SERVE_LOAD_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("SERVE_LOAD_JSON "))
    return result


def measure(
    server: str,
    url: str,
    process: psutil.Process,
    size: int,
    paths_file: Path,
    args: argparse.Namespace,
) -> Run:
    wrk(url, paths_file, args.warmup, args.connections)
    cpu_before = cpu_seconds(process)
    found = wrk(url, paths_file, args.duration, args.connections)
    cpu = cpu_seconds(process) - cpu_before
    latency = found["latency_us"]
    requests = int(found["requests"])
    run = Run(
        server=server,
        size=size,
        requests=requests,
        seconds=found["duration_us"] / 1e6,
        errors=sum(found["errors"].values()),
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        cpu_ms_per_request=1000 * cpu / max(requests, 1),
    )
    print(
        f"  {server:8} {size:3} items: {run.throughput:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
        f"p99 {run.p99_ms:7.2f} ms  errors {run.errors}  cpu {run.cpu_ms_per_request:.3f} ms/req"
    )
    return run


def agreement(dimrec_url: str, baseline_url: str, paths: Sequence[str]) -> tuple[int, int]:
    """How many sampled requests both servers answer with the same items and scores."""
    same = 0
    with httpx.Client(timeout=30) as client:
        for path in paths:
            ours = client.get(dimrec_url + path).json()["results"]
            theirs = client.get(baseline_url + path).json()["results"]
            same += len(ours) == len(theirs) and all(
                a["item"] == b["item"] and abs(a["score"] - b["score"]) <= 1e-5 * abs(b["score"])
                for a, b in zip(ours, theirs, strict=True)
            )
    return same, len(paths)


# --- the report -------------------------------------------------------------------------------


def table(runs: Sequence[Run]) -> str:
    baseline = {run.size: run for run in runs if run.server == "baseline"}
    lines = [
        "| server | input items | requests/s | p50 ms | p99 ms | errors | server CPU ms/request "
        "| × baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in sorted(runs, key=lambda r: (r.size, r.server != "dimrec")):
        base = baseline.get(run.size)
        ratio = (
            f"{run.throughput / base.throughput:.1f}×" if base and run.server == "dimrec" else ""
        )
        lines.append(
            f"| {run.server} | {run.size} | {run.throughput:,.0f} | {run.p50_ms:.2f} | "
            f"{run.p99_ms:.2f} | {run.errors} | {run.cpu_ms_per_request:.3f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--neighbours", type=int, default=100)
    parser.add_argument("--sizes", default="1,10,50", help="input items per request")
    parser.add_argument("--duration", type=float, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=8, help="open wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="dimrec serve workers")
    parser.add_argument("--baseline-workers", type=int, default=2)
    parser.add_argument("--baseline-threads", type=int, default=4, help="gthread threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "serve")
    parser.add_argument("--rebuild", action="store_true", help="rewrite the model")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run scripts/ensure-system-deps.sh")
    sizes = [int(s) for s in args.sizes.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{(args.out / 'store.db').resolve()}"
    ensure_store(store_url, args.items, args.neighbours, args.seed, args.rebuild).close()

    paths_files = {}
    for size in sizes:
        paths_files[size] = args.out / f"paths-{size}.txt"
        paths = request_paths(args.items, size, 20_000, args.seed)
        paths_files[size].write_text("\n".join(paths) + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(
        {STORE_ENV: store_url, "DIMREC_STORE__URL": store_url, "DIMREC_LOG_LEVEL": "WARNING"}
    )
    dimrec_port, baseline_port = free_port(), free_port()
    dimrec = Path(sys.executable).with_name("dimrec")
    dimrec_command = [
        str(dimrec),
        "serve",
        "--port",
        str(dimrec_port),
        "--workers",
        str(args.workers),
    ]
    baseline_command = [
        sys.executable, "-m", "gunicorn", "--chdir", str(ROOT),
        "--workers", str(args.baseline_workers), "--worker-class", "gthread",
        "--threads", str(args.baseline_threads), "--bind", f"127.0.0.1:{baseline_port}",
        "--log-level", "warning", "bench.serve_load:baseline_app()",
    ]  # fmt: skip
    dimrec_url = f"http://127.0.0.1:{dimrec_port}"
    baseline_url = f"http://127.0.0.1:{baseline_port}"
    runs: list[Run] = []
    with (
        running("dimrec", dimrec_command, env, args.out) as dimrec_process,
        running("baseline", baseline_command, env, args.out) as baseline_process,
    ):
        started = time.perf_counter()
        wait_ready("dimrec serve", f"{dimrec_url}/readyz", dimrec_process)
        print(f"dimrec serve ready in {time.perf_counter() - started:.1f} s")
        probe = paths_files[sizes[0]].read_text().splitlines()[0]
        wait_ready("baseline", baseline_url + probe, baseline_process)
        samples = [p for s in sizes for p in paths_files[s].read_text().splitlines()[:50]]
        same, checked = agreement(dimrec_url, baseline_url, samples)
        print(f"answers agree on {same}/{checked} sampled requests")
        for size in sizes:
            runs.append(
                measure("dimrec", dimrec_url, dimrec_process, size, paths_files[size], args)
            )
            runs.append(
                measure("baseline", baseline_url, baseline_process, size, paths_files[size], args)
            )

    scoring = "\n".join(
        scoring_cpu(
            store_url, sizes, {s: f.read_text().splitlines() for s, f in paths_files.items()}
        )
    )
    report = table(runs)
    command = "python -m bench.serve_load " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, load average before {load_before:.1f}; "
        f"{args.items:,} items × {args.neighbours} neighbours; wrk 1 thread, "
        f"{args.connections} connections, {args.duration:g} s per run; dimrec serve "
        f"{args.workers} workers; baseline gunicorn {args.baseline_workers} gthread workers × "
        f"{args.baseline_threads} threads; answers agree on {same}/{checked} sampled requests"
    )
    print(f"\n{header}\n\n{report}\n\nScoring alone (CPU time, one process):\n\n{scoring}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "serve_load.md").write_text(
        f"`{command.strip()}`\n\n{header}\n\n{report}\n\nScoring alone:\n\n{scoring}\n"
    )
    (results / "serve_load.json").write_text(
        json.dumps(
            {
                "header": header,
                "args": {k: str(v) for k, v in vars(args).items()},
                "runs": [dataclasses.asdict(r) | {"throughput": r.throughput} for r in runs],
            },
            indent=2,
        )
    )
    if same < checked:
        raise SystemExit(f"the servers disagree on {checked - same} of {checked} answers")


if __name__ == "__main__":
    main()
