"""The ``dimrec`` command line: thin commands that parse input, call ``dimrec.pipeline`` and
print its result. Errors derived from DimrecError become a one-line message and their exit
code; any other exception that reaches the command line is one line too, with exit code 1
(its traceback only with ``--log-level DEBUG``)."""

from __future__ import annotations

import enum
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from dimrec.cli import demo, evaluate, export, jobs, publish, serve, synth, train, upkeep
from dimrec.cli.common import AppState, stderr
from dimrec.errors import DimrecError
from dimrec.logs import setup_logging


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


#: Commands that are services: they log at INFO, as JSON lines when not on a terminal.
SERVICES = ("serve", "worker")
_VERBOSITY = {0: None, 1: "INFO", 2: "DEBUG"}

app = typer.Typer(
    name="dimrec",
    help="Item-to-item recommendations: export → prepare → train → publish → serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts are plain: [serve.port] is a setting, not markup
)


def _version(value: bool) -> None:
    if value:
        from dimrec import __version__

        typer.echo(f"dimrec {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            "-c",
            help="Settings file (default $DIMREC_CONFIG, else ./dimrec.toml if present); "
            "repeat to layer files, a later one's keys winning (-c dimrec.toml -c more.toml).",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="Log more: -v INFO, -vv DEBUG (on stderr)."
        ),
    ] = 0,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            case_sensitive=False,
            help="[log_level]; default WARNING (serve and worker: INFO).",
        ),
    ] = None,
    _show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """dimrec: item-to-item recommendations from the analytics warehouse to HTTP."""
    level = log_level.value if log_level else _VERBOSITY[min(verbose, 2)]
    setup_logging(level, service=ctx.invoked_subcommand in SERVICES)
    ctx.obj = AppState(config=config, log_level=level)


# Each module owns the commands of one stage, in the order of the flow.
for module in (synth, export, train, publish, serve, jobs, evaluate, upkeep, demo):
    module.register(app)


def main() -> None:
    """Entry point of the ``dimrec`` script.

    Typer (in standalone mode) reports usage errors itself with exit code 2; a DimrecError
    raised by a command becomes one line on stderr and the error's exit code. Anything else
    is a failure dimrec did not foresee: one line naming it, exit code 1, and the traceback
    only when the log level is DEBUG.
    """
    try:
        app()
    except DimrecError as exc:
        _fail(str(exc), exc.exit_code)
    except Exception as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            stderr().print_exception()
            hint = ""
        else:
            hint = " (run with --log-level DEBUG for the traceback)"
        _fail(f"unexpected {type(exc).__name__}: {exc}{hint}", 1)


def _fail(message: str, code: int) -> None:
    """One line on stderr, then exit with ``code``."""
    from rich.markup import escape

    line = " ".join(message.split())
    stderr().print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    sys.exit(code)
