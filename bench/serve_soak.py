"""Soak: ``dimrec serve --workers 2`` at a fixed request rate while versions come and go.

    .venv/bin/python -m bench.serve_soak            # 10 min of load (≈ 11 min in all)
    .venv/bin/python -m bench.serve_soak --quick    # 60 s smoke run

On loopback, for ``--minutes`` (10):

- requests at a fixed rate (``--rate``, 200/s; open loop: each is sent at its time whether or
  not earlier ones were answered), half ``GET /make_recommendation?browsed=<item>``, half
  ``GET /items/<item>/similar``, over up to 64 keep-alive connections, never retried;
- a publish every 30 s of a new version (20,000 items × 50 neighbours, written as the
  publisher writes it: entries and serving index; older versions pruned to 3), and a rollback
  to the previous version every 2 min;
- one worker process SIGKILLed half-way through; uvicorn's supervisor starts another.

Version ``k``'s similarities all lie in [k, k + 1), so every answer is checked against the
version it names: a score from another version is a *mixed* answer. A request that fails on
a connection opened before the kill is the killed worker's (a live worker never breaks a
connection; the kernel resets the dead one's, in flight or idle) and is counted apart; any
other failure counts as failed. The RSS, PSS and USS of the server's processes are
sampled every 5 s (the curve is printed per minute and saved whole).

Goals: 0 failed requests (besides the killed worker's), 0 mixed answers, memory flat (the
last minute's median within 10% of the second minute's). Raw results in
``bench/results/serve_soak.json`` and ``.md`` (``serve_soak-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import faulthandler
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from bench.serving import (
    ROOT,
    free_port,
    model_lists,
    popularity,
    running,
    wait_ready,
    write_version,
)

from dimrec.publish import admin, publisher
from dimrec.publish.stores import open_store

ITEMS = 20_000
WIDTH = 50
WEIGHT = 0.5  # browse: the weight of the one item of /make_recommendation?browsed=
KILLED = "the killed worker's"


def version_name(k: int) -> str:
    return f"soak-{k:04d}"


def band_of(version: str) -> int:
    return int(version.rpartition("-")[2])


class Publisher(threading.Thread):
    """Publishes a new version every ``every`` s, rolls back every ``rollback`` s."""

    def __init__(self, url: str, every: float, rollback: float, stop: threading.Event) -> None:
        super().__init__(name="soak-publisher", daemon=True)
        self.url, self.every, self.rollback_every, self.stop = url, every, rollback, stop
        self.events: list[dict[str, Any]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        started = time.monotonic()
        k = 1
        next_publish, next_rollback = self.every, self.rollback_every
        with open_store(self.url) as store:
            while not self.stop.wait(0.2):
                now = time.monotonic() - started
                try:
                    # the next time is set first: a failure is counted once, not at every tick
                    if now >= next_rollback:
                        next_rollback += self.rollback_every
                        to = admin.rollback(store)
                        self.events.append({"t": now, "rollback_to": to})
                    elif now >= next_publish:
                        next_publish += self.every
                        k += 1
                        self.publish(store, k)
                        self.events.append(
                            {"t": now, "published": version_name(k),
                             "seconds": time.monotonic() - started - now}
                        )  # fmt: skip
                except Exception as exc:
                    self.failures.append(f"{now:.0f} s: {exc!r}")

    @staticmethod
    def publish(store: Any, k: int) -> None:
        version = version_name(k)
        write_version(store, version, model_lists(ITEMS, WIDTH, k, band=float(k)),
                      popularity(ITEMS, k))  # fmt: skip
        publisher.prune(store, 3)


class Sampler(threading.Thread):
    """Samples the memory of the server's processes every ``every`` s."""

    def __init__(self, process: psutil.Process, every: float, stop: threading.Event) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.process, self.every, self.stop = process, every, stop
        self.samples: list[dict[str, Any]] = []

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(self.every):
            found = {}
            for each in [self.process, *self.process.children(recursive=True)]:
                try:
                    info = each.memory_full_info()
                except psutil.NoSuchProcess:
                    continue
                found[each.pid] = (info.rss / 1e6, info.pss / 1e6, info.uss / 1e6)
            self.samples.append(
                {
                    "t": time.monotonic() - started,
                    "rss_mb": sum(v[0] for v in found.values()),
                    "pss_mb": sum(v[1] for v in found.values()),
                    "uss_mb": sum(v[2] for v in found.values()),
                    "processes": {str(pid): v for pid, v in found.items()},
                }
            )


def workers_of(process: psutil.Process) -> list[psutil.Process]:
    """The worker processes of a ``dimrec serve`` (spawned by multiprocessing)."""
    return [
        child
        for child in process.children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline())
    ]


async def load(
    port: int, rate: float, seconds: float, kill_at: float, killed: list[float]
) -> list[tuple[float, str]]:
    """Requests at ``rate`` a second for ``seconds``, sent by 64 keep-alive connections as they
    fall due; each outcome with the time it was due. (A plain client on asyncio streams: the
    generator must not be what falls behind.)"""
    outcomes: list[tuple[float, str]] = []
    rng = np.random.default_rng(5)
    loop = asyncio.get_running_loop()
    due: asyncio.Queue[tuple[float, str, bool] | None] = asyncio.Queue()

    started = loop.time()

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        opened = 0.0
        while (job := await due.get()) is not None:
            sent, path, similar = job
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    opened = loop.time() - started
                writer.write(f"GET {path} HTTP/1.1\r\nhost: soak\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status = int(head.split(b" ", 2)[1])
                length = int(head.lower().partition(b"content-length:")[2].split(b"\r\n")[0])
                body = await asyncio.wait_for(reader.readexactly(length), 10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                # a connection a live worker holds never breaks: one opened before the kill
                # that breaks now was the killed worker's (found in flight, or idle)
                if killed and opened < killed[0]:
                    outcomes.append((sent, KILLED))
                else:
                    outcomes.append((sent, f"error {type(exc).__name__}"))
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if status != 200:
                outcomes.append((sent, f"status {status}"))
                continue
            answer = json.loads(body)
            band = band_of(answer["version"])
            scale = 1.0 if similar else WEIGHT
            mixed = any(int(r["score"] / scale) != band for r in answer["results"])
            outcomes.append((sent, "mixed" if mixed else "ok"))
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(64)]
    k = 0
    while (at := k / rate) < seconds:
        wait = started + at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not killed and at >= kill_at:
            killed.append(at)
        item = f"SKU{int(rng.integers(0, ITEMS)):07d}"
        similar = bool(k % 2)
        path = f"/items/{item}/similar?n=5"
        if not similar:
            path = f"/make_recommendation?browsed={item}&n=5"
        due.put_nowait((at, path, similar))
        k += 1
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return outcomes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 s, a publish every 10 s")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second")
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints where each thread is
    seconds = 60.0 if args.quick else args.minutes * 60
    every, rollback_every = (10.0, 25.0) if args.quick else (30.0, 120.0)
    out = ROOT / "var" / "bench" / ("soak-quick" if args.quick else "soak")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("store*"):
        if stale.is_file():
            stale.unlink()
    url = f"sqlite:///{(out / 'store.db').resolve()}"
    with open_store(url) as store:
        Publisher.publish(store, 1)
    load_before = os.getloadavg()[0]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env.update(
        {"DIMREC_STORE__URL": url, "DIMREC_LOG_LEVEL": "WARNING",
         "DIMREC_SERVE__REFRESH_SECONDS": "1", "DIMREC_PATHS__DATA": str(out)}
    )  # fmt: skip
    command = [str(Path(sys.executable).with_name("dimrec")), "serve", "--port", str(port),
               "--workers", "2"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    killed: list[float] = []
    with running("soak-serve", command, env, out) as process:
        wait_ready("dimrec serve", f"{base}/readyz", process)
        sampler = Sampler(process, 5.0, stop)
        publishing = Publisher(url, every, rollback_every, stop)
        kill_at = seconds / 2
        victim: dict[str, Any] = {}

        def kill() -> None:
            target = workers_of(process)[0]
            victim.update({"pid": target.pid, "at": time.monotonic() - load_started})
            target.send_signal(signal.SIGKILL)

        sampler.start()
        publishing.start()
        load_started = time.monotonic()
        timer = threading.Timer(kill_at, kill)
        timer.start()
        outcomes = asyncio.run(load(port, args.rate, seconds, kill_at, killed))
        stop.set()
        publishing.join(60)
        sampler.join(10)
        replaced = [w.pid for w in workers_of(process)]
        ready = httpx.get(f"{base}/readyz", timeout=10).json()

    kill_time = victim.get("at", kill_at)
    counts: Counter[str] = Counter(outcome for _, outcome in outcomes)
    failed = sum(v for k, v in counts.items() if k not in ("ok", KILLED))
    curve = per_minute(sampler.samples)
    flat = flatness(sampler.samples, seconds)
    header = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} "
        f"cores, load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}; "
        f"{seconds:.0f} s at {args.rate:g} requests/s, a publish every {every:g} s, a rollback "
        f"every {rollback_every:g} s, worker {victim.get('pid')} SIGKILLed at "
        f"{kill_time:.0f} s (workers after: {replaced})"
    )
    summary = [
        f"- requests: {len(outcomes):,}; outcomes: {dict(counts)}",
        f"- failed (besides the killed worker's): {failed} (goal 0)",
        f"- mixed answers: {counts.get('mixed', 0)} (goal 0)",
        f"- publishes: {sum('published' in e for e in publishing.events)}, rollbacks: "
        f"{sum('rollback_to' in e for e in publishing.events)}, publisher failures: "
        f"{publishing.failures or 'none'}",
        f"- memory: {flat}",
        f"- /readyz at the end: version {ready['version']}, last_error {ready['last_error']}",
    ]
    report = "\n".join(
        [header, "", *summary, "", "| minute | RSS MB | PSS MB | USS MB |", "|---:|---:|---:|---:|",
         *curve]
    )  # fmt: skip
    print(f"\n{report}")
    name = "serve_soak-quick" if args.quick else "serve_soak"
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    command_line = "python -m bench.serve_soak " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    (folder / f"{name}.md").write_text(f"`{command_line.strip()}`\n\n{report}\n")
    (folder / f"{name}.json").write_text(
        json.dumps(
            {
                "header": header,
                "outcomes": dict(counts),
                "failed": failed,
                "events": publishing.events,
                "publisher_failures": publishing.failures,
                "killed": victim,
                "memory": sampler.samples,
            },
            indent=2,
        )
    )


def per_minute(samples: list[dict[str, Any]]) -> list[str]:
    rows = []
    by_minute: dict[int, list[dict[str, Any]]] = {}
    for sample in samples:
        by_minute.setdefault(int(sample["t"] // 60), []).append(sample)
    for minute, found in sorted(by_minute.items()):
        rows.append(
            f"| {minute} | "
            + " | ".join(
                f"{statistics.median(s[key] for s in found):,.0f}"
                for key in ("rss_mb", "pss_mb", "uss_mb")
            )
            + " |"
        )
    return rows


def flatness(samples: list[dict[str, Any]], seconds: float) -> str:
    """The last stretch's median PSS against the second one's (after warm-up)."""
    stretch = 60.0 if seconds >= 180 else seconds / 4
    early = [s["pss_mb"] for s in samples if stretch <= s["t"] < 2 * stretch]
    late = [s["pss_mb"] for s in samples if s["t"] >= seconds - stretch]
    if not early or not late:
        return "too few samples"
    a, b = statistics.median(early), statistics.median(late)
    verdict = "flat" if abs(b - a) <= 0.1 * a else "NOT flat"
    return f"PSS median {a:,.0f} MB early, {b:,.0f} MB at the end ({(b - a) / a:+.1%}): {verdict}"


if __name__ == "__main__":
    main()
