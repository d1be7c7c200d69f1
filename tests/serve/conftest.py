"""Fixtures of the serve tests: settings that poll fast, a fresh memory store, a live server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from serve_helpers import live_server

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.publish.stores import open_store
from dimrec.serve.app import create_app


@pytest.fixture
def serve_settings(settings: Settings) -> Settings:
    """Settings with small limits (so the 422 cases are cheap) and a 50 ms store poll."""
    serve = settings.serve.model_copy(
        update={"refresh_seconds": 0.05, "max_n": 20, "max_input_items": 8, "max_shoppers": 3}
    )
    return settings.model_copy(update={"serve": serve})


@pytest.fixture
def store() -> Iterator[Store]:
    opened = open_store(f"memory://serve-{uuid.uuid4().hex}")
    yield opened
    opened.close()


@pytest.fixture
def server_url(serve_settings: Settings, store: Store) -> Iterator[str]:
    with live_server(create_app(serve_settings, store), serve_settings.serve) as url:
        yield url


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=10) as http:
        yield http
