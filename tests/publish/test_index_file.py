"""The serving index file: what is written is what is mapped back, and a damaged or foreign
file is refused."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dimrec.errors import DataError, IntegrityError
from dimrec.publish import index_file
from dimrec.publish.base import IndexRef
from dimrec.publish.index_file import IndexTables, build_tables, map_index, write_index

Lists = dict[str, list[tuple[str, float]]]


def tables_of(lists: Lists, popular: list[tuple[str, float]] = (), version: str = "v1"):  # type: ignore[assignment]
    items = list(lists)
    lengths = [len(pairs) for pairs in lists.values()]
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return build_tables(
        version,
        pa.array(items, pa.string()),
        bounds,
        pa.array([n for pairs in lists.values() for n, _ in pairs], pa.string()),
        np.array([s for pairs in lists.values() for _, s in pairs], np.float32),
        pa.array([i for i, _ in popular], pa.string()),
        np.array([s for _, s in popular], np.float32),
    )


def read_back(tables: IndexTables) -> tuple[Lists, list[tuple[str, float]]]:
    """The lists and popularity list an index holds, by id."""
    lists: Lists = {}
    for number in range(tables.size):
        lo, hi = tables.starts[number : number + 2].tolist()
        if hi > lo:
            ids = tables.ids_of(tables.neighbours[lo:hi])
            lists[tables.id_of(number)] = list(zip(ids, tables.scores[lo:hi].tolist(), strict=True))
    popular = list(zip(tables.ids_of(tables.popular), tables.popular_scores.tolist(), strict=True))
    return lists, popular


def random_lists(seed: int, items: int = 200) -> Lists:
    rng = random.Random(seed)
    ids = [f"sku-{rng.randrange(10**6):06d}-{k}" for k in range(items)] + ["été", "日本", "Ω-42"]
    rng.shuffle(ids)
    lists: Lists = {}
    for item in ids[: items // 2]:
        others = rng.sample([o for o in ids if o != item], rng.randint(1, 12))
        lists[item] = sorted(((o, rng.randint(1, 64) / 64) for o in others), key=lambda p: -p[1])
    return lists


@pytest.mark.parametrize("seed", range(3))
def test_written_and_mapped_back_it_holds_the_same_lists(seed: int, tmp_path: Path) -> None:
    lists = random_lists(seed)  # items in no particular order: the lists are laid out anew
    popular = [("not-a-neighbour", 9.0), (next(iter(lists)), 4.5)]
    path, ref = write_index(tables_of(lists, popular), tmp_path)
    mapped = map_index(path, ref, "v1")
    assert read_back(mapped) == (lists, popular)
    assert ref.size == path.stat().st_size
    # numbers follow the ids' order (Python's str order), so they break ties by id
    every = [mapped.id_of(p) for p in range(mapped.size)]
    assert every == sorted(every)
    assert mapped.lookup([*every, "unknown", ""]) == [*range(mapped.size), -1, -1]


def test_ids_that_share_a_key_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_file, "key_of", len)  # every id of one length collides
    lists = {"ab": [("cd", 0.5), ("ef", 0.25)], "cd": [("ab", 0.5)], "xyz": [("ab", 1.0)]}
    tables = tables_of(lists)
    asked = ["ef", "ab", "cd", "xyz", "gh", "q"]
    assert tables.lookup(asked) == [2, 0, 1, 3, -1, -1]
    assert read_back(tables)[0] == lists


def test_an_empty_version(tmp_path: Path) -> None:
    path, ref = write_index(tables_of({}), tmp_path)
    mapped = map_index(path, ref, "v1")
    assert mapped.size == 0
    assert mapped.lookup(["a"]) == [-1]


def test_an_item_with_two_lists_is_refused() -> None:
    with pytest.raises(DataError, match="more than one"):
        build_tables(
            "v1",
            pa.array(["a", "a"]),
            np.array([0, 1, 2]),
            pa.array(["b", "c"]),
            np.ones(2, np.float32),
            pa.array([], pa.string()),
            np.zeros(0, np.float32),
        )


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, IndexRef]:
    return write_index(tables_of(random_lists(7), [("a", 1.0)]), tmp_path)


def test_a_truncated_file_is_refused(written: tuple[Path, IndexRef]) -> None:
    path, ref = written
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match=r"is truncated: [\d,]+ bytes, the store says"):
        map_index(path, ref, "v1")
    path.write_bytes(data + b"\0")
    with pytest.raises(IntegrityError, match="longer than published"):
        map_index(path, ref, "v1")
    path.write_bytes(b"")
    with pytest.raises(IntegrityError, match="truncated"):
        map_index(path, ref, "v1")


def test_a_corrupt_file_is_refused(written: tuple[Path, IndexRef]) -> None:
    path, ref = written
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in a score or a neighbour number
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="is corrupt: its checksum is"):
        map_index(path, ref, "v1")


def test_a_missing_file_is_refused(written: tuple[Path, IndexRef]) -> None:
    path, ref = written
    path.unlink()
    with pytest.raises(IntegrityError, match="cannot be read"):
        map_index(path, ref, "v1")


def test_the_file_of_another_version_is_refused(written: tuple[Path, IndexRef]) -> None:
    path, ref = written
    with pytest.raises(IntegrityError, match="holds version v1, not v2"):
        map_index(path, ref, "v2")


def test_a_file_that_is_no_index_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.dmx"
    for content, problem in [
        (b"PAR1" + bytes(60), "not a dimrec serving index"),
        (index_file.MAGIC + (9).to_bytes(4, "little") + bytes(52), "format 9"),
        (index_file.MAGIC + (1).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"{]}", ""),
    ]:
        path.write_bytes(content)
        ref = IndexRef("x.dmx", len(content), index_file.digest_of(content))
        with pytest.raises(IntegrityError, match=f"is not a valid serving index.*{problem}"):
            map_index(path, ref, "v1")
