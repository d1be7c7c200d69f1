"""CLI commands of the evaluate stage: ``dimrec evaluate`` and ``dimrec tune``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from dimrec import dates
from dimrec.cli.common import settings_of, stdout, step_progress
from dimrec.errors import InvalidInputError
from dimrec.evaluate.names import DATASETS

if TYPE_CHECKING:
    from dimrec.evaluate.datasets import DataSpec
    from dimrec.evaluate.split import SplitSpec

DatasetOption = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        help=f"A public data set read directly ({', '.join(DATASETS)}); "
        "default: the exported events.",
    ),
]
DataPathOption = Annotated[
    str | None, typer.Option("--data-path", help="The data set's file, or a folder holding it.")
]
FromOption = Annotated[str | None, typer.Option("--from", help="First day of events to use.")]
ToOption = Annotated[str | None, typer.Option("--to", help="Last day of events to use.")]
CutoffOption = Annotated[
    str | None,
    typer.Option("--cutoff", help="Last training day; the test starts the day after."),
]
TestDaysOption = Annotated[
    int | None,
    typer.Option(
        "--test-days",
        help="Days in the test (default: 1 after --cutoff; without a split option, the last "
        "days holding 1,000 events or 10% of them).",
    ),
]
FractionOption = Annotated[
    float | None,
    typer.Option(
        "--cutoff-fraction",
        help="Cut-off at this fraction of the date range (0.8: test on the last 20%).",
    ),
]
PerUserOption = Annotated[
    float | None,
    typer.Option(
        "--per-user", help="Per-user split: each user's last FRACTION of events is the test."
    ),
]
ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        help="history: the query is the shopper's history before the test; session: the "
        "first half of each test session; auto (default): history when at least 20% of the "
        "test's users were seen before it, else session.",
    ),
]
SessionItemsOption = Annotated[
    str,
    typer.Option(
        "--session-items",
        help="Session mode: the query is each test session's first half (half), or its "
        "first N distinct items; the rest of the session holds the targets.",
    ),
]
TargetsOption = Annotated[
    str | None,
    typer.Option(
        "--targets",
        help="Actions that count as a hit, comma-separated (default: basket,purchase in "
        "history mode, any action in session mode).",
    ),
]
KOption = Annotated[str, typer.Option("--k", help="Cut-offs k, comma-separated.")]
OutOption = Annotated[
    str | None,
    typer.Option("--out", help="Report folder (default models/evaluations/<kind>-<version>)."),
]
MinRatingOption = Annotated[
    float, typer.Option("--min-rating", help="MovieLens: lowest rating that is a positive.")
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("evaluate")(evaluate)
    app.command("tune")(tune)
    app.command("tuned")(tuned)


def evaluate(
    ctx: typer.Context,
    system: Annotated[
        list[str] | None,
        typer.Option(
            "--system",
            "-s",
            help="A system to evaluate (repeat the option): exact, dimsum:0.1, "
            "rp3beta:alpha=0.8,beta=0.3, ease:lambda=500, exact:bm25, "
            "exact:weights=1/4/8,window=14,half_life=30, popularity, implicit-cosine, "
            "implicit-bm25. Default: all of the comparison table.",
        ),
    ] = None,
    dataset: DatasetOption = None,
    data_path: DataPathOption = None,
    first: FromOption = None,
    last: ToOption = None,
    cutoff: CutoffOption = None,
    test_days: TestDaysOption = None,
    cutoff_fraction: FractionOption = None,
    per_user: PerUserOption = None,
    mode: ModeOption = "auto",
    session_items: SessionItemsOption = "half",
    targets: TargetsOption = None,
    k: KOption = "5,10,20",
    window_days: Annotated[
        int | None,
        typer.Option("--window-days", help="Train on the last N days before the cut-off."),
    ] = None,
    half_life: Annotated[
        float | None,
        typer.Option("--half-life", help="Time decay: halve an event's score every N days."),
    ] = None,
    min_rating: MinRatingOption = 4.0,
    out: OutOption = None,
) -> None:
    """Measure recommendation quality offline: train each system on the days up to a
    cut-off, score the shoppers of the following day(s) the way the server does, and report
    HR, precision, recall, NDCG and MAP at k, coverage, fallback share and training time,
    with paired-bootstrap intervals of the differences."""
    settings = settings_of(ctx)
    from dimrec.evaluate import flow  # the evaluation stack loads only when it runs
    from dimrec.evaluate.systems import DEFAULT_SYSTEMS
    from dimrec.evaluate.task import parse_session_query

    with step_progress() as progress:
        result = flow.evaluate(
            settings,
            data=_data(dataset, data_path, first, last, min_rating),
            split=_split(cutoff, test_days, cutoff_fraction, per_user),
            systems=system or DEFAULT_SYSTEMS,
            ks=_ints(k, "--k"),
            mode=_mode(mode),
            target_actions=_words(targets) if targets else None,
            session_items=parse_session_query(session_items),
            window_days=window_days,
            half_life_days=half_life,
            report_to=out,
            progress=progress,
        )
    from dimrec.evaluate.report import rich_table  # loads only when a report is shown

    console = stdout()
    console.print(rich_table(result.evaluation, reference=result.reference))
    console.print(f"report: {result.report_url}", soft_wrap=True)


def tune(
    ctx: typer.Context,
    grid: Annotated[
        str | None,
        typer.Option("--grid", help="TOML file of the values to try (keys of TuneGrid)."),
    ] = None,
    algorithms: Annotated[
        str | None,
        typer.Option("--algorithms", help="Algorithms to search, e.g. exact,rp3beta,ease."),
    ] = None,
    windows: Annotated[
        str | None,
        typer.Option("--windows", help="Window lengths in days to try, e.g. 14,30,all."),
    ] = None,
    half_lives: Annotated[
        str | None,
        typer.Option("--half-lives", help="Time-decay half-lives in days to try, e.g. none,30,90."),
    ] = None,
    top_ks: Annotated[
        str | None,
        typer.Option("--top-ks", help="Neighbours kept per item to try, e.g. 100,300."),
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Also run implicit's cosine and BM25 on the test.")
    ] = True,
    dataset: DatasetOption = None,
    data_path: DataPathOption = None,
    first: FromOption = None,
    last: ToOption = None,
    cutoff: CutoffOption = None,
    test_days: TestDaysOption = None,
    cutoff_fraction: FractionOption = None,
    per_user: PerUserOption = None,
    mode: ModeOption = "auto",
    session_items: SessionItemsOption = "half",
    targets: TargetsOption = None,
    k: KOption = "5,10,20",
    min_rating: MinRatingOption = 4.0,
    out: OutOption = None,
    fragment: Annotated[
        str | None,
        typer.Option(
            "--fragment", help="Where to write the choice as a settings file to layer with -c."
        ),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Apply the choice: `dimrec train` and the daily chain use it from now on "
            "(see `dimrec tuned`).",
        ),
    ] = False,
    folds: Annotated[
        int,
        typer.Option(
            "--folds",
            min=1,
            help="Validation splits, each moved back by the test's length from the one after "
            "it; every trial is scored on their mean (N times the search's time). 2 guards "
            "against a choice that fits one season only.",
        ),
    ] = 1,
) -> None:
    """Choose algorithm and parameters by NDCG@10 on a validation split carved from the
    training period (never the test days; --folds for several), retrain on the whole training
    period, evaluate once on the test and write the choice (tuned.json, and dimrec.tuned.toml
    to layer over your settings with -c). With --apply, train and the daily chain use it from
    now on."""
    settings = settings_of(ctx)
    overrides: dict[str, object] = {
        "algorithms": _words(algorithms) if algorithms else None,
        "top_k": _ints(top_ks, "--top-ks") if top_ks else None,
        "window_days": _optional_numbers(windows, int, "--windows") if windows else None,
        "half_life_days": _optional_numbers(half_lives, float, "--half-lives")
        if half_lives
        else None,
    }
    from dimrec.evaluate import flow
    from dimrec.evaluate.report import rich_table
    from dimrec.evaluate.task import parse_session_query
    from dimrec.evaluate.tune import load_grid

    chosen_grid = load_grid(grid or "", **overrides)
    with step_progress() as progress:
        result = flow.tune(
            settings,
            data=_data(dataset, data_path, first, last, min_rating),
            split=_split(cutoff, test_days, cutoff_fraction, per_user),
            grid=chosen_grid,
            ks=_ints(k, "--k"),
            mode=_mode(mode),
            target_actions=_words(targets) if targets else None,
            session_items=parse_session_query(session_items),
            baselines=baselines,
            report_to=out,
            fragment_to=fragment,
            apply=apply,
            folds=folds,
            progress=progress,
        )
    outcome = result.result
    console = stdout()
    console.print(
        f"chosen on validation ({outcome.validation}): {outcome.best.label()} "
        f"(NDCG@10 {outcome.best_trial().ndcg:.4f}, {len(outcome.trials)} trials)",
        soft_wrap=True,
    )
    console.print(rich_table(outcome.test, reference=outcome.reference))
    console.print(f"report: {result.report_url}", soft_wrap=True)
    console.print(f"configuration: {result.fragment_url}", soft_wrap=True)
    console.print(result.fragment, highlight=False, markup=False, soft_wrap=True)
    if result.applied_url is not None:
        console.print(
            f"applied ({result.applied_url}): `dimrec train` and the daily chain use it now",
            soft_wrap=True,
        )


def tuned(
    ctx: typer.Context,
    apply: Annotated[
        str | None,
        typer.Option(
            "--apply",
            help="Apply the choice of an earlier tune run (its name, tune-<version>, or its "
            "folder).",
        ),
    ] = None,
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Remove the applied tune: back to the settings' [train]."),
    ] = False,
) -> None:
    """Show the applied tune: the configuration `dimrec train` and the daily chain use over
    the settings' [train] and [weights] (command-line and job parameters still win)."""
    settings = settings_of(ctx)
    from rich.table import Table

    from dimrec import tuned as applied_tune
    from dimrec.fsio import join

    console = stdout()
    models = settings.paths.models_url()
    if apply and clear:
        raise InvalidInputError("give --apply or --clear, not both")
    if clear:
        gone = applied_tune.clear(models)
        console.print("applied tune removed" if gone else "no tune was applied", soft_wrap=True)
        return
    if apply:
        folder = join(models, "evaluations", apply) if "/" not in apply else apply
        applied_tune.apply_run(models, folder)
    config = applied_tune.applied(models)
    if config is None:
        console.print(
            "no tune applied: training uses the settings' [train] and [weights] "
            "(`dimrec tune --apply` applies a choice)",
            soft_wrap=True,
        )
        return
    console.print(f"applied tune {config.run} ({config.created_at}, {config.dataset})")
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in config.params.items():
        table.add_row(name, str(value))
    table.add_row("weights", ", ".join(f"{k} {v:g}" for k, v in config.weights.items()))
    table.add_row(
        "window",
        "the settings' window" if config.window_days is None else f"{config.window_days} days",
    )
    table.add_row("sim_cap", str(config.sim_cap))
    table.add_row("chosen on", f"{config.validation} ({config.mode} mode)")
    table.add_row("scores", ", ".join(f"{k} {v:.4f}" for k, v in config.scores.items()))
    table.add_row("report", config.report)
    console.print(table)


def _data(
    dataset: str | None, path: str | None, first: str | None, last: str | None, min_rating: float
) -> DataSpec:
    from dimrec.evaluate.datasets import DataSpec

    return DataSpec(
        dataset=dataset,
        path=path,
        first=dates.parse_date(first) if first else None,
        last=dates.parse_date(last) if last else None,
        min_rating=min_rating,
    )


def _split(
    cutoff: str | None, test_days: int | None, fraction: float | None, per_user: float | None
) -> SplitSpec:
    from dimrec.evaluate.split import SplitSpec

    return SplitSpec(
        cutoff=dates.parse_date(cutoff) if cutoff else None,
        test_days=test_days,
        cutoff_fraction=fraction,
        per_user_fraction=per_user,
    )


def _mode(mode: str) -> Any:
    if mode not in ("history", "session", "auto"):
        raise InvalidInputError(f"--mode must be history, session or auto (got {mode!r})")
    return mode


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(w) for w in _words(text)]
    except ValueError:
        raise InvalidInputError(f"{option} takes whole numbers separated by commas") from None
    if not values or min(values) < 1:
        raise InvalidInputError(f"{option} needs numbers of at least 1 (got {text!r})")
    return values


def _optional_numbers(text: str, kind: type[int] | type[float], option: str) -> list[Any]:
    values: list[Any] = []
    for word in _words(text):
        if word.lower() in ("none", "all"):
            values.append(None)
            continue
        try:
            values.append(kind(word))
        except ValueError:
            raise InvalidInputError(
                f"{option}: {word!r} is not a number (use none/all for no limit)"
            ) from None
    return values
