"""``generate``: a synthetic shop's days written as GA360, GA4 and flat files plus truth.json.

Layout under ``out_url`` (any fsspec URL)::

    ga360/ga_sessions_YYYYMMDD.json.gz   one GA360 session per line, a file per day
    ga4/events_YYYYMMDD.json.gz          one GA4 event per line, a file per day
    flat/events.csv.gz                   timestamp,visitorid,event,itemid for all days
    truth.json                           what an exporter must find (see dimrec.synth.truth)

The same arguments give the same bytes. Each day is simulated once and rendered in blocks, so
memory depends on the sessions per day, not on the number of days. A day's content depends on
the seed, its date and the visits before it — not on which formats are written or on
``corrupt_lines`` (malformed lines are drawn from their own random stream).

Every file appears whole or not at all (written under a temporary name, then moved). An
existing truth.json is removed first and written last, so when it exists it describes the
files beside it; files of days outside this run are left alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from dimrec.errors import InvalidInputError
from dimrec.fsio import atomic_write_bytes, join, url_to_fs
from dimrec.logs import log_context
from dimrec.synth.catalog import Catalog, Population, build_catalog, build_population
from dimrec.synth.day import Day, VisitState
from dimrec.synth.files import Compressor, GzipSink, write_lines
from dimrec.synth.flat import HEADER, FlatRenderer, derive_rows
from dimrec.synth.ga4 import Ga4Renderer, derive_events
from dimrec.synth.ga360 import Ga360Renderer
from dimrec.synth.render import text_block
from dimrec.synth.shop import simulate_day
from dimrec.synth.sizes import FORMATS
from dimrec.synth.truth import (
    Counted,
    TruthBook,
    count_flat,
    count_ga4,
    count_ga360,
    normalised_items,
)

logger = logging.getLogger(__name__)

SYNTH_VERSION = 1
"""Bumped whenever the same arguments would produce different files."""
SESSIONS_PER_BLOCK = 2000
ROWS_PER_BLOCK = 50_000
MIN_ITEMS = 10


@dataclass(frozen=True)
class FormatTotals:
    """What one format's files hold, and the time spent producing them."""

    files: int
    lines: int
    """Lines written, malformed ones included (the flat header excluded)."""
    bytes: int
    """Compressed size on the target filesystem."""
    rows: dict[str, int]
    """Rows an exporter accepts, per action (browse, basket, purchase)."""
    rejected: int
    cpu_seconds: float
    """CPU time rendering (main thread) plus compressing and writing (worker thread); other
    load on the machine does not inflate it, unlike wall time."""


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote."""

    out: str
    paths: list[str]
    """Every file written, under ``out`` (truth.json last)."""
    truth_path: str
    days: int
    sessions: int
    formats: dict[str, FormatTotals]
    elapsed: float
    """Wall seconds of the whole call."""
    timings: dict[str, float] = field(default_factory=dict)
    """CPU seconds spent simulating the days and counting the truth."""


def generate(
    out_url: str,
    *,
    start: dt.date,
    days: int,
    sessions_per_day: int,
    n_items: int,
    n_users: int,
    seed: int = 0,
    formats: Sequence[str] = FORMATS,
    corrupt_lines: int = 0,
    progress: Callable[[dt.date], None] | None = None,
) -> SynthSummary:
    """Generate ``days`` days from ``start`` of a synthetic shop under ``out_url``.

    ``corrupt_lines`` malformed lines are spliced into every daily GA360 and GA4 file (the
    flat log gets none); they carry no interactions. ``progress`` is called after each day.
    """
    chosen = _check(start, days, sessions_per_day, n_items, n_users, seed, formats, corrupt_lines)
    began = time.perf_counter()
    catalog_seed, population_seed = np.random.SeedSequence([seed, 0]).spawn(2)
    catalog = build_catalog(np.random.default_rng(catalog_seed), n_items)
    population = build_population(np.random.default_rng(population_seed), n_users, catalog)
    visits = VisitState.empty(n_users)
    run = _Run(out_url, chosen, catalog, population, corrupt_lines)
    try:
        for offset in range(days):
            date = start + dt.timedelta(days=offset)
            streams = np.random.SeedSequence([seed, date.toordinal()]).spawn(4)
            shop_rng, ga4_rng, corrupt_ga360, corrupt_ga4 = map(np.random.default_rng, streams)
            with log_context(date=date.isoformat()):
                tick = time.thread_time()
                day = simulate_day(catalog, population, visits, date, sessions_per_day, shop_rng)
                run.timings["simulate"] += time.thread_time() - tick
                if "ga360" in chosen:
                    run.write_ga360(day, corrupt_ga360)
                if "ga4" in chosen:
                    run.write_ga4(day, ga4_rng, corrupt_ga4)
                if "flat" in chosen:
                    run.write_flat(day)
                logger.debug("wrote %d sessions", sessions_per_day)
            if progress is not None:
                progress(date)
        run.commit_flat()
    finally:
        run.close()

    generator = {
        "version": SYNTH_VERSION,
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "sessions_per_day": sessions_per_day,
        "n_items": n_items,
        "n_users": n_users,
        "formats": list(chosen),
        "corrupt_lines": corrupt_lines,
        "timezone": "UTC",
    }
    summary = run.finish(generator, days * sessions_per_day, time.perf_counter() - began)
    logger.info(
        "generated %d days x %d sessions (%s) under %s in %.1fs",
        days, sessions_per_day, ",".join(chosen), out_url, summary.elapsed,
    )  # fmt: skip
    return summary


class _Run:
    """The files of one generate() call, their totals and the truth being counted."""

    def __init__(
        self,
        out_url: str,
        formats: tuple[str, ...],
        catalog: Catalog,
        population: Population,
        corrupt_lines: int,
    ) -> None:
        self.out_url = out_url
        self.fs, self.root = url_to_fs(out_url)
        self.formats = formats
        self.corrupt_lines = corrupt_lines
        self.item_ids = normalised_items(catalog)
        self.ga360 = Ga360Renderer(catalog, population) if "ga360" in formats else None
        self.ga4 = Ga4Renderer(catalog, population) if "ga4" in formats else None
        self.flat = FlatRenderer(catalog, population) if "flat" in formats else None
        self.book = TruthBook()
        self.seconds = dict.fromkeys(formats, 0.0)
        self.bytes = dict.fromkeys(formats, 0)
        self.lines = dict.fromkeys(formats, 0)
        self.files = dict.fromkeys(formats, 0)
        self.paths: list[str] = []
        self.timings = {"simulate": 0.0, "truth": 0.0}
        truth_path = self._path("truth.json")
        if self.fs.exists(truth_path):  # it would describe files this run is about to replace
            self.fs.rm(truth_path)
        self.compressor = Compressor()
        self.flat_sink: GzipSink | None = None
        if self.flat is not None:
            self.flat_sink = GzipSink(self.fs, self._path("flat", "events.csv.gz"), self.compressor)
            self.flat_sink.write(HEADER.encode(), 0)

    def _path(self, *parts: str) -> str:
        return join(self.root, *parts)

    def write_ga360(self, day: Day, corrupt_rng: np.random.Generator) -> None:
        assert self.ga360 is not None
        renderer = self.ga360
        tick = time.thread_time()
        path = self._path("ga360", f"ga_sessions_{day.date:%Y%m%d}.json.gz")
        blocks = _blocks(len(day.sessions.user), lambda a, b: renderer.lines(day, a, b))
        sink = self._write_daily("ga360", path, blocks, len(day.sessions.user), corrupt_rng)
        self._done("ga360", sink, time.thread_time() - tick)
        self._count("ga360", day, sink.lines, path, lambda: count_ga360(day, self.item_ids))

    def write_ga4(
        self, day: Day, noise_rng: np.random.Generator, corrupt_rng: np.random.Generator
    ) -> None:
        assert self.ga4 is not None
        renderer = self.ga4
        tick = time.thread_time()
        events = derive_events(day, noise_rng)
        path = self._path("ga4", f"events_{day.date:%Y%m%d}.json.gz")
        blocks = _blocks(len(day.sessions.user), lambda a, b: renderer.lines(day, events, a, b))
        sink = self._write_daily("ga4", path, blocks, len(events.name), corrupt_rng)
        self._done("ga4", sink, time.thread_time() - tick)
        self._count("ga4", day, sink.lines, path, lambda: count_ga4(day, events, self.item_ids))

    def write_flat(self, day: Day) -> None:
        assert self.flat is not None
        assert self.flat_sink is not None
        tick = time.thread_time()
        before = self.flat_sink.seconds
        rows = derive_rows(day)
        n_rows = len(rows.event)
        for first in range(0, n_rows, ROWS_PER_BLOCK):
            lines = self.flat.lines(day, rows, first, min(first + ROWS_PER_BLOCK, n_rows))
            self.flat_sink.write(text_block(lines), len(lines))
        self.compressor.drain()
        spent = time.thread_time() - tick + self.flat_sink.seconds - before
        self.seconds["flat"] += spent
        self._count("flat", day, n_rows, self.flat_sink.path, lambda: count_flat(day, rows))

    def commit_flat(self) -> None:
        if self.flat_sink is None:
            return
        tick = time.thread_time()
        self.bytes["flat"] = self.flat_sink.commit()
        self.seconds["flat"] += time.thread_time() - tick
        self.lines["flat"] = self.flat_sink.lines
        self.files["flat"] = 1
        self.paths.append(self.flat_sink.path)
        self.flat_sink = None

    def close(self) -> None:
        """Stop the worker; drop a flat log left unfinished by a failure."""
        try:
            if self.flat_sink is not None:
                self.flat_sink.abort()
        finally:
            self.compressor.close()

    def _write_daily(
        self,
        fmt: str,
        path: str,
        blocks: Iterator[pa.Array],
        n_lines: int,
        corrupt_rng: np.random.Generator,
    ) -> GzipSink:
        sink = GzipSink(self.fs, path, self.compressor)
        try:
            write_lines(sink, blocks, n_lines, self.corrupt_lines, corrupt_rng)
            self.bytes[fmt] += sink.commit()
        except BaseException:
            sink.abort()
            raise
        return sink

    def _done(self, fmt: str, sink: GzipSink, main_seconds: float) -> None:
        self.seconds[fmt] += main_seconds + sink.seconds
        self.lines[fmt] += sink.lines
        self.files[fmt] += 1
        self.paths.append(sink.path)

    def _count(
        self, fmt: str, day: Day, n_lines: int, path: str, count: Callable[[], Counted]
    ) -> None:
        tick = time.thread_time()
        malformed = 0 if fmt == "flat" else self.corrupt_lines
        relative = path[len(self.root.rstrip("/")) + 1 :]
        extra = {"file": relative, "lines": n_lines, "malformed_lines": malformed}
        self.book.add(fmt, day.date.isoformat(), count(), **extra)
        self.timings["truth"] += time.thread_time() - tick

    def finish(self, generator: dict[str, Any], sessions: int, elapsed: float) -> SynthSummary:
        """Write truth.json and sum everything up."""
        truth_path = self._path("truth.json")
        document = self.book.document(generator)
        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
        atomic_write_bytes(self.fs, truth_path, text.encode())
        self.paths.append(truth_path)
        totals = {}
        for fmt in self.formats:
            counted = document["formats"][fmt]["totals"]
            totals[fmt] = FormatTotals(
                files=self.files[fmt],
                lines=self.lines[fmt],
                bytes=self.bytes[fmt],
                rows=counted["rows"],
                rejected=sum(counted["rejected"].values()),
                cpu_seconds=round(self.seconds[fmt], 3),
            )
        return SynthSummary(
            out=self.out_url,
            paths=[self._url(p) for p in self.paths],
            truth_path=self._url(truth_path),
            days=generator["days"],
            sessions=sessions,
            formats=totals,
            elapsed=round(elapsed, 3),
            timings={k: round(v, 3) for k, v in self.timings.items()},
        )

    def _url(self, path: str) -> str:
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return path if protocol in ("file", "local") else f"{protocol}://{path.lstrip('/')}"


def _blocks(n_sessions: int, render: Callable[[int, int], pa.Array]) -> Iterator[pa.Array]:
    for first in range(0, n_sessions, SESSIONS_PER_BLOCK):
        yield render(first, min(first + SESSIONS_PER_BLOCK, n_sessions))


def _check(
    start: dt.date,
    days: int,
    sessions_per_day: int,
    n_items: int,
    n_users: int,
    seed: int,
    formats: Sequence[str],
    corrupt_lines: int,
) -> tuple[str, ...]:
    """The formats to write, in canonical order; or a clear error naming every bad argument."""
    if not isinstance(start, dt.date):
        raise InvalidInputError(f"start must be a date, got {start!r}")
    problems = [
        f"{name} must be at least {low} (got {value})"
        for name, value, low in (
            ("days", days, 1),
            ("sessions_per_day", sessions_per_day, 1),
            ("n_items", n_items, MIN_ITEMS),
            ("n_users", n_users, 1),
            ("seed", seed, 0),
            ("corrupt_lines", corrupt_lines, 0),
        )
        if value < low
    ]
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",")]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        problems.append(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    elif not formats:
        problems.append(f"no format chosen: choose one or more of {', '.join(FORMATS)}")
    if problems:
        raise InvalidInputError("cannot generate the synthetic shop: " + "; ".join(problems))
    return tuple(f for f in FORMATS if f in formats)
