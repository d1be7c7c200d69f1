"""A whole small site for the web console's tests: a synthetic shop exported, trained twice
and published (two versions), one failed export recorded, an evaluation report written, and
settings with a jobs token."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from dimrec import pipeline
from dimrec.config import Settings, load_settings
from dimrec.errors import MissingDataError
from dimrec.evaluate import flow
from dimrec.evaluate.split import SplitSpec
from dimrec.synth import generate

TOKEN = "console-test-token-0123456789"
START = dt.date(2026, 5, 4)
SHOP_DAYS = 3


@dataclass(frozen=True)
class Site:
    settings: Settings
    config: Path
    """A dimrec.toml holding the same settings (for the worker process)."""
    first: str
    """The first version published (then replaced)."""
    second: str
    """The current version."""
    missing_day: dt.date
    """A day whose export failed (no data)."""
    missing_reason: str
    report: str
    """The evaluation report's folder name."""


def build_site(root: Path) -> Site:
    generate(
        str(root / "warehouse"),
        start=START,
        days=SHOP_DAYS,
        sessions_per_day=300,
        n_items=120,
        n_users=300,
        seed=7,
        formats=("ga360",),
    )
    config = root / "dimrec.toml"
    config.write_text(
        f"""
[paths]
data = "{root / "var"}"
[export]
input = "{root / "warehouse" / "ga360"}"
[train]
top_k = 20
[store]
url = "sqlite:///{root / "var" / "store.db"}"
[serve]
refresh_seconds = 0.1
[queue]
token = "{TOKEN}"
rate_limit_per_minute = 1000
retries = 0
"""
    )
    settings = load_settings(config)
    days = [START + dt.timedelta(days=k) for k in range(SHOP_DAYS)]
    missing_day = days[-1] + dt.timedelta(days=1)
    summary = pipeline.export_days(settings, [*days, missing_day])
    assert [m.day for m in summary.missing] == [missing_day]
    last = days[-1]
    first = pipeline.train(settings, days_init=SHOP_DAYS - 1, days_end=0, as_of=last)
    pipeline.publish(settings, first.version)
    second = pipeline.train(
        settings,
        days_init=SHOP_DAYS - 1,
        days_end=0,
        as_of=last,
        params=settings.train_params(algorithm="rp3beta"),
    )
    pipeline.publish(settings, second.version)
    with contextlib.suppress(MissingDataError):  # recorded as a failed prepare
        pipeline.prepare_days(settings, [missing_day])
    evaluation = flow.evaluate(
        settings, split=SplitSpec(cutoff=days[-2]), systems=["exact", "popularity"]
    )
    report = evaluation.report_url.rstrip("/").split("/")[-2]
    return Site(
        settings=settings,
        config=config,
        first=first.version,
        second=second.version,
        missing_day=missing_day,
        missing_reason=summary.missing[0].reason,
        report=report,
    )
