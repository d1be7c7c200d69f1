"""``dimrec demo``: the whole flow on a synthetic shop, then a live server.

synth → export → prepare → train → publish (the configured store, SQLite by default) →
serve on loopback → a few sample shoppers' recommendations over real HTTP. The server keeps
running with its URL shown until Ctrl-C, unless ``--exit``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import defaultdict
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dimrec import dates
from dimrec.cli.common import say, settings_of, stderr, stdout, step_progress
from dimrec.errors import DimrecError
from dimrec.synth.sizes import SIZES

if TYPE_CHECKING:
    from dimrec.config import Settings

PARAM_OF_ACTION = {"browse": "browsed", "basket": "basket", "purchase": "purchased"}


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    size: Annotated[str, typer.Option("--size", help=f"Shop size: {', '.join(SIZES)}.")] = "small",
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port [serve.port].")
    ] = None,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Stop the server after printing the samples.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic shop.")] = 0,
) -> None:
    """Run the whole flow on a synthetic shop and serve it on loopback."""
    from dimrec import pipeline  # the stages load only when a command needs them
    from dimrec.synth.generate import generate

    settings = settings_of(ctx)
    if size not in SIZES:
        raise typer.BadParameter(f"--size must be one of {', '.join(SIZES)}")
    preset = SIZES[size]
    as_of = dt.date.today()
    days = dates.window(preset["days"], 1, as_of)
    started = time.perf_counter()

    warehouse = str(PurePosixPath(settings.export.input).parent)
    with stderr().status(f"synth: {len(days)} days of a {size} shop under {warehouse}"):
        shop = generate(warehouse, start=days[0], seed=seed, formats=("ga360",), **preset)
    say(f"synth     {shop.sessions:,} sessions over {len(days)} days → {warehouse}")

    with step_progress() as progress:
        exported = pipeline.export_days(settings, days, progress=progress)
    exported.raise_for_missing()
    say(f"export    {exported.events:,} events, {exported.users:,} users, {exported.items:,} items")

    with step_progress() as progress:
        model = pipeline.train(
            settings,
            days_init=len(days),
            days_end=1,
            as_of=as_of,
            allow_missing=False,
            progress=progress,
        )
    counts = model.manifest.counts
    say(
        f"train     model {model.version}: {counts.items:,} items, "
        f"{counts.pairs:,} neighbour pairs from {counts.users:,} shoppers"
    )

    with step_progress() as progress:
        published = pipeline.publish(settings, model.version, progress=progress)
    say(f"publish   {published.message} ({settings.store.url})")

    server, url = _start_server(settings, port)
    say(f"serve     {url} (API docs {url}/docs) — ready in {time.perf_counter() - started:.0f}s")
    _show_samples(url, _sample_shoppers(settings, days[-1]))
    if exit_after:
        server.should_exit = True
        return
    stdout().print(f"\n[bold]serving on {url}[/] — try {url}/docs ; Ctrl-C stops", soft_wrap=True)
    try:
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True


def _start_server(settings: Settings, port: int | None) -> tuple[Any, str]:
    import uvicorn

    from dimrec.serve.app import create_app
    from dimrec.serve.limits import LimitConfig

    host = settings.serve.host
    config = LimitConfig(  # the request limits of `dimrec serve`, heads included
        create_app(settings),
        limits=settings.serve,
        host=host,
        port=settings.serve.port if port is None else port,
        loop="uvloop",
        access_log=False,
        log_config=None,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dimrec-demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise DimrecError(f"the server did not start on {host}:{config.port} (port in use?)")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://{host}:{bound}"


def _sample_shoppers(
    settings: Settings, day: dt.date, count: int = 3
) -> list[dict[str, list[str]]]:
    """A few real shoppers of the last day (their items by action), and one unknown."""
    from dimrec import partitions

    events = partitions.events(settings.paths.events_url()).read(day).to_pylist()
    by_user: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in events:
        items = by_user[row["user"]][PARAM_OF_ACTION[row["action"]]]
        if row["item"] not in items:
            items.append(row["item"])
    typical = sorted(
        (kv for kv in by_user.items() if 3 <= sum(map(len, kv[1].values())) <= 6),
        key=lambda kv: (-len(kv[1]), kv[0]),
    )
    samples = [dict(actions) for _, actions in typical[:count]]
    samples.append({"browsed": ["NEVER-SEEN-ITEM"]})
    return samples


def _show_samples(url: str, shoppers: list[dict[str, list[str]]]) -> None:
    import urllib.parse
    import urllib.request

    from rich.table import Table

    console = stdout()
    for shopper in shoppers:
        query = {key: ",".join(items) for key, items in shopper.items() if items}
        query["n"] = "5"
        address = f"/make_recommendation?{urllib.parse.urlencode(query, safe=',')}"
        with urllib.request.urlopen(url + address, timeout=10) as answer:
            body = json.loads(answer.read())
        console.print(f"\n[bold]GET[/] {address}", highlight=False, soft_wrap=True)
        title = "popularity fallback (no known item)" if body.get("fallback") else "similar items"
        table = Table("item", "score", title=title, title_justify="left")
        for result in body["results"]:
            table.add_row(result["item"], f"{result['score']:.4f}")
        console.print(table)
