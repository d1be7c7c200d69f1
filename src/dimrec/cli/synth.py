"""CLI commands of the synthetic shop: ``dimrec synth``."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from dimrec import dates
from dimrec.cli.common import progress_bars, say, settings_of, stdout
from dimrec.errors import InvalidInputError
from dimrec.synth.sizes import FORMATS, SIZES

if TYPE_CHECKING:
    from dimrec.config import Settings
    from dimrec.synth.generate import SynthSummary


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("synth")(synth)


def synth(
    ctx: typer.Context,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Folder or fsspec URL to write under (default: the folder holding "
            "\\[export] input's ga360/ folder, i.e. var/warehouse).",
            show_default=False,
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First day, YYYY-MM-DD (default: the number of days before today, so the "
            "last day is yesterday).",
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        str,
        typer.Option(
            "--size",
            help="Preset for --days/--sessions-per-day/--items/--users: "
            + "; ".join(
                f"{name} = {v['days']} d × {v['sessions_per_day']:,} sessions, "
                f"{v['n_items']:,} items, {v['n_users']:,} users"
                for name, v in SIZES.items()
            )
            + ".",
        ),
    ] = "bench",
    days: Annotated[
        int | None, typer.Option("--days", help="Number of days (default from --size).")
    ] = None,
    sessions_per_day: Annotated[
        int | None,
        typer.Option("--sessions-per-day", help="GA sessions per day (default from --size)."),
    ] = None,
    items: Annotated[
        int | None,
        typer.Option("--items", help="Base items in the catalogue (default from --size)."),
    ] = None,
    users: Annotated[
        int | None, typer.Option("--users", help="Shoppers who visit (default from --size).")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed; the same seed writes the same bytes.")
    ] = 0,
    formats: Annotated[
        str,
        typer.Option("--formats", help="Comma-separated shapes to write: ga360, ga4, flat."),
    ] = ",".join(FORMATS),
    corrupt_lines: Annotated[
        int,
        typer.Option(
            "--corrupt-lines",
            help="Malformed lines to splice into every daily GA360 and GA4 file.",
        ),
    ] = 0,
) -> None:
    """Generate a synthetic shop: daily GA360 ga_sessions_YYYYMMDD and GA4 events_YYYYMMDD
    files (newline-delimited JSON, gzip, as BigQuery exports them), a Retailrocket-style
    flat/events.csv.gz, and truth.json with the exact counts an export must find."""
    from dimrec.synth.generate import generate

    settings = settings_of(ctx)
    if size not in SIZES:
        raise InvalidInputError(f"unknown --size {size!r}: choose from {', '.join(SIZES)}")
    preset = SIZES[size]
    n_days = preset["days"] if days is None else days
    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    first = dates.parse_date(start) if start else dt.date.today() - dt.timedelta(days=n_days)
    target = out or default_out(settings)
    with _progress_bar(max(n_days, 0)) as advance:
        summary = generate(
            target,
            start=first,
            days=n_days,
            sessions_per_day=preset["sessions_per_day"]
            if sessions_per_day is None
            else sessions_per_day,
            n_items=preset["n_items"] if items is None else items,
            n_users=preset["n_users"] if users is None else users,
            seed=seed,
            formats=chosen,
            corrupt_lines=corrupt_lines,
            progress=advance,
        )
    _print_summary(summary, first)


def default_out(settings: Settings) -> str:
    """The folder above the format folder of ``[export] input`` (var/warehouse by default)."""
    parts = settings.export.input.rstrip("/").split("/")
    for depth in range(len(parts) - 1, -1, -1):
        if parts[depth] in FORMATS:
            return "/".join(parts[:depth]) or "."
    if len(parts) < 2:
        raise InvalidInputError(
            f"cannot tell where to write from [export] input = {settings.export.input!r}: "
            "give --out"
        )
    return "/".join(parts[:-1])


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[dt.date], None]]:
    """A Rich progress bar over the days, on stderr (nothing when it is not a terminal)."""
    bar = progress_bars("synth {task.description}")
    task = bar.add_task("", total=total)

    def advance(day: dt.date) -> None:
        bar.update(task, description=day.isoformat(), advance=1)

    with bar:
        yield advance


def _print_summary(summary: SynthSummary, first: dt.date) -> None:
    from rich import box
    from rich.table import Column, Table

    last = first + dt.timedelta(days=summary.days - 1)
    formats = list(summary.formats)
    table = Table(
        Column("", no_wrap=True),
        *(Column(fmt, justify="right", no_wrap=True) for fmt in formats),
        title=f"synthetic shop {first.isoformat()} … {last.isoformat()}",
        box=box.SIMPLE_HEAD,
    )
    totals = [summary.formats[fmt] for fmt in formats]
    table.add_row("files", *(f"{t.files:,}" for t in totals))
    table.add_row("lines", *(f"{t.lines:,}" for t in totals))
    table.add_row("MB (gzip)", *(f"{t.bytes / 1e6:,.1f}" for t in totals))
    for action in ("browse", "basket", "purchase"):
        table.add_row(action, *(f"{t.rows[action]:,}" for t in totals))
    table.add_row("rejected", *(f"{t.rejected:,}" for t in totals))
    table.add_row("CPU s", *(f"{t.cpu_seconds:,.1f}" for t in totals))
    table.add_row(
        "sessions / CPU s",
        *(f"{summary.sessions / t.cpu_seconds:,.0f}" if t.cpu_seconds else "-" for t in totals),
    )
    stdout().print(table)
    say(
        f"{summary.days} day(s) × {summary.sessions // summary.days:,} sessions written under "
        f"{summary.out} in {summary.elapsed:.1f}s (wall); expected export counts in "
        f"{summary.truth_path}"
    )
