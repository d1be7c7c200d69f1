"""Load test: ``dimrec serve`` against the original design's serving path, with wrk on loopback.

    .venv/bin/python -m bench.serve_load            # ≈ 10 min; results in bench/results/
    .venv/bin/python -m bench.serve_load --quick    # ≈ 2 min smoke run (20k items, 3 s runs)

1. Builds (once; reused while its parameters stay the same) a synthetic model of 100k items ×
   100 neighbours (``bench/serving.py``) in a SQLite store under ``var/bench/serve/``, written
   as the publisher writes it: packed entries and the serving index file.
2. Samples request paths for shoppers of 1, 10 and 50 input items (a category, then items of it
   by popularity; 70% browsed, 20% basket, 10% purchased), ``n=10``.
3. Starts four servers, each with 2 worker processes:

   - **dimrec**: ``dimrec serve --workers 2`` (maps the serving index);
   - **original**: the original design — Flask on gunicorn (2 gthread workers × 4 threads)
     that per request fetches every input item's neighbour list from a real Redis as JSON
     (one ``MGET``), sums weight × similarity in a dict and takes the top n with ``heapq``;
   - **sqlite**: the same Flask app reading the lists from the SQLite store
     (``Store.neighbours``) instead of Redis JSON;
   - **floor**: uvicorn as ``dimrec serve`` runs it (httptools, uvloop, SO_REUSEPORT workers,
     request limits) answering every request with a fixed body: what HTTP alone costs here.

   Checks that dimrec, original and sqlite give the same answers on sampled requests.
4. For each number of connections (8, 32) and request size, runs wrk (one thread, a warm-up,
   then ``--duration`` seconds) against each server, rotating through the sampled paths
   (``bench/serve_load.lua``). Records requests/s, p50/p99 latency, errors (socket errors and
   non-2xx answers), the servers' CPU time per request (their process trees, via psutil) and,
   for dimrec, how many requests each worker answered (its ``/metrics``).
5. Times scoring alone in this process (CPU time): dimrec's scorer against summing in a Python
   dict with a heap, on the same model and shoppers.

Prints a Markdown table with the ratios to the original design measured in the same run and
writes it with the raw numbers to ``bench/results/serve_load.md`` and ``.json``
(``serve_load-quick.*`` with ``--quick``). wrk and redis-server are Debian packages
(``scripts/ensure-system-deps.sh`` installs them).
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
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import numpy as np
import orjson
import psutil
from bench.serving import (
    CATEGORY,
    ROOT,
    cpu_seconds,
    ensure_store,
    free_port,
    item_ids,
    popularity_weights,
    redis_server,
    running,
    wait_ready,
    worker_requests,
    wrk,
)

from dimrec.config import WeightsSettings
from dimrec.publish.stores import open_store

STORE_ENV = "SERVE_LOAD_STORE"
REDIS_ENV = "SERVE_LOAD_REDIS"
PARAMS = (("browsed", "browse"), ("basket", "basket"), ("purchased", "purchase"))
GOAL_RATIO = 8.0
GOAL_P99_MS = 5.0


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


def shopper_weights(path: str) -> dict[str, float]:
    action_weights = WeightsSettings().as_dict()
    weights_of = {param: action_weights[action] for param, action in PARAMS}
    weights: dict[str, float] = {}
    for param, value in parse_qsl(path.partition("?")[2]):
        for item in value.split(",") if param in weights_of else ():
            weights[item] = weights.get(item, 0.0) + weights_of[param]
    return weights


# --- the original design and the other peers ----------------------------------------------


def dict_scores(
    lists: dict[str, Any], weights: dict[str, float], n: int
) -> list[tuple[str, float]]:
    """The original scoring: sum weight × similarity in a dict, top n with a heap. ``lists``
    maps an item to its ``[[neighbour, similarity], ...]``."""
    scores: dict[str, float] = {}
    for item, weight in weights.items():
        for other, similarity in lists.get(item) or ():
            scores[other] = scores.get(other, 0.0) + weight * similarity
    for item in weights:
        scores.pop(item, None)
    return heapq.nsmallest(n, scores.items(), key=lambda pair: (-pair[1], pair[0]))


def _flask_app(fetch: Any, version: str) -> Any:
    from flask import Flask, jsonify, request

    app = Flask("serve_load_baseline")

    @app.get("/make_recommendation")
    def make_recommendation() -> Any:
        started = time.perf_counter()
        weights = shopper_weights("?" + request.query_string.decode())
        n = int(request.args.get("n", 10))
        top = dict_scores(fetch(list(weights)), weights, n)
        return jsonify(
            results=[{"item": item, "score": score} for item, score in top],
            version=version,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    return app


def original_app() -> Any:
    """The original design (gunicorn factory): each input item's list from Redis as JSON."""
    import redis

    client = redis.Redis.from_url(os.environ[REDIS_ENV])

    def fetch(items: list[str]) -> dict[str, Any]:
        found = client.mget([f"nbr:{item}" for item in items])
        return {item: json.loads(raw) for item, raw in zip(items, found, strict=True) if raw}

    return _flask_app(fetch, "original")


def store_app() -> Any:
    """The same app reading the lists from the store (gunicorn factory)."""
    store = open_store(os.environ[STORE_ENV])
    version = store.current()
    assert version is not None

    def fetch(items: list[str]) -> dict[str, Any]:
        found = store.neighbours(version, items)
        return {i: list(zip(e.neighbours, e.scores, strict=True)) for i, e in found.items()}

    return _flask_app(fetch, version)


_FLOOR_BODY = orjson.dumps(
    {"results": [{"item": f"SKU{k:07d}", "score": 0.25} for k in range(10)], "version": "floor"}
)


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A fixed answer of the size of dimrec's: what uvicorn and HTTP alone cost."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": _FLOOR_BODY})


def serve_floor(port: int, workers: int) -> None:
    """Serve :func:`floor_app` the way ``dimrec serve`` serves dimrec."""
    from dimrec.config import ServeSettings
    from dimrec.serve.limits import LimitConfig
    from dimrec.serve.server import Supervisor

    config = LimitConfig(
        "bench.serve_load:floor_app",
        limits=ServeSettings(),
        host="127.0.0.1",
        port=port,
        workers=workers,
        loop="uvloop",
        access_log=False,
        log_level="warning",
        backlog=2048,
    )
    Supervisor(config, sockets=[]).run()


def load_redis(url: str, store_url: str) -> None:
    """Every list of the store's current version into Redis as JSON (``nbr:<item>``)."""
    import redis

    client = redis.Redis.from_url(url)
    started = time.perf_counter()
    with open_store(store_url) as store:
        version = store.current()
        assert version is not None
        pipe = client.pipeline(transaction=False)
        for count, entry in enumerate(store.entries(version), 1):
            pairs = [[n, s] for n, s in zip(entry.neighbours, entry.scores, strict=True)]
            pipe.set(f"nbr:{entry.item}", json.dumps(pairs))
            if count % 2000 == 0:
                pipe.execute()
        pipe.execute()
    print(f"lists loaded into Redis as JSON in {time.perf_counter() - started:.1f} s")
    client.close()


# --- measuring ------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    server: str
    size: int
    connections: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_ms_per_request: float
    per_worker: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def measure(
    server: str,
    url: str,
    process: psutil.Process,
    size: int,
    connections: int,
    paths_file: Path,
    args: argparse.Namespace,
) -> Run:
    wrk(url, paths_file, args.warmup, connections)
    before = worker_requests(url) if server == "dimrec" else {}
    cpu_before = cpu_seconds(process)
    found = wrk(url, paths_file, args.duration, connections)
    cpu = cpu_seconds(process) - cpu_before
    after = worker_requests(url) if server == "dimrec" else {}
    latency = found["latency_us"]
    requests = int(found["requests"])
    run = Run(
        server=server,
        size=size,
        connections=connections,
        requests=requests,
        seconds=found["duration_us"] / 1e6,
        errors=sum(found["errors"].values()),
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        cpu_ms_per_request=1000 * cpu / max(requests, 1),
        per_worker=sorted((after[k] - before.get(k, 0) for k in after), reverse=True),
    )
    shares = _shares(run.per_worker)
    print(
        f"  {server:8} {size:3} items, {connections:2} conn: {run.throughput:8.0f} req/s  "
        f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}  "
        f"cpu {run.cpu_ms_per_request:.3f} ms/req{'  workers ' + shares if shares else ''}"
    )
    return run


def _shares(per_worker: Sequence[float]) -> str:
    total = sum(per_worker)
    return " / ".join(f"{value / total:.0%}" for value in per_worker) if total else ""


def agreement(urls: dict[str, str], paths: Sequence[str]) -> tuple[int, int]:
    """How many sampled requests every server answers with the same items and scores."""
    same = 0
    with httpx.Client(timeout=30) as client:
        for path in paths:
            answers = [client.get(url + path).json()["results"] for url in urls.values()]
            first = answers[0]
            same += all(_same(first, other) for other in answers[1:])
    return same, len(paths)


def _same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> bool:
    return len(ours) == len(theirs) and all(
        a["item"] == b["item"] and abs(a["score"] - b["score"]) <= 1e-5 * abs(b["score"])
        for a, b in zip(ours, theirs, strict=True)
    )


def scoring_cpu(store_url: str, sizes: Sequence[int], paths: dict[int, list[str]]) -> list[str]:
    """CPU µs per shopper of dimrec's scorer and of dict accumulation, on the same model and
    shoppers (process CPU time: barely moved by other load on the machine)."""
    from dimrec.publish.serving_index import local_index
    from dimrec.serve.index import open_index
    from dimrec.serve.scoring import ServingState, recommend

    with open_store(store_url) as store:
        version = store.current()
        assert version is not None
        ref = store.index_ref(version)
        assert ref is not None
        path = local_index(store, version, ref, ROOT / "var" / "bench" / "index-cache")
        state = ServingState.of(open_index(path, ref, version), frozenset())
        lists = {
            e.item: list(zip(e.neighbours, e.scores, strict=True)) for e in store.entries(version)
        }
    rows = ["| input items | dimrec µs/shopper | dict + heap µs/shopper | ratio |"]
    rows.append("|---:|---:|---:|---:|")
    for size in sizes:
        shoppers = [shopper_weights(path) for path in paths[size][:2000]]
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


# --- the report -------------------------------------------------------------------------------


def table(runs: Sequence[Run]) -> str:
    by = {(r.server, r.size, r.connections): r for r in runs}
    lines = [
        "| connections | input items | server | requests/s | p50 ms | p99 ms | errors "
        "| server CPU ms/request | × original | × sqlite | requests per worker |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    order = {"dimrec": 0, "original": 1, "sqlite": 2, "floor": 3}
    for run in sorted(runs, key=lambda r: (r.connections, r.size, order[r.server])):
        ratios = []
        for peer in ("original", "sqlite"):
            base = by.get((peer, run.size, run.connections))
            shown = run.server in ("dimrec", "floor") and base is not None
            ratios.append(f"{run.throughput / base.throughput:.1f}×" if shown and base else "")
        size = "—" if run.server == "floor" else str(run.size)
        lines.append(
            f"| {run.connections} | {size} | {run.server} | {run.throughput:,.0f} | "
            f"{run.p50_ms:.2f} | {run.p99_ms:.2f} | {run.errors} | "
            f"{run.cpu_ms_per_request:.3f} | {ratios[0]} | {ratios[1]} | "
            f"{_shares(run.per_worker)} |"
        )
    return "\n".join(lines)


def goals(runs: Sequence[Run]) -> list[str]:
    by = {(r.server, r.size, r.connections): r for r in runs}
    found = []
    for connections in sorted({r.connections for r in runs}):
        ours, theirs = by.get(("dimrec", 10, connections)), by.get(("original", 10, connections))
        if ours and theirs:
            ratio = ours.throughput / theirs.throughput
            met = "met" if ratio >= GOAL_RATIO else "NOT met"
            found.append(
                f"- 10 input items, {connections} connections: {ratio:.1f}× the original design "
                f"(goal ≥ {GOAL_RATIO:g}×: {met}); errors {ours.errors}"
            )
        if ours and connections == 8:
            met = "met" if ours.p99_ms <= GOAL_P99_MS else "NOT met"
            found.append(f"- p99 at 8 connections: {ours.p99_ms:.2f} ms (goal ≤ 5 ms: {met})")
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--items", type=int, default=None, help="default 100000 (quick 20000)")
    parser.add_argument("--neighbours", type=int, default=100)
    parser.add_argument("--sizes", default=None, help="input items per request (1,10,50)")
    parser.add_argument("--connections", default="8,32", help="open wrk connections")
    parser.add_argument("--duration", type=float, default=None, help="seconds per run (15)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before each (3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
    parser.add_argument("--baseline-threads", type=int, default=4, help="gthread threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="rewrite the model")
    parser.add_argument("--floor", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor is not None:
        serve_floor(args.floor, args.workers)
        return
    quick = args.quick
    args.items = args.items or (20_000 if quick else 100_000)
    args.sizes = args.sizes or ("1,10" if quick else "1,10,50")
    args.duration = args.duration or (3.0 if quick else 15.0)
    args.warmup = args.warmup or (1.0 if quick else 3.0)
    load_before = os.getloadavg()[0]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run scripts/ensure-system-deps.sh")
    sizes = [int(s) for s in args.sizes.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    out = ROOT / "var" / "bench" / ("serve-quick" if quick else "serve")
    out.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{(out / 'store.db').resolve()}"
    ensure_store(store_url, args.items, args.neighbours, args.seed, args.rebuild)

    paths_files = {}
    for size in sizes:
        paths_files[size] = out / f"paths-{size}.txt"
        paths = request_paths(args.items, size, 20_000, args.seed)
        paths_files[size].write_text("\n".join(paths) + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(
        {
            STORE_ENV: store_url,
            "DIMREC_STORE__URL": store_url,
            "DIMREC_LOG_LEVEL": "WARNING",
            "DIMREC_PATHS__DATA": str(out),
        }
    )
    ports = {name: free_port() for name in ("dimrec", "original", "sqlite", "floor")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def gunicorn(name: str, factory: str) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "--chdir", str(ROOT),
            "--workers", str(args.workers), "--worker-class", "gthread",
            "--threads", str(args.baseline_threads), "--bind", f"127.0.0.1:{ports[name]}",
            "--log-level", "warning", f"bench.serve_load:{factory}()",
        ]  # fmt: skip

    commands = {
        "dimrec": [
            str(Path(sys.executable).with_name("dimrec")), "serve",
            "--port", str(ports["dimrec"]), "--workers", str(args.workers),
        ],
        "original": gunicorn("original", "original_app"),
        "sqlite": gunicorn("sqlite", "store_app"),
        "floor": [
            sys.executable, "-m", "bench.serve_load", "--floor", str(ports["floor"]),
            "--workers", str(args.workers),
        ],
    }  # fmt: skip
    runs: list[Run] = []
    with redis_server(out) as redis_url:
        load_redis(redis_url, store_url)
        env[REDIS_ENV] = redis_url
        with (
            running("dimrec", commands["dimrec"], env, out) as dimrec_process,
            running("original", commands["original"], env, out) as original_process,
            running("sqlite", commands["sqlite"], env, out) as sqlite_process,
            running("floor", commands["floor"], {**env, "PYTHONPATH": str(ROOT)}, out) as floor,
        ):
            processes = {
                "dimrec": dimrec_process,
                "original": original_process,
                "sqlite": sqlite_process,
                "floor": floor,
            }
            ready = wait_ready("dimrec serve", f"{urls['dimrec']}/readyz", dimrec_process)
            print(f"dimrec serve ready in {ready:.1f} s")
            probe = paths_files[sizes[0]].read_text().splitlines()[0]
            for name in ("original", "sqlite", "floor"):
                wait_ready(name, urls[name] + probe, processes[name])
            samples = [p for s in sizes for p in paths_files[s].read_text().splitlines()[:50]]
            compared = {name: urls[name] for name in ("dimrec", "original", "sqlite")}
            same, checked = agreement(compared, samples)
            print(f"answers agree on {same}/{checked} sampled requests")
            for count in connections:
                for size in sizes:
                    for name in ("dimrec", "original", "sqlite"):
                        run = measure(
                            name, urls[name], processes[name], size, count, paths_files[size], args
                        )
                        runs.append(run)
                runs.append(
                    measure("floor", urls["floor"], floor, 1, count, paths_files[sizes[0]], args)
                )

    scoring = "\n".join(
        scoring_cpu(
            store_url, sizes, {s: f.read_text().splitlines() for s, f in paths_files.items()}
        )
    )
    report = table(runs)
    checks = "\n".join(goals(runs))
    command = "python -m bench.serve_load " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, load average before {load_before:.1f}, after "
        f"{os.getloadavg()[0]:.1f}; {args.items:,} items × {args.neighbours} neighbours; wrk 1 "
        f"thread, {args.duration:g} s per run after {args.warmup:g} s of warm-up; every server "
        f"{args.workers} workers (gunicorn: gthread × {args.baseline_threads} threads); "
        f"answers agree on {same}/{checked} sampled requests"
    )
    print(f"\n{header}\n\n{report}\n\n{checks}\n\nScoring alone (CPU, one process):\n\n{scoring}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    name = "serve_load-quick" if quick else "serve_load"
    (results / f"{name}.md").write_text(
        f"`{command.strip()}`\n\n{header}\n\n{report}\n\n{checks}\n\n"
        f"Scoring alone (CPU, one process):\n\n{scoring}\n"
    )
    (results / f"{name}.json").write_text(
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
