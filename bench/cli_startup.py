"""Start-up time of the ``dimrec`` command line (not a test).

    .venv/bin/python bench/cli_startup.py            # 15 runs each: ≈ 10 s quiet, 1 min at load 7
    .venv/bin/python bench/cli_startup.py --quick    # 3 runs of each
    .venv/bin/python bench/cli_startup.py --importtime=versions   # where the time goes

Runs ``dimrec --help``, ``dimrec --version`` and ``dimrec versions`` (against a SQLite store
holding one small published version, in a temporary folder) as fresh processes, the way a
person types them, and reports the wall time (median, fastest, slowest) and the peak RSS of
each against the goals: ``--help`` and ``--version`` ≤ 0.3 s, ``versions`` ≤ 0.6 s (wall, median).
The CPU seconds (user + system, median) move much less with other load on the machine.

A Python process compiles every module it imports unless a ``__pycache__`` holds its
bytecode; ``make setup`` compiles the virtualenv's packages once (``uv sync
--compile-bytecode``) because ``PYTHONDONTWRITEBYTECODE=1`` would otherwise make every start
compile them again. The report says which case it measured.

``--importtime COMMAND`` runs the command once under ``python -X importtime`` and prints the
slowest imports (cumulative microseconds), the evidence of what a start-up loads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIMREC = Path(sys.executable).with_name("dimrec")
COMMANDS: dict[str, tuple[list[str], float]] = {
    "--help": (["--help"], 0.3),
    "--version": (["--version"], 0.3),
    "versions": (["versions"], 0.6),
}


def _store(folder: Path) -> str:
    """A SQLite store with one published version of three items, written through the
    store API."""
    from dimrec.publish.base import Entry
    from dimrec.publish.stores import open_store

    url = f"sqlite:///{folder / 'store.db'}"
    with open_store(url) as store:
        version = "20260101T000000000Z"
        store.stage(version, {"version": version})
        store.put_entries(
            version,
            [
                Entry("a", ("b", "c"), (0.5, 0.25)),
                Entry("b", ("a",), (0.5,)),
                Entry("c", ("a",), (0.25,)),
            ],
        )
        store.put_popularity(version, ["a", "b"], [3.0, 2.0])
        store.activate(version)
    return url


def _environment(folder: Path, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env["DIMREC_STORE__URL"] = store_url
    env["DIMREC_PATHS__DATA"] = str(folder / "var")
    return env


def _run_once(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one ``dimrec ARGS`` process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(DIMREC), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    _out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"dimrec {' '.join(args)} failed: {err.decode()[-500:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _bytecode() -> str:
    """Whether the virtualenv's packages carry compiled bytecode."""
    site = Path(sysconfig.get_paths()["purelib"])
    compiled = any((site / "typer" / "__pycache__").glob("*.pyc"))
    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE") not in (None, "")
    return (
        f"packages {'compiled' if compiled else 'NOT compiled'} "
        f"(PYTHONDONTWRITEBYTECODE {'set' if dont_write else 'unset'})"
    )


def measure(runs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dimrec-startup-") as tmp:
        folder = Path(tmp)
        env = _environment(folder, _store(folder))
        for name, (args, goal) in COMMANDS.items():
            _run_once(args, env, folder)  # warm the page cache
            samples = [_run_once(args, env, folder) for _ in range(runs)]
            seconds = [s for s, _, _ in samples]
            results[name] = {
                "median_s": statistics.median(seconds),
                "min_s": min(seconds),
                "max_s": max(seconds),
                "cpu_s": statistics.median(cpu for _, cpu, _ in samples),
                "rss_mib": max(rss for _, _, rss in samples) / 1024,
                "goal_s": goal,
            }
    return results


def importtime(command: str, top: int) -> None:
    """Print the ``top`` slowest imports of one run of ``dimrec COMMAND``."""
    with tempfile.TemporaryDirectory(prefix="dimrec-startup-") as tmp:
        folder = Path(tmp)
        env = _environment(folder, _store(folder))
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "dimrec", *command.split()],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            own_us, cumulative_us, name = line.removeprefix("import time:").split("|")
            rows.append((int(cumulative_us), int(own_us), name.rstrip()))
    loaded = {name.strip() for _, _, name in rows}
    total = max(cumulative for cumulative, _, _ in rows)
    print(f"dimrec {command}: {len(rows)} modules imported, {total / 1e6:.3f} s in the slowest")
    print("cumulative µs   own µs   module")
    for cumulative, own, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative:>13,} {own:>8,}   {name}")
    libraries = ("numpy", "pyarrow", "scipy", "duckdb", "numba", "pydantic", "rich", "fastapi")
    heavy = sorted(m for m in libraries if m in loaded)
    print(f"heavy libraries loaded: {', '.join(heavy) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of each command")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", metavar="COMMAND", help="e.g. '--help' or 'versions'")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    options = parser.parse_args()
    if options.importtime:
        importtime(options.importtime, options.top)
        return
    runs = 3 if options.quick else options.runs
    load_before = os.getloadavg()[0]
    results = measure(runs)
    load_after = os.getloadavg()[0]
    print(
        f"dimrec start-up, {runs} runs each; {_bytecode()}; "
        f"load average {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} cores"
    )
    print()
    print("| command | median s | fastest s | slowest s | CPU s | peak RSS MiB | goal s | |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        verdict = "met" if r["median_s"] <= r["goal_s"] else "MISSED"
        print(
            f"| `dimrec {name}` | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} "
            f"| {r['cpu_s']:.3f} | {r['rss_mib']:.0f} | ≤ {r['goal_s']:g} | {verdict} |"
        )
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "cli_startup.json").write_text(
        json.dumps({"runs": runs, "load": [load_before, load_after], "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
