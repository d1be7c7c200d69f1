"""The ``dimrec`` command line: thin commands that parse input, call ``dimrec.pipeline`` and
print its result. Errors derived from DimrecError become a one-line message and an exit code,
never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dimrec import __version__
from dimrec.cli import demo, evaluate, export, jobs, publish, serve, synth, train
from dimrec.cli.common import AppState, console_err
from dimrec.config import load_settings
from dimrec.errors import DimrecError
from dimrec.logs import setup_logging

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
        typer.echo(f"dimrec {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Settings file (default $DIMREC_CONFIG, else ./dimrec.toml if present).",
        ),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
    ] = None,
    _show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """dimrec: item-to-item recommendations from the analytics warehouse to HTTP."""
    overrides: dict[str, object] = {"log_level": log_level} if log_level else {}
    settings = load_settings(config, **overrides)
    setup_logging(settings.log_level, rich=sys.stderr.isatty())
    ctx.obj = AppState(settings=settings)


# Each module owns the commands of one stage, in the order of the flow.
for module in (synth, export, train, publish, serve, jobs, evaluate, demo):
    module.register(app)


def main() -> None:
    """Entry point of the ``dimrec`` script.

    Typer (in standalone mode) reports usage errors itself with exit code 2; a DimrecError
    raised by a command becomes one line on stderr and the error's exit code.
    """
    try:
        app()
    except DimrecError as exc:
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
