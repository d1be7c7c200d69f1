"""A live server over a SQLite store whose file is deleted (a real ``rm``) and made again at
the same path, and over a store that is down: what it serves and what it reports."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import live_server, publish_lists, wait_for

from dimrec.config import Settings
from dimrec.publish.stores import open_store
from dimrec.serve.app import create_app
from ports import free_port

OLD = {"a": [("b", 0.5), ("c", 0.25)], "b": [("a", 0.5)], "c": [("a", 0.25)]}
NEW = {"a": [("x", 0.75), ("c", 0.5)], "x": [("a", 0.75)], "c": [("a", 0.5)]}


@pytest.fixture
def database(serve_settings: Settings) -> Path:
    return Path(serve_settings.store.url.removeprefix("sqlite:///"))


@pytest.fixture
def served(serve_settings: Settings, tmp_path: Path) -> Iterator[httpx.Client]:
    """A server following the SQLite store of the settings, serving OLD."""
    store = open_store(serve_settings.store.url)
    publish_lists(store, tmp_path / "models", OLD, minute=1)
    store.close()
    with (
        live_server(create_app(serve_settings)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the first version")
        yield client


def answer(client: httpx.Client) -> list[str]:
    found = client.get("/make_recommendation", params={"browsed": "a"})
    assert found.status_code == 200
    return [r["item"] for r in found.json()["results"]]


def remove(database: Path) -> None:
    """What an operator types: rm var/store.db*"""
    subprocess.run(f"rm -f {database}*", shell=True, check=True)


def test_a_deleted_and_republished_store_is_followed(
    served: httpx.Client, serve_settings: Settings, database: Path, tmp_path: Path
) -> None:
    assert answer(served) == ["b", "c"]
    remove(database)
    ready = wait_for(
        lambda: (r := served.get("/readyz").json())["last_error"] and r, what="the deletion"
    )
    assert "was deleted" in ready["last_error"]
    assert ready["ready"] is True  # the loaded version keeps answering
    assert answer(served) == ["b", "c"]

    store = open_store(serve_settings.store.url)  # a new file at the same path
    version = publish_lists(store, tmp_path / "models", NEW, minute=2)
    store.hide(["c"])
    store.close()
    wait_for(lambda: served.get("/readyz").json()["version"] == version, what="the new store")
    assert answer(served) == ["x"]  # NEW, without the hidden item
    ready = served.get("/readyz").json()
    assert ready["store_replaced"] == 1
    assert ready["store_replaced_at"] is not None
    assert ready["last_error"] is None
    assert ready["store_up"] is True
    assert "dimrec_store_replaced 1.0" in served.get("/metrics").text


def test_items_hidden_in_a_new_store_leave_the_answers_of_the_loaded_version(
    served: httpx.Client, serve_settings: Settings, database: Path
) -> None:
    assert answer(served) == ["b", "c"]
    store = open_store(serve_settings.store.url)
    store.hide(["c"])  # generation 1 in the old store
    wait_for(lambda: answer(served) == ["b"], what="c to be hidden")
    store.close()
    remove(database)
    store = open_store(serve_settings.store.url)
    store.hide(["b"])  # generation 1 again, in a new store holding no version
    store.close()
    wait_for(lambda: answer(served) == ["c"], what="the new store's hidden items")
    ready = served.get("/readyz").json()
    assert ready["store_version"] is None
    assert ready["hidden"] == 1
    assert ready["store_replaced"] == 1


def test_a_store_that_is_down_shows_in_the_metrics(serve_settings: Settings) -> None:
    store = serve_settings.store.model_copy(update={"url": f"redis://127.0.0.1:{free_port()}/0"})
    down = serve_settings.model_copy(update={"store": store})
    with (
        live_server(create_app(down)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["store_up"] is False
        assert "unreachable" in ready.json()["last_error"]
        assert "\ndimrec_store_up 0.0\n" in client.get("/metrics").text


def test_a_store_that_is_up_shows_in_the_metrics(served: httpx.Client) -> None:
    assert "\ndimrec_store_up 1.0\n" in served.get("/metrics").text
    assert served.get("/readyz").json()["index"].endswith(".dmx")
