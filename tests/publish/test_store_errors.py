"""Opening stores by URL, and what a user sees when a store is unusable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dimrec.errors import ConfigError, DataError, StoreError
from dimrec.publish import codec
from dimrec.publish.lists import NeighbourLists
from dimrec.publish.memory import MemoryStore
from dimrec.publish.redis import RedisStore
from dimrec.publish.sqlite import SqliteStore
from dimrec.publish.stores import open_store
from ports import free_port


@pytest.mark.parametrize("url", ["foo://x", "postgres://db/x", "store.db", ""])
def test_an_unknown_scheme_lists_the_supported_ones(url: str) -> None:
    with pytest.raises(ConfigError) as error:
        open_store(url)
    assert all(s in str(error.value) for s in ("sqlite:///", "redis://", "memory://"))


def test_urls_pick_their_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///var/store.db?timeout=2.5")
    absolute = open_store(f"sqlite:///{tmp_path / 'abs.db'}")
    assert isinstance(relative, SqliteStore)
    assert relative.timeout == 2.5
    assert (tmp_path / "var" / "store.db").is_file()
    assert (tmp_path / "abs.db").is_file()
    assert isinstance(absolute, SqliteStore)
    assert isinstance(open_store("memory://"), MemoryStore)
    assert isinstance(open_store("redis://127.0.0.1:1/0"), RedisStore)  # connects lazily
    relative.close()
    absolute.close()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite:///folder/", "sqlite:///x.db?mode=ro"]
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(ConfigError, match=r"store\.url"):
        open_store(url)


def test_a_corrupt_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database at all " * 200)
    with pytest.raises(StoreError) as error:
        open_store(f"sqlite:///{path}")
    message = str(error.value)
    assert str(path) in message
    assert "not a database" in message
    assert "move it away" in message


def test_a_locked_sqlite_store_fails_writes_not_reads(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}?timeout=0.2")
    store.hide(["a"])
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as error:
            store.hide(["b"])
        assert "locked" in str(error.value)
        assert str(path) in str(error.value)
        assert store.hidden() == {"a"}  # WAL: readers do not wait for the writer
        reader = open_store(f"sqlite:///{path}?timeout=0.2")  # nor does opening the store
        assert reader.state().hidden_generation == 1
        reader.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.hide(["b"]) == 1
    store.close()


def test_an_unreadable_sqlite_location(tmp_path: Path) -> None:
    (tmp_path / "store.db").mkdir()
    with pytest.raises(StoreError, match="unable to open"):
        open_store(f"sqlite:///{tmp_path / 'store.db'}")


def test_an_unreachable_redis_names_the_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = open_store(url)
    with pytest.raises(StoreError) as error:
        store.current()
    assert url in str(error.value)
    assert "unreachable" in str(error.value)


def test_redis_passwords_stay_out_of_messages() -> None:
    store = open_store(f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreError) as error:
        store.versions()
    assert "s3cret-pass" not in str(error.value)
    assert ":***@127.0.0.1" in str(error.value)


def test_a_bad_redis_url() -> None:
    with pytest.raises(ConfigError, match="not a valid Redis URL"):
        open_store("redis://localhost:notaport/0")


def test_codec_round_trip_and_damage() -> None:
    blob = codec.pack(["x", "été", ""], [0.5, 0.25, 0.0])
    assert codec.unpack(blob) == (("x", "été", ""), (0.5, 0.25, 0.0))
    assert codec.unpack(codec.pack([], [])) == ((), ())
    assert len(codec.pack(["abcdefgh"] * 100, [0.5] * 100)) == 5 + 400 + 899
    with pytest.raises(ValueError, match="NUL"):
        codec.pack(["a\x00b"], [1.0])
    with pytest.raises(StoreError, match="truncated"):
        codec.unpack(blob[:7])
    with pytest.raises(StoreError, match="format 9"):
        codec.unpack(b"\x09" + blob[1:])


def test_packing_many_lists_at_once_equals_one_by_one() -> None:
    ids = pa.array(["b", "c", "a", "a", "b", "zz"])
    scores = np.array([0.5, 0.25, 1.0, 0.75, 0.5, 0.25], dtype=np.float32)
    bounds = np.array([0, 2, 3, 6], dtype=np.int64)
    assert codec.pack_runs(ids, scores, bounds) == [
        codec.pack(["b", "c"], [0.5, 0.25]),
        codec.pack(["a"], [1.0]),
        codec.pack(["a", "b", "zz"], [0.75, 0.5, 0.25]),
    ]
    assert codec.pack_runs(ids, scores, bounds[1:3]) == [codec.pack(["a"], [1.0])]


@pytest.mark.parametrize(
    ("item", "neighbour", "similarity", "problem"),
    [
        ("a", "b", float("nan"), "NaN"),
        ("", "b", 0.5, "empty item"),
        ("a", "b\x00c", 0.5, "containing NUL"),
    ],
)
def test_unusable_neighbour_tables(
    item: str, neighbour: str, similarity: float, problem: str
) -> None:
    table = pa.table({"item": [item], "neighbour": [neighbour], "similarity": [similarity]})
    with pytest.raises(DataError, match=problem):
        NeighbourLists.from_table(table, 100)
