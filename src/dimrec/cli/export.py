"""CLI commands of the export stage: ``dimrec export``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dimrec.cli.common import (
    AsOfOption,
    DateOption,
    DaysEndOption,
    DaysInitOption,
    FirstDayOption,
    LastDayOption,
    resolve_days,
    say,
    settings_of,
    stderr,
    stdout,
    step_progress,
)

if TYPE_CHECKING:
    from dimrec.config import Settings
    from dimrec.export import ExportSummary

MAX_DAY_ROWS = 31
"""Longer runs print their totals only (each day's figures are in the log)."""


class Source(enum.StrEnum):
    ga360 = "ga360"
    ga4 = "ga4"
    flat = "flat"


class WarehouseName(enum.StrEnum):
    duckdb = "duckdb"
    bigquery = "bigquery"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("export")(export)


def export(
    ctx: typer.Context,
    date: DateOption = None,
    days_init: DaysInitOption = None,
    days_end: DaysEndOption = None,
    as_of: AsOfOption = None,
    first: FirstDayOption = None,
    last: LastDayOption = None,
    source: Annotated[
        Source | None, typer.Option("--source", help="Shape of the input (default [export]).")
    ] = None,
    input_url: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Folder of daily tables, file or glob (DuckDB), or project.dataset (BigQuery).",
        ),
    ] = None,
    warehouse: Annotated[
        WarehouseName | None, typer.Option("--warehouse", help="Where the query runs.")
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Write a day even when nearly all its rows were rejected or it holds far "
            "fewer events than the day it replaces (export.max_rejected_fraction, "
            "export.min_events_fraction).",
        ),
    ] = False,
) -> None:
    """Export shopper interactions to events/date=YYYY-MM-DD/ (user, item, action, ts): one
    day (--date), a range counted back from --as-of (default: yesterday) or the days
    --from..--to. Each day is replaced whole; a day inside a log's dates without a row (a
    closed shop) is written empty and counted. Days without data are named and the others
    still exported; the command then exits non-zero. A day that would replace a good one
    with a (nearly) empty one is refused unless --allow-empty."""
    from dimrec import pipeline

    settings = _with_overrides(settings_of(ctx), source, input_url, warehouse)
    days = resolve_days(
        date,
        days_init,
        days_end,
        as_of,
        default_init=1,
        default_end=1,
        max_days=settings.max_window_days,
        first=first,
        last=last,
    )
    with step_progress() as progress:
        summary = pipeline.export_days(settings, days, allow_empty=allow_empty, progress=progress)
    _print_summary(summary, settings.paths.events_url())
    summary.raise_for_missing()


def _with_overrides(
    settings: Settings,
    source: Source | None,
    input_url: str | None,
    warehouse: WarehouseName | None,
) -> Settings:
    changes: dict[str, Any] = {}
    if source is not None:
        changes["source"] = source.value
    if input_url is not None:
        changes["input"] = input_url
    if warehouse is not None:
        changes["warehouse"] = warehouse.value
    if not changes:
        return settings
    return settings.model_copy(update={"export": settings.export.model_copy(update=changes)})


def _print_summary(summary: ExportSummary, events_url: str) -> None:
    from rich import box
    from rich.table import Column, Table

    from dimrec.config import ACTIONS

    table = Table(
        Column("day", no_wrap=True),
        *(Column(action, justify="right") for action in ACTIONS),
        *(Column(name, justify="right") for name in ("users", "items", "rejected", "ignored")),
        Column("s", justify="right"),
        title=f"export ({summary.source} via {summary.warehouse})",
        box=box.SIMPLE_HEAD,
    )
    per_day = len(summary.days) + len(summary.missing) <= MAX_DAY_ROWS
    for day in summary.days if per_day else ():
        table.add_row(
            day.day.isoformat(),
            *(str(day.actions[action]) for action in ACTIONS),
            str(day.users),
            str(day.items),
            _total(day.rejected),
            _total(day.ignored),
            f"{day.seconds:.2f}",
        )
    for missing in summary.missing if per_day else ():
        table.add_row(missing.day.isoformat(), "missing", style="yellow")
    if len(summary.days) > 1 or not per_day:
        table.add_section()
        table.add_row(
            f"{len(summary.days)} days",
            *(str(summary.actions[action]) for action in ACTIONS),
            str(summary.users),
            str(summary.items),
            _total(summary.rejected),
            _total(summary.ignored),
            f"{summary.seconds:.2f}",
            style="bold",
        )
    stdout().print(table)
    if summary.rejected:
        say(f"rejected: {_reasons(summary.rejected)}")
        if summary.undated_rejected:
            say(f"  of which on no known day: {_reasons(summary.undated_rejected)}")
    if summary.ignored:
        say(f"ignored: {_reasons(summary.ignored)}")
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    empty = f" ({len(summary.empty)} empty)" if summary.empty else ""
    say(
        f"{len(summary.days)} day(s){empty}, {summary.events} events written under "
        f"{events_url} ({rate:,.0f} events/s)"
    )
    if len(summary.missing) > 1:  # a single one is the error message itself
        for missing in summary.missing:
            stderr().print(
                f"[yellow]missing {missing.day.isoformat()}:[/] {missing.reason}", soft_wrap=True
            )


def _total(counts: Mapping[str, int]) -> str:
    return str(sum(counts.values()))


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items())
