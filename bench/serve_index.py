"""The serving index at catalogue scale: how fast a worker is ready, what a second worker
costs in memory, and a version switch under load.

    .venv/bin/python -m bench.serve_index            # 100k, 1M, 10M items: ≈ 25–35 min, ≈ 20 GB
                                                     # of disk at the peak (10M: 8.5 GB index)
    .venv/bin/python -m bench.serve_index --quick    # 20k and 100k items: ≈ 3 min

For each catalogue size (× 100 neighbours; items in categories of 1,000, each list drawn
from its category, scores best first):

1. **Write** the version's serving index with the publisher's writer
   (:func:`dimrec.publish.index_file.write_index`), items numbered directly (no string
   tables: 10M items × 100 neighbours would need 1G of them), under ``var/bench/index/``.
2. **Ready**: a fresh process maps the file, verifies its checksum, builds the serving state
   and answers one shopper — what a worker does once a version is on its host (page cache
   warm, as right after a fetch or a publish). Best and median of 3. Goal at 1M: ≤ 1 s.
3. **Memory**: one, then two worker processes map the file and answer 20,000 shoppers each
   (touching the lists they read); the host's memory is the sum of their PSS (shared pages
   counted once in all), each one's own is its USS. Goal: the second worker adds ≤ 10% of
   the index size. Beside it (sizes ≤ 1M), the same with the tables built in each worker's
   own memory, as an index without a file would be.
4. **Switch under load** (sizes ≤ 1M, not 10M: the SQLite store also holds every entry): a
   ``dimrec serve --workers 2`` over a SQLite store holding two versions; wrk at 8
   connections for 24 s while the current version is switched 3 times (activate, rollback,
   activate); counts failed requests (goal 0) and measures how long after each switch every
   answer comes from the new version; then the USS of each process of the real server (the
   supervisor and two workers, FastAPI and all).

Prints a Markdown table; raw results in ``bench/results/serve_index.json`` (and ``.md``;
``serve_index-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from bench.serving import (
    ROOT,
    ensure_store,
    free_port,
    memory,
    model_lists,
    popularity,
    running,
    wait_ready,
    write_version,
    wrk,
)

from dimrec.publish.base import IndexRef
from dimrec.publish.index_file import numbered_tables, write_index
from dimrec.publish.stores import open_store

WIDTH = 100
CHUNK = 200_000
#: Multipliers coprime to 999: k ↦ 1 + (a·k + b) mod 999 gives 100 distinct offsets in 1..999.
COPRIME = np.array([a for a in range(2, 999) if np.gcd(a, 999) == 1])


# --- writing a version -----------------------------------------------------------------------


def write_synthetic(folder: Path, items: int, seed: int) -> tuple[Path, IndexRef]:
    """The serving index of a synthetic version of ``items`` × 100 (reused when present)."""
    target = folder / f"v{items}.dmx"
    meta = folder / f"v{items}.json"
    if target.is_file() and meta.is_file():
        ref = IndexRef(**json.loads(meta.read_text()))
        if target.stat().st_size == ref.size:
            print(f"reusing {target} ({ref.size / 1e9:.2f} GB)")
            return target, ref
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    pairs = items * WIDTH
    neighbours = np.lib.format.open_memmap(folder / "neighbours.npy", "w+", np.int32, (pairs,))
    scores = np.lib.format.open_memmap(folder / "scores.npy", "w+", np.float32, (pairs,))
    steps = np.arange(WIDTH)
    for lo in range(0, items, CHUNK):
        hi = min(items, lo + CHUNK)
        numbers = np.arange(lo, hi)[:, None]
        a = rng.choice(COPRIME, (hi - lo, 1))
        b = rng.integers(0, 999, (hi - lo, 1))
        offsets = 1 + (a * steps + b) % 999
        base = (numbers // 1000) * 1000
        span = np.minimum(1000, items - base)
        chosen = base + (numbers - base + offsets) % span
        neighbours[lo * WIDTH : hi * WIDTH] = chosen.astype(np.int32).ravel()
        drawn = np.sort(rng.random((hi - lo, WIDTH), dtype=np.float32), axis=1)[:, ::-1]
        scores[lo * WIDTH : hi * WIDTH] = drawn.ravel()
    width = len(str(items - 1))
    id_bytes = "".join(f"SKU{k:0{width}d}" for k in range(items)).encode()
    id_offsets = np.arange(items + 1, dtype=np.int64) * (3 + width)
    tables = numbered_tables(
        f"v{items}",
        id_bytes,
        id_offsets,
        np.arange(items + 1, dtype=np.int64) * WIDTH,
        neighbours,
        scores,
        np.arange(min(items, 1000), dtype=np.int32),
        np.linspace(1000, 1, min(items, 1000)).astype(np.float32),
    )
    path, ref = write_index(tables, folder)
    del tables, neighbours, scores
    for name in ("neighbours.npy", "scores.npy"):
        (folder / name).unlink()
    path.rename(target)
    meta.write_text(json.dumps(ref.__dict__))
    print(f"wrote {target}: {ref.size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s")
    return target, ref


# --- a worker -------------------------------------------------------------------------------


def worker(path: Path, ref: IndexRef, version: str, mode: str, shoppers: int) -> None:
    """Run in a subprocess: get the index ready (``mapped`` or ``built`` in memory), answer
    ``shoppers`` random shoppers of 10 items, print timings, then wait for stdin to close."""
    started = time.perf_counter()
    from dimrec.serve.index import ModelIndex, open_index
    from dimrec.serve.scoring import ServingState, recommend

    imported = time.perf_counter()
    if mode == "mapped":
        index = open_index(path, ref, version)
    else:
        from dimrec.publish.index_file import map_index, numbered_tables

        mapped = map_index(path, ref, version)  # then copied into this process's memory
        tables = numbered_tables(
            version,
            bytes(mapped.blob[mapped.id_base : mapped.id_base + int(mapped.id_offsets[-1])]),
            np.array(mapped.id_offsets),
            np.array(mapped.starts),
            np.array(mapped.neighbours),
            np.array(mapped.scores),
            np.array(mapped.popular),
            np.array(mapped.popular_scores),
        )
        del mapped
        index = ModelIndex(tables, tables.size, "built")
    mapped_at = time.perf_counter()
    state = ServingState.of(index, frozenset())
    tables = index.tables
    first = recommend(state, {tables.id_of(0): 1.0, tables.id_of(1): 2.0}, 10)
    ready = time.perf_counter()
    assert first.results
    rng = np.random.default_rng(os.getpid())
    picks = rng.integers(0, index.size, (shoppers, 10)).tolist()
    served = time.perf_counter()
    for row in picks:
        recommend(state, dict.fromkeys(tables.ids_of(row), 1.0), 10)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "map_verify_s": mapped_at - imported,
                "state_and_first_answer_s": ready - mapped_at,
                "ready_s": ready - imported,
                "us_per_shopper": (done - served) / max(shoppers, 1) * 1e6,
            }
        ),
        flush=True,
    )
    sys.stdin.read()


def start_worker(path: Path, ref: IndexRef, version: str, mode: str, shoppers: int) -> Any:
    command = [
        sys.executable, "-m", "bench.serve_index", "--worker", str(path),
        "--ref", json.dumps(ref.__dict__), "--version", version, "--mode", mode,
        "--shoppers", str(shoppers),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def ready_times(path: Path, ref: IndexRef, version: str) -> dict[str, float]:
    found = []
    for _ in range(3):
        process = start_worker(path, ref, version, "mapped", 0)
        assert process.stdout is not None
        found.append(json.loads(process.stdout.readline()))
        process.communicate("")
    ready = [f["ready_s"] for f in found]
    return {
        "ready_best_s": min(ready),
        "ready_median_s": statistics.median(ready),
        "map_verify_median_s": statistics.median(f["map_verify_s"] for f in found),
    }


def memory_of(path: Path, ref: IndexRef, version: str, mode: str, shoppers: int) -> dict[str, Any]:
    """PSS and USS (MB) with one worker, then two."""
    workers = []
    steps = []
    try:
        for _ in range(2):
            process = start_worker(path, ref, version, mode, shoppers)
            assert process.stdout is not None
            timing = json.loads(process.stdout.readline())
            workers.append(process)
            infos = [psutil.Process(w.pid).memory_full_info() for w in workers]
            steps.append(
                {
                    "pss_total_mb": sum(i.pss for i in infos) / 1e6,
                    "uss_mb": [i.uss / 1e6 for i in infos],
                    "rss_mb": [i.rss / 1e6 for i in infos],
                    "us_per_shopper": timing["us_per_shopper"],
                }
            )
    finally:
        for process in workers:
            process.communicate("")
    added = steps[1]["pss_total_mb"] - steps[0]["pss_total_mb"]
    return {
        "one_worker": steps[0],
        "two_workers": steps[1],
        "second_worker_adds_mb": added,
        "second_worker_adds_share": added / (ref.size / 1e6),
    }


# --- switching versions under load ----------------------------------------------------------


def switch_under_load(items: int, seed: int, out: Path) -> dict[str, Any]:
    folder = out / f"store-{items}"
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(folder / 'store.db').resolve()}"
    first = ensure_store(url, items, WIDTH, seed)
    second = f"{first}-b"
    with open_store(url) as store:
        if second not in {v.version for v in store.versions()}:
            print(f"writing {second} …")
            write_version(
                store, second, model_lists(items, WIDTH, seed + 1, band=1.0),
                popularity(items, seed), activate=False,
            )  # fmt: skip
            store.activate(second)
            store.set_current(first)
    paths = out / f"paths-switch-{items}.txt"
    rng = np.random.default_rng(seed)
    paths.write_text(
        "\n".join(
            f"/make_recommendation?browsed=SKU{a:07d},SKU{b:07d}&n=10"
            for a, b in rng.integers(0, items, (20_000, 2)).tolist()
        )
        + "\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(
        {"DIMREC_STORE__URL": url, "DIMREC_LOG_LEVEL": "WARNING",
         "DIMREC_SERVE__REFRESH_SECONDS": "0.5", "DIMREC_PATHS__DATA": str(folder)}
    )  # fmt: skip
    command = [str(Path(sys.executable).with_name("dimrec")), "serve", "--port", str(port),
               "--workers", "2"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    switches: list[dict[str, Any]] = []
    with running(f"serve-{items}", command, env, folder) as process:
        wait_ready("dimrec serve", f"{base}/readyz", process)
        result: dict[str, Any] = {}
        load = threading.Thread(target=lambda: result.update(wrk(base, paths, 24, 8)))
        load.start()
        load_started = time.monotonic()
        with open_store(url) as store, httpx.Client(base_url=base, timeout=10) as client:
            for target, at in ((second, 5.0), (first, 11.0), (second, 17.0)):
                time.sleep(max(0.0, load_started + at - time.monotonic()))
                switched = time.monotonic()
                store.set_current(target)
                seen = 0
                while seen < 20:  # 20 answers in a row from the new version
                    answer = client.get("/make_recommendation?browsed=SKU0000001").json()
                    seen = seen + 1 if answer["version"] == target else 0
                after = time.monotonic() - switched
                switches.append({"to": target, "all_answers_new_after_s": after})
        load.join()
        workers = memory(process)
    return {
        "server_pss_total_mb": sum(m["pss_mb"] for m in workers.values()),
        "server_uss_mb": sorted((m["uss_mb"] for m in workers.values()), reverse=True),
        "requests": result["requests"],
        "errors": sum(result["errors"].values()),
        "errors_by_kind": result["errors"],
        "p99_ms": result["latency_us"]["p99"] / 1000,
        "switches": switches,
    }


# --- main -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default=None, help="items, comma-separated")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ref", help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="mapped", help=argparse.SUPPRESS)
    parser.add_argument("--shoppers", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, IndexRef(**json.loads(args.ref)), args.version, args.mode,
               args.shoppers)  # fmt: skip
        return
    sizes = [int(s) for s in (args.sizes or ("20000,100000" if args.quick else
                                             "100000,1000000,10000000")).split(",")]  # fmt: skip
    out = ROOT / "var" / "bench" / ("index-quick" if args.quick else "index")
    load_before = os.getloadavg()[0]
    rows = []
    results: dict[str, Any] = {}
    for items in sizes:
        print(f"— {items:,} items")
        path, ref = write_synthetic(out, items, args.seed)
        found: dict[str, Any] = {"index_mb": ref.size / 1e6}
        found.update(ready_times(path, ref, f"v{items}"))
        print(f"  ready in {found['ready_median_s']:.3f} s (median of 3)")
        found["mapped"] = memory_of(path, ref, f"v{items}", "mapped", 20_000)
        print(f"  second mapped worker adds {found['mapped']['second_worker_adds_mb']:.1f} MB")
        if items <= 1_000_000:
            found["built"] = memory_of(path, ref, f"v{items}", "built", 20_000)
            found["switch"] = switch_under_load(items, args.seed, out)
            print(f"  switch under load: {found['switch']['errors']} errors")
        results[str(items)] = found
        rows.append(row(items, found))
    header = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} "
        f"cores, load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    table = "\n".join(
        [
            "| items | index MB | ready s (median of 3) | map + verify s | host PSS, 1 worker MB "
            "| host PSS, 2 workers MB | 2nd worker adds | 2nd worker USS MB | built in memory: "
            "2nd worker adds | switch under load: requests, errors, p99 ms | all answers new "
            "after s | dimrec serve USS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
            *rows,
        ]
    )
    print(f"\n{header}\n\n{table}")
    name = "serve_index-quick" if args.quick else "serve_index"
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.serve_index " + " ".join(argv if argv is not None else sys.argv[1:])
    (folder / f"{name}.md").write_text(f"`{command.strip()}`\n\n{header}\n\n{table}\n")
    (folder / f"{name}.json").write_text(json.dumps({"header": header, "sizes": results}, indent=2))


def row(items: int, found: dict[str, Any]) -> str:
    mapped = found["mapped"]
    built = found.get("built")
    switch = found.get("switch")
    built_text = (
        f"{built['second_worker_adds_mb']:.0f} MB ({built['second_worker_adds_share']:.0%})"
        if built
        else "—"
    )
    switch_text = (
        f"{switch['requests']:,}, {switch['errors']}, {switch['p99_ms']:.1f}" if switch else "—"
    )
    after = (
        ", ".join(f"{s['all_answers_new_after_s']:.2f}" for s in switch["switches"])
        if switch
        else "—"
    )
    uss = " / ".join(f"{u:.0f}" for u in switch["server_uss_mb"]) if switch else "—"
    return (
        f"| {items:,} | {found['index_mb']:,.0f} | {found['ready_median_s']:.3f} | "
        f"{found['map_verify_median_s']:.3f} | {mapped['one_worker']['pss_total_mb']:,.0f} | "
        f"{mapped['two_workers']['pss_total_mb']:,.0f} | "
        f"{mapped['second_worker_adds_mb']:,.0f} MB ({mapped['second_worker_adds_share']:.1%}) | "
        f"{mapped['two_workers']['uss_mb'][1]:,.0f} | {built_text} | {switch_text} | {after} | "
        f"{uss} |"
    )


if __name__ == "__main__":
    main()
