"""The store follower, one poll at a time, on a real memory store (with injected faults)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from serve_helpers import put_version

from dimrec.errors import StoreError
from dimrec.publish.base import Entry, Store
from dimrec.serve.follow import StoreFollower
from dimrec.serve.scoring import recommend

LISTS = {"a": [("b", 0.5)], "b": [("a", 0.5)]}


class Faulty:
    """A real store whose reads can be made to fail: what a server sees when it goes away."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.reads_of_entries = 0

    def __getattr__(self, name: str) -> Any:
        if self.down:
            raise StoreError(f"store unreachable ({name})")
        return getattr(self.store, name)

    def entries(self, version: str) -> Iterator[Entry]:
        self.reads_of_entries += 1
        return self.store.entries(version)


def follower_of(store: Any) -> StoreFollower:
    return StoreFollower(lambda: store, refresh_seconds=60, popularity_depth=10, owns_store=False)


def test_follows_versions_and_hidden_items(store: Store) -> None:
    follower = follower_of(store)
    follower.refresh()
    assert follower.state is None
    assert follower.status.store_version is None

    put_version(store, "v1", LISTS, [("a", 1.0)])
    follower.refresh()
    assert follower.state is not None
    assert follower.state.version == "v1"
    first = follower.state
    follower.refresh()
    assert follower.state is first  # nothing changed: nothing rebuilt

    store.hide(["b"])
    follower.refresh()
    assert follower.state.index is first.index  # same version, new mask only
    assert recommend(follower.state, {"a": 1.0}, 5).results == []


def test_an_unreachable_store_keeps_the_loaded_version(store: Store) -> None:
    faulty = Faulty(store)
    follower = follower_of(faulty)
    put_version(store, "v1", LISTS)
    follower.refresh()
    faulty.down = True
    follower.refresh()
    assert follower.state is not None
    assert follower.state.version == "v1"
    assert follower.status.last_error is not None
    assert "unreachable" in follower.status.last_error
    faulty.down = False
    follower.refresh()
    assert follower.status.last_error is None


def test_a_version_that_fails_its_checks_is_refused_once(store: Store) -> None:
    faulty = Faulty(store)
    follower = follower_of(faulty)
    put_version(store, "v1", LISTS)
    follower.refresh()
    put_version(store, "v2", {"a": [("b", float("nan"))]})
    follower.refresh()
    assert follower.state is not None
    assert follower.state.version == "v1"
    assert follower.status.last_error is not None
    assert "non-finite" in follower.status.last_error
    reads = faulty.reads_of_entries
    follower.refresh()
    assert faulty.reads_of_entries == reads  # not reloaded on every poll
    assert follower.status.last_error.startswith("version v2 refused")  # still said
    store.hide(["b"])
    follower.refresh()
    assert follower.state.hidden == frozenset({"b"})  # hidden items still follow
    put_version(store, "v3", LISTS)
    follower.refresh()
    assert follower.state.version == "v3"


def test_a_corrupt_entry_is_not_reloaded_at_every_refresh(store: Store) -> None:
    faulty = Faulty(store)
    follower = StoreFollower(
        lambda: faulty, refresh_seconds=0.05, popularity_depth=10, owns_store=False
    )
    put_version(store, "v1", LISTS)
    follower.refresh()
    store.stage("v2", {"version": "v2"})
    store.put_packed("v2", [("a", b"\x07 not a packed list")])
    store.activate("v2")
    follower.refresh()
    assert faulty.reads_of_entries == 2  # v1, then the try of v2
    for _ in range(5):  # polls within the wait: the whole model is not read again
        follower.refresh()
    assert faulty.reads_of_entries == 2
    assert follower.state is not None
    assert follower.state.version == "v1"
    error = follower.status.last_error
    assert error is not None
    assert error.startswith("loading version v2 failed: a stored entry has format 7")
    assert "attempt 1, next in 0.05 s" in error
    time.sleep(0.06)
    follower.refresh()  # tried again, then waits twice as long
    assert faulty.reads_of_entries == 3
    assert "attempt 2, next in 0.1 s" in (follower.status.last_error or "")
    follower.refresh()
    assert faulty.reads_of_entries == 3
    put_version(store, "v3", LISTS)
    follower.refresh()
    assert follower.state.version == "v3"
    assert follower.status.last_error is None
    assert follower.status.retry_at is None
