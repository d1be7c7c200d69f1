"""What every CLI command shares: the settings in the context, consoles, date options."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dimrec import dates
from dimrec.config import Settings

console = Console()
console_err = Console(stderr=True)

#: Called as progress(step, done, total) by long pipeline steps.
StepProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class AppState:
    settings: Settings


def settings_of(ctx: typer.Context) -> Settings:
    state = ctx.obj
    assert isinstance(state, AppState), "the root callback sets the settings"
    return state.settings


DateOption = Annotated[
    str | None, typer.Option("--date", help="One day, YYYY-MM-DD.", show_default=False)
]
DaysInitOption = Annotated[
    int | None,
    typer.Option("--days-init", help="First day of the range, in days before --as-of."),
]
DaysEndOption = Annotated[
    int | None,
    typer.Option("--days-end", help="Last day of the range, in days before --as-of."),
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Day the range is counted back from (default today)."),
]


def resolve_days(
    date: str | None,
    days_init: int | None,
    days_end: int | None,
    as_of: str | None,
    *,
    default_init: int,
    default_end: int,
) -> list[dt.date]:
    """Turn ``--date`` or ``--days-init/--days-end/--as-of`` into the list of days."""
    if date is not None:
        if days_init is not None or days_end is not None:
            raise typer.BadParameter("give either --date or --days-init/--days-end, not both")
        return [dates.parse_date(date)]
    anchor = dates.parse_date(as_of) if as_of else None
    init = default_init if days_init is None else days_init
    end = default_end if days_end is None else days_end
    return dates.window(init, end, anchor)


ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="Any training parameter of [train] as NAME=VALUE (repeatable), e.g. "
        "--param rp3_beta=0.5; wins over the named options.",
        show_default=False,
    ),
]


def parse_params(given: list[str] | None) -> dict[str, str]:
    """``NAME=VALUE`` strings → {name: value}; the values are validated with the parameters."""
    params: dict[str, str] = {}
    for text in given or []:
        name, equals, value = text.partition("=")
        if not equals or not name.strip():
            raise typer.BadParameter(f"{text!r} is not NAME=VALUE", param_hint="--param")
        params[name.strip()] = value.strip()
    return params


def progress_bars(description: str = "{task.description}") -> Progress:
    """Rich progress bars on stderr that vanish when done (nothing when stderr is not a
    terminal), each labelled by ``description``."""
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
        disable=not console_err.is_terminal,
    )


@contextlib.contextmanager
def step_progress() -> Iterator[StepProgress]:
    """A Rich progress bar per step on stderr (nothing when stderr is not a terminal);
    yields the ``progress(step, done, total)`` callback the pipeline functions take."""
    bars = progress_bars()
    tasks: dict[str, Any] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        bars.update(tasks[step], completed=done, total=total)

    with bars:
        yield update
