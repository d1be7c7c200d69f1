"""CLI commands of the train stage: ``dimrec prepare`` and ``dimrec train``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dimrec.cli.common import (
    AsOfOption,
    DateOption,
    DaysEndOption,
    DaysInitOption,
    FirstDayOption,
    LastDayOption,
    ParamOption,
    absolute_range,
    parse_params,
    resolve_days,
    say,
    settings_of,
    stdout,
    step_progress,
)

if TYPE_CHECKING:
    from dimrec.model import Manifest

ForceOption = Annotated[
    bool, typer.Option("--force", help="Recompute the profiles even when they are current.")
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("prepare")(prepare)
    app.command("train")(train)


def prepare(
    ctx: typer.Context,
    date: DateOption = None,
    days_init: DaysInitOption = None,
    days_end: DaysEndOption = None,
    as_of: AsOfOption = None,
    first: FirstDayOption = None,
    last: LastDayOption = None,
    force: ForceOption = False,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="local or spark (default: the train engine setting)."),
    ] = None,
) -> None:
    """Turn exported events into daily profiles (user, item, score): one day (--date), a
    range counted back from --as-of (default: yesterday) or the days --from..--to. Days
    already prepared are kept unless their events were exported again, the weights changed,
    or --force is given. (`dimrec train` prepares the days of its window by itself.)"""
    from rich.table import Table

    from dimrec import pipeline

    settings = settings_of(ctx)
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
        summary = pipeline.prepare_days(
            settings, days, force=force, engine=engine, progress=progress
        )
    table = Table("day", "events", "profiles", "status", "seconds", title="prepare")
    for day in summary.days:
        status = "cached" if day.cached else "prepared"
        events = "" if day.cached else str(day.events)
        table.add_row(day.day.isoformat(), events, str(day.profiles), status, f"{day.seconds:.3f}")
    stdout().print(table)
    say(
        f"{len(summary.prepared)} day(s) prepared, {len(summary.cached)} cached "
        f"under {settings.paths.profiles_url()}"
    )


def train(
    ctx: typer.Context,
    days_init: DaysInitOption = None,
    days_end: DaysEndOption = None,
    as_of: AsOfOption = None,
    first: FirstDayOption = None,
    last: LastDayOption = None,
    algorithm: Annotated[
        str | None,
        typer.Option(
            "--algorithm",
            help="blend, cosine, exact, dimsum, rp3beta, ease or sequential (other parameters:"
            " --param NAME=VALUE).",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="DIMSUM threshold in [0, 1]; 0 means exact."),
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Neighbours kept per item.")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="local or spark.")] = None,
    min_items: Annotated[
        int | None, typer.Option("--min-items", help="Leave out users with fewer items.")
    ] = None,
    max_items: Annotated[
        int | None, typer.Option("--max-items", help="Leave out users with more items.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of DIMSUM's sampling.")] = None,
    weighting: Annotated[
        str | None,
        typer.Option("--weighting", help="Reweight the matrix first: none, bm25 or tfidf."),
    ] = None,
    half_life: Annotated[
        float | None,
        typer.Option("--half-life", help="Time decay: halve a day's scores every N days of age."),
    ] = None,
    rp3_alpha: Annotated[
        float | None, typer.Option("--rp3-alpha", help="rp3beta: exponent of each step.")
    ] = None,
    rp3_beta: Annotated[
        float | None,
        typer.Option("--rp3-beta", help="rp3beta: popularity penalty of a neighbour."),
    ] = None,
    ease_lambda: Annotated[
        float | None, typer.Option("--ease-lambda", help="ease: L2 penalty λ.")
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Train on the days that exist when some are missing."),
    ] = False,
    param: ParamOption = None,
) -> None:
    """Train a model on a window of days (--days-init/--days-end before --as-of, or the days
    --from..--to) and write it as a new version under models/. Unset options come from the
    applied tune (`dimrec tuned`), else the [train] settings."""
    from dimrec import pipeline

    settings = settings_of(ctx)
    absolute = absolute_range(first, last, days_init, days_end, as_of)
    if absolute is not None:
        days_init, days_end, as_of = absolute
    named = {
        "algorithm": algorithm,
        "threshold": threshold,
        "top_k": top_k,
        "min_items": min_items,
        "max_items": max_items,
        "seed": seed,
        "weighting": weighting,
        "half_life_days": half_life,
        "rp3_alpha": rp3_alpha,
        "rp3_beta": rp3_beta,
        "ease_lambda": ease_lambda,
    }
    with step_progress() as progress:
        model = pipeline.train(
            settings,
            days_init=days_init,
            days_end=days_end,
            as_of=as_of,
            overrides={**named, **parse_params(param)},
            engine=engine,
            allow_missing=allow_missing or None,
            progress=progress,
        )
    _print_model(model.manifest, model.url)


def _print_model(manifest: Manifest, url: str) -> None:
    from rich.table import Table

    window, counts = manifest.window, manifest.counts
    say(f"model {manifest.version} written to {url}")
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("engine", f"{manifest.engine}, {manifest.params.algorithm}")
    if manifest.tuned_by is not None:
        table.add_row("tuned by", manifest.tuned_by)
    days, missing = window.days, window.missing_days
    table.add_row(
        "window",
        f"{days[0]}..{days[-1]}, {len(days)} day(s)"
        + (f", missing {', '.join(map(str, missing))}" if missing else ""),
    )
    table.add_row(
        "counts",
        f"{counts.users} users ({counts.users_dropped} left out), {counts.items} items, "
        f"{counts.pairs} pairs, {counts.profiles} profiles",
    )
    timings = ", ".join(f"{step} {seconds:.3f}s" for step, seconds in manifest.timings.items())
    table.add_row("timings", timings)
    stdout().print(table)
