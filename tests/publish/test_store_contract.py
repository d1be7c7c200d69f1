"""One contract for every store: memory, SQLite and a real Redis behave the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from dimrec.errors import (
    InvalidInputError,
    MissingDataError,
    PublishRefusedError,
    StoreError,
    VersionNotFoundError,
)
from dimrec.publish.base import Entry, IndexRef, Store
from dimrec.publish.stores import open_store

A = Entry("a", ("b", "c"), (0.75, 0.5))
B = Entry("b", ("a",), (0.75,))
C = Entry("c", ("a", "d", "b"), (0.5, 0.25, 0.125))
MANIFEST = {"version": "v1", "counts": {"items": 3}, "params": {"top_k": 100}}


def published(store: Store, version: str = "v1", entries: tuple[Entry, ...] = (A, B, C)) -> None:
    store.stage(version, {**MANIFEST, "version": version})
    store.put_entries(version, list(entries))
    store.put_popularity(version, ["c", "a", "b"], [9.0, 5.0, 1.0])
    store.activate(version)


def test_an_empty_store(store: Store) -> None:
    assert store.current() is None
    assert store.state()[:2] == (None, 0)
    assert store.versions() == []
    assert store.hidden() == frozenset()


def test_a_staged_version_is_invisible_until_activated(store: Store) -> None:
    store.stage("v1", MANIFEST)
    store.put_entries("v1", [A, B])
    assert store.current() is None
    [info] = store.versions()
    assert (info.version, info.staged, info.current, info.items) == ("v1", True, False, 2)
    assert info.published_at == ""
    store.put_entries("v1", [C])
    assert store.count("v1") == 3
    store.activate("v1")
    assert store.current() == "v1"
    assert store.state()[:2] == ("v1", 0)
    [info] = store.versions()
    assert (info.version, info.staged, info.current, info.items) == ("v1", False, True, 3)
    assert info.published_at.startswith("20")
    assert info.manifest == MANIFEST


def test_neighbours_best_first_with_float32_scores(store: Store) -> None:
    published(store)
    found = store.neighbours("v1", ["c", "zzz", "a", "c"])
    assert set(found) == {"a", "c"}  # unknown items absent, duplicates once
    assert found["a"] == A
    assert found["c"] == C
    assert store.neighbours("v1", []) == {}
    inexact = Entry("d", ("a",), (0.1,))
    store.stage("v2", MANIFEST)
    store.put_entries("v2", [inexact])
    [score] = store.neighbours("v2", ["d"])["d"].scores
    assert score == pytest.approx(0.1, rel=1e-7)
    assert score != 0.1


def test_entries_yields_every_list(store: Store) -> None:
    published(store)
    assert sorted(store.entries("v1"), key=lambda e: e.item) == [A, B, C]


def test_popularity_best_first(store: Store) -> None:
    published(store)
    assert store.popularity("v1", 2) == [("c", 9.0), ("a", 5.0)]
    assert store.popularity("v1", 10) == [("c", 9.0), ("a", 5.0), ("b", 1.0)]
    store.stage("v2", MANIFEST)
    assert store.popularity("v2", 5) == []


def test_unknown_versions_are_reported(store: Store) -> None:
    published(store)
    for read in (
        lambda: store.neighbours("v9", ["a"]),
        lambda: store.neighbours("v9", []),
        lambda: store.count("v9"),
        lambda: list(store.entries("v9")),
        lambda: store.popularity("v9", 3),
        lambda: store.put_entries("v9", [A]),
        lambda: store.put_popularity("v9", ["a"], [1.0]),
        lambda: store.activate("v9"),
        lambda: store.set_current("v9"),
    ):
        with pytest.raises(VersionNotFoundError, match="v9"):
            read()


def test_published_versions_never_change(store: Store) -> None:
    published(store)
    with pytest.raises(StoreError, match="not staged"):
        store.put_entries("v1", [Entry("z", ("a",), (1.0,))])
    with pytest.raises(StoreError, match="not staged"):
        store.put_popularity("v1", ["z"], [1.0])
    with pytest.raises(StoreError, match="not staged"):
        store.activate("v1")
    with pytest.raises(PublishRefusedError, match="current"):
        store.stage("v1", MANIFEST)
    assert store.neighbours("v1", ["z", "a"]) == {"a": A}


def test_set_current_and_drop(store: Store) -> None:
    published(store, "v1")
    published(store, "v2", (A,))
    assert store.current() == "v2"
    store.set_current("v1")
    assert store.state().current == "v1"
    store.stage("v3", MANIFEST)
    with pytest.raises(StoreError, match="staged"):
        store.set_current("v3")
    with pytest.raises(PublishRefusedError, match="current"):
        store.drop("v1")
    store.drop("v2")
    store.drop("v3")
    store.drop("never-there")
    assert [i.version for i in store.versions()] == ["v1"]
    with pytest.raises(VersionNotFoundError):
        store.neighbours("v2", ["a"])


def test_restaging_discards_the_earlier_copy(store: Store) -> None:
    published(store, "v1")
    published(store, "v2", (A, B))
    store.stage("v1", MANIFEST)  # not current any more: may be written again
    assert store.count("v1") == 0
    store.put_entries("v1", [C])
    store.activate("v1")
    assert store.neighbours("v1", ["a", "b", "c"]) == {"c": C}


def test_versions_sorted_by_name(store: Store) -> None:
    for name in ("v2", "v10", "v1"):
        published(store, name)
    assert [i.version for i in store.versions()] == ["v1", "v10", "v2"]
    assert [i.current for i in store.versions()] == [True, False, False]


def test_many_items_in_batches(store: Store) -> None:
    entries = [Entry(f"item-{k}", (f"n{k}", "x"), (1.0, 0.5)) for k in range(6000)]
    store.stage("v1", MANIFEST)
    store.put_entries("v1", entries[:2500])
    store.put_entries("v1", entries[2500:])
    store.activate("v1")
    assert store.count("v1") == 6000
    found = store.neighbours("v1", [e.item for e in entries] + ["missing"])
    assert len(found) == 6000
    assert found["item-5999"] == entries[5999]
    assert sum(1 for _ in store.entries("v1")) == 6000


def test_unicode_ids(store: Store) -> None:
    entry = Entry("chaussure-été", ("Ω-42", "日本", "a b,c"), (0.5, 0.25, 0.125))
    published(store, "v1", (entry,))
    assert store.neighbours("v1", [entry.item]) == {entry.item: entry}


def test_hidden_items_and_their_generation(store: Store) -> None:
    assert store.hide(["a", "b", "a"]) == 2
    first = store.state().hidden_generation
    assert store.hidden() == {"a", "b"}
    assert store.hide(["b"]) == 0
    assert store.state().hidden_generation == first  # nothing changed, nothing to reload
    assert store.unhide(["b", "zzz"]) == 1
    assert store.hidden() == {"a"}
    assert store.state().hidden_generation != first
    assert store.hide([]) == 0
    many = [f"sku-{k}" for k in range(1200)]
    assert store.hide(many) == 1200
    assert len(store.hidden()) == 1201
    with pytest.raises(InvalidInputError, match="empty"):
        store.hide(["ok", " "])
    with pytest.raises(InvalidInputError, match="control"):
        store.unhide(["bad\nid"])


def test_hidden_items_outlive_versions(store: Store) -> None:
    store.hide(["a"])
    published(store, "v1")
    published(store, "v2")
    store.drop("v1")
    assert store.hidden() == {"a"}


def test_a_second_handle_sees_the_same_store(store: Store, store_url: str) -> None:
    published(store)
    store.hide(["c"])
    other = open_store(store_url)
    try:
        assert other.current() == "v1"
        assert other.neighbours("v1", ["b"]) == {"b": B}
        assert other.hidden() == {"c"}
    finally:
        other.close()


def test_version_names_are_checked(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="version name"):
        store.stage("bad:name", MANIFEST)


# --- the serving index ------------------------------------------------------------------


def index_file_of(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / f"source-{len(content)}.dmx"
    path.write_bytes(content)
    return path


def test_a_serving_index_is_kept_with_its_version(store: Store, tmp_path: Path) -> None:
    content = bytes(range(256)) * 70_000  # 17.9 MB: more than one chunk in every store
    ref = IndexRef("v1-abc.dmx", len(content), "abc")
    store.stage("v1", MANIFEST)
    assert store.index_ref("v1") is None
    store.put_index("v1", ref, index_file_of(tmp_path, content))
    store.put_entries("v1", [A])
    store.activate("v1")
    assert store.index_ref("v1") == ref
    assert b"".join(store.read_index("v1")) == content
    local = store.index_path("v1")
    if local is not None:  # a store on this host may hand out its own file
        assert local.read_bytes() == content
    with pytest.raises(StoreError, match="not staged"):
        store.put_index("v1", ref, None)
    with pytest.raises(VersionNotFoundError):
        store.index_ref("v9")


def test_a_serving_index_kept_elsewhere_is_only_referenced(store: Store) -> None:
    ref = IndexRef("v1-abc.dmx", 10, "abc", location="gs://bucket/indexes/v1-abc.dmx")
    published(store)
    store.stage("v2", MANIFEST)
    store.put_index("v2", ref, None)
    assert store.index_ref("v2") == ref
    assert store.index_path("v2") is None
    with pytest.raises(MissingDataError, match="no serving index"):
        list(store.read_index("v2"))
    with pytest.raises(MissingDataError, match="no serving index"):
        list(store.read_index("v1"))  # published without one


def test_a_serving_index_goes_with_its_version(store: Store, tmp_path: Path) -> None:
    published(store, "v1")
    for version in ("v2", "v3"):
        store.stage(version, MANIFEST)
        store.put_index(
            version, IndexRef(f"{version}.dmx", 3, "d"), index_file_of(tmp_path, b"abc")
        )
    kept = [store.index_path(v) for v in ("v2", "v3")]
    store.drop("v2")
    with pytest.raises(VersionNotFoundError):
        store.index_ref("v2")
    store.stage("v3", MANIFEST)  # staged again: the earlier copy is discarded, index and all
    assert store.index_ref("v3") is None
    for path in kept:
        assert path is None or not path.exists()
