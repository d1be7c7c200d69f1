"""CLI commands of the publish stage: ``publish``, ``rollback``, ``versions`` and the
availability commands ``hide``, ``unhide``, ``hidden``."""

from __future__ import annotations

from typing import Annotated

import typer

from dimrec.cli.common import say, settings_of, stdout, step_progress
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
    from dimrec import pipeline

    settings = settings_of(ctx)
    with step_progress() as progress:
        summary = pipeline.publish(settings, version, force=force, progress=progress)
    say(summary.message)
    for name in summary.cleaned:
        say(f"removed {name}, left staged by an interrupted publish")
    if summary.pruned:
        say(f"pruned {', '.join(summary.pruned)}")


def rollback(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Version to make current (default the previous one)."),
    ] = None,
) -> None:
    """Make the previous published version current again."""
    from dimrec.publish import admin

    with admin.open_settings_store(settings_of(ctx), create=False) as store:
        current = admin.rollback(store, to)
    say(f"current version: {current}")


def versions(ctx: typer.Context) -> None:
    """List the versions in the store."""
    from rich.table import Table

    from dimrec.publish.admin import open_settings_store

    settings = settings_of(ctx)
    with open_settings_store(settings, create=False) as store:
        infos = store.versions()
    if not infos:
        say(f"no versions in {settings.store.url}; run `dimrec publish`")
        return
    say(settings.store.url)
    table = Table("version", "items", "published at", "state")
    for info in infos:
        state = "current" if info.current else "staged (incomplete)" if info.staged else ""
        table.add_row(info.version, f"{info.items:,}", info.published_at, state)
    stdout().print(table)


def hide(ctx: typer.Context, items: ItemsArgument = None) -> None:
    """Never recommend these items (sold out, withdrawn), in every version, until unhidden."""
    from dimrec.publish import admin

    chosen = _some(items)
    with admin.open_settings_store(settings_of(ctx)) as store:
        change = admin.hide(store, chosen)
    say(f"{change.changed} item(s) newly hidden; {change.hidden} hidden in all")


def unhide(ctx: typer.Context, items: ItemsArgument = None) -> None:
    """Make hidden items recommendable again."""
    from dimrec.publish import admin

    chosen = _some(items)
    with admin.open_settings_store(settings_of(ctx), create=False) as store:
        change = admin.unhide(store, chosen)
    say(f"{change.changed} item(s) unhidden; {change.hidden} hidden in all")


def hidden(ctx: typer.Context) -> None:
    """List the hidden items, one per line."""
    from dimrec.publish.admin import open_settings_store

    with open_settings_store(settings_of(ctx), create=False) as store:
        hidden_items = store.hidden()
    for item in sorted(hidden_items):
        typer.echo(item)


def _some(items: list[str] | None) -> list[str]:
    if not items:
        raise InvalidInputError("give at least one item id, e.g. `dimrec hide SKU-1 SKU-2`")
    return items
