"""Throughput of `dimrec export` over 30 synthetic days of ~20k sessions each.

    .venv/bin/python bench/export_throughput.py [--days 30] [--sessions 20000]
        [--source ga360|ga4|flat] [--workdir var/bench/export]

Generates the shop once with dimrec.synth (kept under --workdir and reused while its
parameters match), then runs the real command, as a user would:

    dimrec export --days-init 30 --days-end 1 --as-of <day after the last> --input <folder>

and prints the events written per second of wall time (process start-up included) and the
command's CPU seconds, checking first that the count matches the generator's truth.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dimrec.synth import generate

START = dt.date(2026, 10, 1)
INPUTS = {"ga360": "ga360", "ga4": "ga4", "flat": "flat/events.csv.gz"}


def _shop(workdir: Path, days: int, sessions: int) -> Path:
    out = workdir / f"shop-{days}x{sessions}"
    truth = out / "truth.json"
    if truth.exists():
        generator = json.loads(truth.read_text())["generator"]
        if generator["days"] == days and generator["sessions_per_day"] == sessions:
            print(f"reusing {out}")
            return out
    print(f"generating {days} days x {sessions} sessions under {out} ...", flush=True)
    began = time.perf_counter()
    generate(
        str(out),
        start=START,
        days=days,
        sessions_per_day=sessions,
        n_items=5000,
        n_users=max(1000, sessions * 5),
        seed=1,
    )
    print(f"generated in {time.perf_counter() - began:.1f}s")
    return out


def _dimrec(
    *args: str, env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run dimrec; return its wall seconds, its CPU seconds (user + system) and the result."""
    script = Path(sys.executable).with_name("dimrec")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    result = subprocess.run(
        [str(script), "--log-level", "WARNING", *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--source", choices=sorted(INPUTS), default="ga360")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/export"))
    args = parser.parse_args()

    shop = _shop(args.workdir.resolve(), args.days, args.sessions)
    truth: dict[str, Any] = json.loads((shop / "truth.json").read_text())
    expected = truth["formats"][args.source]["totals"]["accepted"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env["DIMREC_PATHS__DATA"] = str(args.workdir.resolve() / "var")
    env["COLUMNS"] = "120"

    startup, startup_cpu, _ = _dimrec("--version", env=env)
    as_of = START + dt.timedelta(days=args.days)
    seconds, cpu, result = _dimrec(
        "export",
        "--days-init", str(args.days), "--days-end", "1", "--as-of", as_of.isoformat(),
        "--source", args.source, "--input", str(shop / INPUTS[args.source]),
        env=env,
    )  # fmt: skip
    print(result.stdout)
    if result.returncode != 0:
        sys.exit(f"dimrec export failed ({result.returncode}): {result.stderr}")
    if f"{expected} events written" not in result.stdout:
        sys.exit(f"expected {expected} events (truth.json); the export said otherwise")
    sessions = args.days * args.sessions
    print(
        f"{args.source}: {args.days} days x {args.sessions} sessions = {sessions} sessions, "
        f"{expected} events in {seconds:.1f}s wall (CLI start-up {startup:.1f}s): "
        f"{expected / seconds:,.0f} events/s, {sessions / seconds:,.0f} sessions/s"
    )
    print(
        f"CPU time of the command {cpu:.1f}s (of which start-up {startup_cpu:.1f}s): "
        f"{expected / max(cpu, 1e-9):,.0f} events per CPU-second (the wall-clock rate is lower "
        "when other work shares the cores)"
    )


if __name__ == "__main__":
    main()
