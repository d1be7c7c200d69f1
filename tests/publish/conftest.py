"""Fixtures of the publish tests: one store per backend (memory, SQLite, a real Redis); the
backends come from ``store_url`` (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dimrec.publish.base import Store
from dimrec.publish.stores import open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
