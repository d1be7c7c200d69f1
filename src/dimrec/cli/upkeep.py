"""CLI commands of upkeep: ``dimrec gc`` (left-overs of interrupted writes) and ``dimrec
doctor`` (integrity checks)."""

from __future__ import annotations

from typing import Annotated

import typer

from dimrec.cli.common import say, settings_of, stdout

#: Left-overs younger than this many seconds are left alone by default (the same value as
#: dimrec.upkeep.leftovers.MIN_AGE_SECONDS, which a test keeps equal; not imported here so
#: that `dimrec --help` loads no stage).
MIN_AGE_SECONDS = 3600.0

MinAgeOption = Annotated[
    float,
    typer.Option(
        "--min-age",
        min=0,
        help="Only left-overs last written this many seconds ago or more (younger ones may be "
        "being written right now).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("gc")(gc)
    app.command("doctor")(doctor)


def gc(
    ctx: typer.Context,
    min_age: MinAgeOption = MIN_AGE_SECONDS,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the left-overs, remove nothing.")
    ] = False,
) -> None:
    """Remove left-overs of interrupted writes: temporary files of atomic writes, model
    folders without a manifest, records of an earlier dimrec."""
    from dimrec import pipeline

    found = pipeline.gc(settings_of(ctx), min_age=min_age, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for item in found:
        say(
            f"{verb} {item.kind} {item.url} ({item.bytes:,} bytes, "
            f"{item.age_seconds / 3600:.1f} h old)"
        )
    total = sum(item.bytes for item in found)
    done = "to remove (dry run)" if dry_run else "removed"
    say(f"{len(found)} left-over(s), {total:,} bytes, {done}")


def doctor(ctx: typer.Context, min_age: MinAgeOption = MIN_AGE_SECONDS) -> None:
    """Check what dimrec wrote: every events and profiles file readable, every model's
    manifest and checksums, the store's own integrity check and its versions, left-overs.
    Exits 5 when it finds a problem."""
    from rich.markup import escape
    from rich.table import Table

    from dimrec import pipeline
    from dimrec.errors import IntegrityError

    report = pipeline.doctor(settings_of(ctx), min_age=min_age)
    table = Table("area", "", "finding", title="dimrec doctor")
    marks = {"ok": "[green]ok[/]", "note": "[yellow]note[/]", "problem": "[bold red]PROBLEM[/]"}
    for finding in report.findings:
        table.add_row(finding.area, marks[finding.severity], escape(finding.what))
    stdout().print(table)
    problems = report.problems
    if problems:
        raise IntegrityError(
            f"doctor found {len(problems)} problem(s); the first: {problems[0].what}"
        )
