"""Fixtures of the export tests: a small synthetic shop written once per session, and
settings pointed at it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dimrec.config import Settings
from dimrec.synth import generate

SHOP_START = dt.date(2026, 11, 18)
SHOP_DAYS = 3
CORRUPT_LINES = 3


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of a small synthetic shop in all three shapes, with malformed lines in the
    GA files, plus truth.json (the generator's own counts)."""
    out = tmp_path_factory.mktemp("shop")
    generate(
        str(out),
        start=SHOP_START,
        days=SHOP_DAYS,
        sessions_per_day=400,
        n_items=150,
        n_users=300,
        seed=11,
        corrupt_lines=CORRUPT_LINES,
    )
    return out


@pytest.fixture(scope="session")
def truth(shop: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((shop / "truth.json").read_text())
    return document


@pytest.fixture
def shop_days() -> list[dt.date]:
    return [SHOP_START + dt.timedelta(days=k) for k in range(SHOP_DAYS)]


@pytest.fixture
def export_settings(settings: Settings, shop: Path) -> Settings:
    """The test's settings reading the shop's GA360 folder (change with with_export)."""
    from export_helpers import with_export

    return with_export(settings, source="ga360", input=str(shop / "ga360"))
