"""The serving index as the publisher writes it and servers map it, on every store (memory,
SQLite, a real Redis): the same answers as the index built from the store's entries, and a
damaged file refused while the previous version keeps answering."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_helpers import publish_lists

from dimrec.errors import IntegrityError
from dimrec.publish.base import Store
from dimrec.publish.serving_index import local_index
from dimrec.publish.stores import open_store
from dimrec.serve.follow import StoreFollower
from dimrec.serve.index import build_index, open_index
from dimrec.serve.scoring import ServingState, recommend, similar

Lists = dict[str, list[tuple[str, float]]]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def random_lists(seed: int, items: int = 150, width: int = 12) -> Lists:
    """Lists best first, ties by neighbour id (as models are written); scores are multiples
    of 1/64, so sums are exact and ties are common."""
    rng = random.Random(seed)
    ids = [f"i{k:03d}" for k in range(items)] + ["été", "日本"]
    lists: Lists = {}
    for item in ids:
        others = rng.sample([o for o in ids if o != item], rng.randint(1, width))
        lists[item] = sorted(
            ((o, rng.randint(1, 64) / 64) for o in others), key=lambda p: (-p[1], p[0])
        )
    return lists


def publish(store: Store, models: Path, lists: Lists, minute: int, **settings: Any) -> str:
    popular = [("popular-only", 9.0), ("i001", 8.0), ("i002", 7.0)]
    return publish_lists(store, models, lists, minute=minute, popularity=popular, **settings)


def brute_force(lists: Lists, weights: dict[str, float], n: int, removed: set[str]) -> list:
    totals: dict[str, float] = defaultdict(float)
    for item, weight in weights.items():
        for other, sim in lists.get(item, []):
            totals[other] += weight * sim
    ranked = sorted(
        ((j, s) for j, s in totals.items() if j not in removed), key=lambda p: (-p[1], p[0])
    )
    return [(i, float(np.float32(s))) for i, s in ranked[:n]]


def test_the_mapped_index_answers_as_the_store_entries_do(store: Store, tmp_path: Path) -> None:
    lists = random_lists(3)
    version = publish(store, tmp_path / "models", lists, 1)
    ref = store.index_ref(version)
    assert ref is not None
    mapped = open_index(local_index(store, version, ref, tmp_path / "cache"), ref, version)
    built = build_index(version, store.entries(version), store.popularity(version, 1000))
    assert mapped.source.endswith(".dmx")
    assert built.source == "store entries"
    assert mapped.entries == built.entries == store.count(version) == len(lists)
    rng = random.Random(4)
    hidden = frozenset(rng.sample(sorted(lists), 12))
    states = [ServingState.of(index, hidden) for index in (mapped, built)]
    for _ in range(150):
        k = rng.choice([1, 1, 2, 5, 10, 40])
        weights = {i: rng.choice([0.5, 2.0, 6.0]) for i in rng.sample(sorted(lists), k)}
        weights[rng.choice(["unknown", "i000"])] = 2.0
        exclude = set(rng.sample(sorted(lists), 3))
        keep_input = rng.random() < 0.3
        n = rng.choice([1, 3, 10, 50])
        answers = [
            recommend(state, weights, n, exclude=exclude, keep_input=keep_input) for state in states
        ]
        assert answers[0] == answers[1]
        removed = hidden | exclude | (set() if keep_input else set(weights))
        assert [(i, float(s)) for i, s in answers[0].results] == brute_force(
            lists, weights, n, removed
        )
    for item in [*lists, "popular-only", "unknown"]:
        assert similar(states[0], item, 5) == similar(states[1], item, 5)
    fallback = [recommend(state, {"unknown": 1.0}, 3) for state in states]
    assert fallback[0] == fallback[1]
    assert fallback[0].fallback


def test_an_index_in_object_storage_is_fetched_from_there(store: Store, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    lists = random_lists(5, items=40)
    first = publish(store, tmp_path / "models", lists, 1, index_url=f"file://{bucket}")
    second = publish(
        store, tmp_path / "models", random_lists(6, items=40), 2, index_url=str(bucket)
    )
    ref = store.index_ref(first)
    assert ref is not None
    assert ref.location == f"file://{bucket}/{ref.name}"
    assert (bucket / ref.name).is_file()
    index = open_index(local_index(store, first, ref, tmp_path / "cache"), ref, first)
    expected = build_index(first, store.entries(first), store.popularity(first, 1000))
    state, reference = ServingState.of(index, frozenset()), ServingState.of(expected, frozenset())
    for item in lists:
        assert recommend(state, {item: 1.0, "i003": 2.0}, 10) == recommend(
            reference, {item: 1.0, "i003": 2.0}, 10
        )
    store.set_current(second)
    store.drop(first)
    publish(store, tmp_path / "models", random_lists(7, items=40), 3, index_url=str(bucket))
    assert not (bucket / ref.name).exists()  # swept: no version refers to it any more


class Counting:
    """A store whose index reads are counted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read_index(self, version: str) -> Iterator[bytes]:
        self.reads += 1
        time.sleep(0.2)  # a slow fetch: the other workers wait for it rather than fetch too
        return self.store.read_index(version)


def test_a_host_fetches_each_index_once(store: Store, tmp_path: Path) -> None:
    version = publish(store, tmp_path / "models", random_lists(8, items=30), 1)
    ref = store.index_ref(version)
    assert ref is not None
    if store.index_path(version) is not None:
        pytest.skip("this store keeps its index file on this host: nothing to fetch")
    counting = Counting(store)
    found: list[Path] = []
    workers = [
        threading.Thread(
            target=lambda: found.append(local_index(counting, version, ref, tmp_path / "cache"))  # type: ignore[arg-type]
        )
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counting.reads == 1
    assert len(set(found)) == 1
    assert found[0].stat().st_size == ref.size


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) - 100]))
    else:
        data[len(data) // 2] ^= 0x10
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
def test_a_damaged_index_is_refused_and_the_previous_version_answers(
    store: Store, tmp_path: Path, how: str
) -> None:
    cache = tmp_path / "cache"
    follower = StoreFollower(
        lambda: store,
        refresh_seconds=0.01,
        popularity_depth=10,
        index_cache=cache,
        owns_store=False,
    )
    first = publish(store, tmp_path / "models", random_lists(1, items=30), 1)
    follower.refresh()
    assert follower.state is not None
    assert follower.state.version == first
    second = publish(store, tmp_path / "models", random_lists(2, items=30), 2)
    ref = store.index_ref(second)
    assert ref is not None
    path = local_index(store, second, ref, cache)  # the store's own file, or this host's copy
    damage(path, how)
    if how == "truncated" and store.index_path(second) is None:
        follower.refresh()  # a short copy is an unfinished one: fetched again, then mapped
        assert follower.state.version == second
        return
    follower.refresh()
    assert follower.state.version == first  # still answering
    assert follower.status.last_error is not None
    assert f"version {second} refused" in follower.status.last_error
    assert ("is truncated" if how == "truncated" else "is corrupt") in follower.status.last_error
    assert follower.status.retry_at is not None
    if store.index_path(second) is None:
        # a damaged copy is removed and fetched again at the next try
        assert not path.exists()
        time.sleep(0.05)
        follower.refresh()
        assert follower.state.version == second
        assert follower.status.last_error is None
    else:
        assert path.exists()  # the store's own file is never removed by a server
        third = publish(store, tmp_path / "models", random_lists(3, items=30), 3)
        follower.refresh()
        assert follower.state.version == third


class Garbling:
    """A store whose index bytes arrive damaged."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def index_path(self, version: str) -> None:  # noqa: ARG002
        return None

    def read_index(self, version: str) -> Iterator[bytes]:
        for chunk in self.store.read_index(version):
            yield chunk[:-1] + bytes([chunk[-1] ^ 1])


def test_a_copy_that_arrives_damaged_is_refused_and_not_kept(store: Store, tmp_path: Path) -> None:
    version = publish(store, tmp_path / "models", random_lists(9, items=30), 1)
    ref = store.index_ref(version)
    assert ref is not None
    with pytest.raises(IntegrityError, match=f"index of {version} copied from .* is corrupt"):
        local_index(Garbling(store), version, ref, tmp_path / "cache")  # type: ignore[arg-type]
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []
