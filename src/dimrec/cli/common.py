"""What every CLI command shares: the settings (read when a command first needs them), the
two consoles, date options and progress bars.

Start-up is kept short (``dimrec --help`` loads no Rich, pydantic or pipeline): modules of
commands import their machinery inside the command, and the consoles and settings are made
on first use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dimrec import dates
from dimrec.logs import set_level

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from dimrec.config import Settings

#: Called as progress(step, done, total) by long pipeline steps.
StepProgress = Callable[[str, int, int], None]
#: Width of stdout when it is not a terminal: wide enough that no table or line is wrapped
#: or cut, whatever reads the pipe.
PIPE_WIDTH = 10_000


@functools.cache
def stdout() -> Console:
    """What a command prints (summaries, tables): stdout. On a terminal it fits the window;
    piped or redirected it is never wrapped or truncated."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


@functools.cache
def stderr() -> Console:
    """Errors, warnings and progress bars: stderr."""
    from rich.console import Console

    return Console(stderr=True)


def say(line: str) -> None:
    """Print one plain line on stdout: no markup, no highlighting, never wrapped."""
    stdout().print(line, markup=False, highlight=False, soft_wrap=True)


@dataclass
class AppState:
    """What the root command learnt: where the settings are and the log level asked for.
    The settings are read on first use, so ``dimrec CMD --help`` never reads them."""

    config: list[Path] | None = None
    """The settings files given (-c, layered in order), if any."""
    log_level: str | None = None
    """The level given on the command line (``--log-level``, ``-v``), if any."""
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from dimrec.config import load_settings

            overrides = {"log_level": self.log_level} if self.log_level else {}
            self._settings = load_settings(self.config, **overrides)
            if self.log_level is None and self._settings.log_level is not None:
                set_level(self._settings.log_level)  # the settings file's level
        return self._settings


def settings_of(ctx: typer.Context) -> Settings:
    state = ctx.find_object(AppState)
    assert state is not None, "the root callback sets the app state"
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


FirstDayOption = Annotated[
    str | None,
    typer.Option("--from", help="First day of an absolute range, YYYY-MM-DD (with --to)."),
]
LastDayOption = Annotated[
    str | None,
    typer.Option("--to", help="Last day of an absolute range, YYYY-MM-DD (with --from)."),
]


def absolute_range(
    first: str | None,
    last: str | None,
    *relative: object,
) -> tuple[int, int, str] | None:
    """``--from/--to`` as ``(days_init, days_end, as_of)``; None when neither is given.
    ``relative`` are the ``--date/--days-init/--days-end/--as-of`` values: none may be given
    with an absolute range."""
    if first is None and last is None:
        return None
    if first is None or last is None:
        raise typer.BadParameter("give both --from and --to (an absolute range of days)")
    if any(value is not None for value in relative):
        raise typer.BadParameter(
            "give either --from/--to or --date/--days-init/--days-end/--as-of, not both"
        )
    init, end, as_of = dates.absolute_window(dates.parse_date(first), dates.parse_date(last))
    return init, end, as_of.isoformat()


def resolve_days(
    date: str | None,
    days_init: int | None,
    days_end: int | None,
    as_of: str | None,
    *,
    default_init: int,
    default_end: int,
    max_days: int = dates.MAX_WINDOW_DAYS,
    first: str | None = None,
    last: str | None = None,
) -> list[dt.date]:
    """Turn ``--date``, ``--days-init/--days-end/--as-of`` or ``--from/--to`` into the list
    of days (at most ``max_days`` of them)."""
    absolute = absolute_range(first, last, date, days_init, days_end, as_of)
    if absolute is not None:
        init, end, last_day = absolute
        return dates.window(init, end, dates.parse_date(last_day), max_days=max_days)
    if date is not None:
        if days_init is not None or days_end is not None:
            raise typer.BadParameter("give either --date or --days-init/--days-end, not both")
        return [dates.parse_date(date)]
    anchor = dates.parse_date(as_of) if as_of else None
    init = default_init if days_init is None else days_init
    end = default_end if days_end is None else days_end
    return dates.window(init, end, anchor, max_days=max_days)


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
    """Rich progress bars on stderr — label, bar, done/total, elapsed time and the time left —
    that vanish when done; nothing at all when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = stderr()
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@contextlib.contextmanager
def step_progress() -> Iterator[StepProgress]:
    """A progress bar per step on stderr (nothing when stderr is not a terminal); yields the
    ``progress(step, done, total)`` callback the pipeline functions take."""
    bars = progress_bars()
    tasks: dict[str, Any] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bars.add_task(step, total=total)
        bars.update(tasks[step], completed=done, total=total)

    with bars:
        yield update
