"""CLI commands of the publish stage: ``publish``, ``rollback``, ``versions`` and the
availability commands ``hide``, ``unhide``, ``hidden``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dimrec import pipeline
from dimrec.cli.common import console, settings_of, step_progress
from dimrec.errors import InvalidInputError

ItemsArgument = Annotated[
    list[str] | None, typer.Argument(help="One or more item ids.", show_default=False)
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("publish")(publish)
    app.command("rollback")(rollback)
    app.command("versions")(versions)
    app.command("hide")(hide)
    app.command("unhide")(unhide)
    app.command("hidden")(hidden)


def publish(
    ctx: typer.Context,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Model version to publish (default the newest)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Publish even when the catalogue shrinks below store.min_item_fraction."
        ),
    ] = False,
) -> None:
    """Write a model version to the store and make it current in one atomic step."""
    settings = settings_of(ctx)
    with step_progress() as progress:
        summary = pipeline.publish(settings, version, force=force, progress=progress)
    _say(summary.message)
    for name in summary.cleaned:
        _say(f"removed {name}, left staged by an interrupted publish")
    if summary.pruned:
        _say(f"pruned {', '.join(summary.pruned)}")


def rollback(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Version to make current (default the previous one)."),
    ] = None,
) -> None:
    """Make the previous published version current again."""
    settings = settings_of(ctx)
    current = pipeline.rollback(settings, to)
    _say(f"current version: {current}")


def versions(ctx: typer.Context) -> None:
    """List the versions in the store."""
    settings = settings_of(ctx)
    infos = pipeline.versions(settings)
    if not infos:
        _say(f"no versions in {settings.store.url}; run `dimrec publish`")
        return
    table = Table("version", "items", "published at", "state", title=settings.store.url)
    for info in infos:
        state = "current" if info.current else "staged (incomplete)" if info.staged else ""
        table.add_row(info.version, f"{info.items:,}", info.published_at, state)
    console.print(table)


def hide(ctx: typer.Context, items: ItemsArgument = None) -> None:
    """Never recommend these items (sold out, withdrawn), in every version, until unhidden."""
    change = pipeline.hide(settings_of(ctx), _some(items))
    _say(f"{change.changed} item(s) newly hidden; {change.hidden} hidden in all")


def unhide(ctx: typer.Context, items: ItemsArgument = None) -> None:
    """Make hidden items recommendable again."""
    change = pipeline.unhide(settings_of(ctx), _some(items))
    _say(f"{change.changed} item(s) unhidden; {change.hidden} hidden in all")


def hidden(ctx: typer.Context) -> None:
    """List the hidden items, one per line."""
    for item in sorted(pipeline.hidden(settings_of(ctx))):
        typer.echo(item)


def _some(items: list[str] | None) -> list[str]:
    if not items:
        raise InvalidInputError("give at least one item id, e.g. `dimrec hide SKU-1 SKU-2`")
    return items


def _say(message: str) -> None:
    """One plain line: no markup, no highlighting, no hard wrapping inside long URLs."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)
