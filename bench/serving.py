"""What the serving benchmarks share: synthetic models, stores holding them, processes on
loopback (servers, redis-server, wrk) and their CPU and memory.

Synthetic model: items ``SKU0000000``.. in categories of 1,000; 80% of an item's neighbours
share its category, 20% are popular items; scores are best first. A model is written to a
store as the publisher writes it (packed entries, popularity list, serving index).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pyarrow as pa

from dimrec.config import StoreSettings
from dimrec.publish.base import Store
from dimrec.publish.lists import NeighbourLists
from dimrec.publish.serving_index import attach_index
from dimrec.publish.stores import open_store

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_name("serve_load.lua")
CATEGORY = 1000
BATCH = 2000


# --- the synthetic model ----------------------------------------------------------------


def item_ids(items: int) -> list[str]:
    return [f"SKU{k:07d}" for k in range(items)]


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
    return chosen, np.ascontiguousarray(scores)


def model_lists(items: int, width: int, seed: int, band: float = 0.0) -> NeighbourLists:
    """The synthetic model as the publisher holds it; ``band`` is added to every score (a
    version whose scores lie in [band, band + 1) is told apart from any other by its scores)."""
    neighbours, scores = neighbour_lists(items, width, seed)
    ids = pa.array(item_ids(items), pa.string())
    return NeighbourLists(
        items=ids.to_pylist(),
        bounds=np.arange(0, items * width + 1, width, dtype=np.int64),
        ids=ids.take(pa.array(neighbours.ravel())),
        scores=(scores.ravel() + np.float32(band)).astype(np.float32),
        rows_read=items * width,
    )


def popularity(items: int, seed: int, count: int = 1000) -> pa.Table:
    ids = item_ids(items)
    popular = np.argsort(-popularity_weights(items, seed))[:count]
    return pa.table(
        {
            "item": pa.array([ids[k] for k in popular.tolist()], pa.string()),
            "score": np.linspace(float(count), 1.0, len(popular)),
        }
    )


def write_version(
    store: Store, version: str, lists: NeighbourLists, table: pa.Table, *, activate: bool = True
) -> None:
    """Write a version as the publisher does (entries, popularity, serving index)."""
    store.stage(version, {"version": version, "items": len(lists)})
    for start in range(0, len(lists), BATCH):
        store.put_packed(version, lists.packed(start, min(start + BATCH, len(lists))))
    store.put_popularity(
        version, table.column("item").to_pylist(), table.column("score").to_pylist()
    )
    attach_index(store, version, lists, table, StoreSettings())
    if activate:
        store.activate(version)


def ensure_store(url: str, items: int, width: int, seed: int, rebuild: bool = False) -> str:
    """A store holding the synthetic model as its current version (written once, reused)."""
    version = f"bench-{items}x{width}-s{seed}"
    with open_store(url) as store:
        current = store.current()
        if not rebuild and current == version and store.index_ref(version) is not None:
            print(f"reusing {version} in {url}")
            return version
        print(f"writing {version} ({items:,} items × {width} neighbours) to {url} …")
        started = time.perf_counter()
        for old in store.versions():
            if not old.current:
                store.drop(old.version)
        write_version(store, version, model_lists(items, width, seed), popularity(items, seed))
        for old in store.versions():
            if not old.current:
                store.drop(old.version)
        print(f"  written in {time.perf_counter() - started:.1f} s")
    return version


# --- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    name: str, command: Sequence[str], env: dict[str, str], cwd: Path
) -> Iterator[psutil.Process]:
    """Run ``command`` (its output in ``cwd/name.log``) until the block ends."""
    log = (cwd / f"{name}.log").open("w")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield psutil.Process(process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def wait_ready(name: str, url: str, process: psutil.Process, timeout: float = 600) -> float:
    """Seconds until ``url`` answered 200."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            raise SystemExit(f"{name} exited; see its log")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} was not ready within {timeout:.0f} s")


def tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for each in tree(process):
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def memory(process: psutil.Process) -> dict[int, dict[str, float]]:
    """RSS, PSS and USS (MB) of each process of a tree."""
    found = {}
    for each in tree(process):
        try:
            info = each.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        found[each.pid] = {
            "rss_mb": info.rss / 1e6,
            "pss_mb": info.pss / 1e6,
            "uss_mb": info.uss / 1e6,
        }
    return found


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server on a free loopback port (no persistence); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: run scripts/ensure-system-deps.sh")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    with running("redis", command, dict(os.environ), workdir):
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"


def wrk(url: str, paths_file: Path, seconds: float, connections: int) -> dict[str, Any]:
    """Run wrk (one thread) rotating through the request paths of ``paths_file``; its summary
    (see serve_load.lua)."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(LUA), url,
    ]  # fmt: skip
    env = {**os.environ, "SERVE_LOAD_PATHS": str(paths_file)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    line = next(row for row in done.stdout.splitlines() if row.startswith("SERVE_LOAD_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("SERVE_LOAD_JSON "))
    return result


def worker_requests(url: str) -> dict[str, float]:
    """Requests answered by each worker of a ``dimrec serve`` (its /metrics, by pid)."""
    found = {}
    for row in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if row.startswith("dimrec_worker_requests{"):
            labels, _, value = row.rpartition(" ")
            found[labels.partition('pid="')[2].partition('"')[0] or "single"] = float(value)
    return found
