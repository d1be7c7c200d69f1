"""Publishing model folders to every store: contents, guard, no-op, rollback, pruning."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from publish_helpers import version_at, write_lists

from dimrec.config import StoreSettings
from dimrec.errors import IntegrityError, MissingDataError, PublishRefusedError
from dimrec.model import NEIGHBOURS, NEIGHBOURS_SCHEMA, load_model, popularity_table, write_model
from dimrec.publish import admin, publisher
from dimrec.publish.base import Entry, Store
from dimrec.publish.memory import MemoryStore
from model_helpers import training

LISTS = {
    "a": [("b", 0.875), ("c", 0.5), ("d", 0.25), ("e", 0.125)],
    "b": [("a", 0.875)],
    "c": [("a", 0.5), ("d", 0.375)],
}
POPULAR = [("a", 12.0), ("c", 7.5), ("b", 3.0)]


def publish(
    store: Store, models: Path, version: str | None = None, *, force: bool = False, **settings: Any
) -> publisher.PublishSummary:
    """Publish ``version`` (default the newest) of ``models`` with these store settings."""
    model = load_model(str(models), version)
    return publisher.publish_model(store, model, StoreSettings(**settings), force=force)


def listing(n: int) -> dict[str, list[tuple[str, float]]]:
    """``n`` items, each with one neighbour."""
    return {f"item{k}": [(f"item{(k + 1) % n}", 0.5)] for k in range(n)}


def test_publish_writes_every_list_best_first(store: Store, tmp_path: Path) -> None:
    model = write_lists(str(tmp_path), LISTS, minute=1, popularity=POPULAR)
    progress: list[tuple[int, int]] = []
    summary = publisher.publish_model(
        store, model, StoreSettings(), progress=lambda done, total: progress.append((done, total))
    )
    assert isinstance(summary, publisher.PublishSummary)
    assert (summary.version, summary.published, summary.items, summary.pairs) == (
        model.version,
        True,
        3,
        7,
    )
    assert summary.previous is None
    assert progress[-1] == (3, 3)
    assert store.current() == model.version
    assert store.neighbours(model.version, ["a", "b", "c", "d"]) == {
        item: Entry(item, tuple(n for n, _ in pairs), tuple(s for _, s in pairs))
        for item, pairs in LISTS.items()
    }
    assert store.popularity(model.version, 2) == [("a", 12.0), ("c", 7.5)]
    [info] = store.versions()
    assert info.manifest["files"][NEIGHBOURS]["sha256"] == model.manifest.files[NEIGHBOURS].sha256


def test_lists_are_capped_at_sim_cap(store: Store, tmp_path: Path) -> None:
    write_lists(str(tmp_path), LISTS, minute=1)
    summary = publish(store, tmp_path, sim_cap=2)
    assert summary.pairs == 2 + 1 + 2
    entry = store.neighbours(summary.version, ["a"])["a"]
    assert entry == Entry("a", ("b", "c"), (0.875, 0.5))


def test_an_unsorted_table_is_published_best_first(store: Store, tmp_path: Path) -> None:
    rows = [("a", "c", 0.125), ("b", "a", 0.25), ("a", "b", 0.25), ("a", "d", 0.5)]
    table = pa.table({k: [r[i] for r in rows] for i, k in enumerate(NEIGHBOURS_SCHEMA.names)})
    model = write_model(
        str(tmp_path),
        neighbours=table,
        popularity=popularity_table([], [], []),
        training=training(),
        version=version_at(1),
    )
    publish(store, tmp_path, sim_cap=2)
    found = store.neighbours(model.version, ["a", "b"])
    assert found["a"] == Entry("a", ("d", "b"), (0.5, 0.25))
    assert found["b"] == Entry("b", ("a",), (0.25,))


def test_republishing_the_current_version_is_a_no_op(store: Store, tmp_path: Path) -> None:
    model = write_lists(str(tmp_path), LISTS, minute=1)
    publish(store, tmp_path)
    published_at = store.versions()[0].published_at
    again = publish(store, tmp_path, model.version, force=True)
    assert again.published is False
    assert "already current" in again.message
    assert store.versions()[0].published_at == published_at


def test_a_shrinking_catalogue_is_refused_unless_forced(store: Store, tmp_path: Path) -> None:
    first = write_lists(str(tmp_path), listing(10), minute=1)
    small = write_lists(str(tmp_path), listing(4), minute=2)
    publish(store, tmp_path, first.version)
    with pytest.raises(PublishRefusedError) as refused:
        publish(store, tmp_path, small.version)
    message = str(refused.value)
    assert "4 items" in message
    assert "40%" in message
    assert "10 of the current" in message
    assert "--force" in message
    assert "min_item_fraction=0.5" in message
    assert store.current() == first.version
    assert [i.version for i in store.versions()] == [first.version]  # nothing was staged
    publish(store, tmp_path, small.version, min_item_fraction=0.4)  # 40% is enough here
    assert store.current() == small.version


def test_force_publishes_a_shrunk_catalogue(store: Store, tmp_path: Path) -> None:
    write_lists(str(tmp_path), listing(10), minute=1)
    publish(store, tmp_path)
    small = write_lists(str(tmp_path), listing(2), minute=2)
    summary = publish(store, tmp_path, force=True)
    assert store.current() == small.version
    assert summary.items == 2


def test_an_empty_model_is_refused_unless_forced(store: Store, tmp_path: Path) -> None:
    empty = write_lists(str(tmp_path), {}, minute=1)
    with pytest.raises(PublishRefusedError, match="no neighbour lists"):
        publish(store, tmp_path)
    assert store.current() is None
    publish(store, tmp_path, force=True)
    assert store.current() == empty.version
    assert store.count(empty.version) == 0


def test_older_versions_are_pruned_to_keep_versions(store: Store, tmp_path: Path) -> None:
    versions = []
    for minute in range(1, 6):
        versions.append(write_lists(str(tmp_path), LISTS, minute=minute).version)
        summary = publish(store, tmp_path, keep_versions=3)
    assert summary.pruned == (versions[1],)
    infos = store.versions()
    assert [i.version for i in infos] == versions[2:]
    assert [i.current for i in infos] == [False, False, True]


def test_keep_one_version(store: Store, tmp_path: Path) -> None:
    write_lists(str(tmp_path), LISTS, minute=1)
    publish(store, tmp_path, keep_versions=1)
    last = write_lists(str(tmp_path), LISTS, minute=2)
    publish(store, tmp_path, keep_versions=1)
    assert [i.version for i in store.versions()] == [last.version]


def test_rollback_goes_back_one_version_at_a_time(store: Store, tmp_path: Path) -> None:
    names = [write_lists(str(tmp_path), LISTS, minute=m).version for m in (1, 2, 3)]
    for name in names:
        publish(store, tmp_path, name)
    assert admin.rollback(store) == names[1]
    assert store.current() == names[1]
    assert admin.rollback(store) == names[0]
    with pytest.raises(MissingDataError, match=f"no version older than {names[0]}"):
        admin.rollback(store)
    assert admin.rollback(store, to=names[2]) == names[2]
    with pytest.raises(MissingDataError, match="not published"):
        admin.rollback(store, to="v-missing")
    assert store.current() == names[2]


def test_rollback_of_an_empty_store(store: Store) -> None:
    with pytest.raises(MissingDataError, match="no version older"):
        admin.rollback(store)


def test_leftovers_of_a_crashed_publish_are_cleaned(store: Store, tmp_path: Path) -> None:
    first = write_lists(str(tmp_path), LISTS, minute=1)
    publish(store, tmp_path)
    store.stage("crashed", {})
    store.put_entries("crashed", [Entry("a", ("b",), (1.0,))])
    second = write_lists(str(tmp_path), LISTS, minute=2)
    summary = publish(store, tmp_path)
    assert summary.cleaned == ("crashed",)
    assert [i.version for i in store.versions()] == [first.version, second.version]


def test_a_corrupt_model_is_never_published(store: Store, tmp_path: Path) -> None:
    model = write_lists(str(tmp_path), LISTS, minute=1)
    path = Path(model.url) / NEIGHBOURS
    path.write_bytes(path.read_bytes()[:-8] + b"corrupt!")
    with pytest.raises(IntegrityError, match="checksum"):
        publish(store, tmp_path)
    assert store.versions() == []


class LosesABatch(MemoryStore):
    """A store that silently drops the second batch it is given: verification must notice."""

    calls = 0

    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None:
        self.calls += 1
        if self.calls != 2:
            super().put_packed(version, rows)


class GarblesAnEntry(MemoryStore):
    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None:
        item, blob = rows[0]
        super().put_packed(version, [(item, blob[:-1] + b"x"), *rows[1:]])


@pytest.mark.parametrize(
    ("faulty", "problem"),
    [(LosesABatch, "holds 2,100 items of it, the model 4,100"), (GarblesAnEntry, "differs")],
)
def test_a_failed_verification_keeps_the_current_version(
    tmp_path: Path, faulty: type[MemoryStore], problem: str
) -> None:
    url = f"memory://faulty-{faulty.__name__}"
    good = write_lists(str(tmp_path), LISTS, minute=1)
    publish(MemoryStore.from_url(url), tmp_path)
    store = faulty.from_url(url)
    write_lists(str(tmp_path), listing(4100), minute=2)
    with pytest.raises(IntegrityError, match=problem):
        publisher.publish_model(store, load_model(str(tmp_path)), StoreSettings())
    assert store.current() == good.version
    assert [i.version for i in store.versions()] == [good.version]  # staged copy dropped


def test_a_manifest_row_count_mismatch_is_refused(store: Store, tmp_path: Path) -> None:
    model = write_lists(str(tmp_path), LISTS, minute=1)
    files = {**model.manifest.files}
    files[NEIGHBOURS] = files[NEIGHBOURS].model_copy(update={"rows": 99})
    manifest = model.manifest.model_copy(update={"files": files})
    lying = dataclasses.replace(model, manifest=manifest)
    with pytest.raises(IntegrityError, match="manifest says 99"):
        publisher.publish_model(store, lying, StoreSettings())
    assert store.versions() == []


def test_version_names_sort_in_time_order() -> None:
    assert version_at(1) < version_at(2) < version_at(100)


@pytest.mark.parametrize(
    ("lists", "popular", "named"),
    [
        ({**LISTS, "a b": [("a", 0.5)]}, POPULAR, "'a b'"),
        ({**LISTS, "d": [("x" * 200, 0.5)]}, POPULAR, "'" + "x" * 40 + "…'"),
        (LISTS, [*POPULAR, ("tab\tid", 1.0)], "'tab\\tid'"),
        ({**LISTS, "e": [("ends-with-newline\n", 0.5)]}, POPULAR, "'ends-with-newline\\n'"),
    ],
)
def test_a_model_holding_ids_that_break_the_rule_is_refused(
    store: Store,
    tmp_path: Path,
    lists: dict[str, list[tuple[str, float]]],
    popular: list[tuple[str, float]],
    named: str,
) -> None:
    write_lists(str(tmp_path), lists, minute=1, popularity=popular)
    with pytest.raises(PublishRefusedError, match="break the item-id rule") as refused:
        publish(store, tmp_path, force=True)
    assert named in str(refused.value)
    assert store.versions() == []  # nothing staged


def test_republishing_a_version_the_store_holds_writes_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a rollback, publishing the newer version again makes the store's copy current:
    nothing is staged or written, so nothing can be lost on the way."""
    first = write_lists(str(tmp_path), LISTS, minute=1, popularity=POPULAR)
    second = write_lists(str(tmp_path), {**LISTS, "e": [("a", 0.25)]}, minute=2)
    publish(store, tmp_path, first.version)
    publish(store, tmp_path, second.version)
    assert admin.rollback(store) == first.version
    writes: list[str] = []
    for name in ("stage", "put_packed", "drop"):
        original = getattr(store, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            writes.append(_name)
            return _original(*args)

        monkeypatch.setattr(store, name, spy)
    summary = publish(store, tmp_path, second.version)
    assert writes == []
    assert summary.published
    assert "made current again" in summary.message
    assert store.current() == second.version
    assert store.neighbours(second.version, ["e"])["e"].neighbours == ("a",)


def test_a_kept_copy_that_differs_is_written_again_only_when_forced(
    store: Store, tmp_path: Path
) -> None:
    """The store's copy was published with another sim_cap: rewriting it puts a rollback
    target at risk (a kill midway would lose it), so it is refused, the store unchanged,
    unless forced; forced, it is rewritten, capped anew."""
    first = write_lists(str(tmp_path), LISTS, minute=1)
    second = write_lists(str(tmp_path), LISTS, minute=2)
    publish(store, tmp_path, first.version)
    publish(store, tmp_path, second.version, sim_cap=1)
    admin.rollback(store)
    with pytest.raises(PublishRefusedError, match="--force"):
        publish(store, tmp_path, second.version)
    assert store.current() == first.version
    assert len(store.neighbours(second.version, ["a"])["a"].neighbours) == 1
    summary = publish(store, tmp_path, second.version, force=True)
    assert "made current again" not in summary.message
    assert store.current() == second.version
    assert len(store.neighbours(second.version, ["a"])["a"].neighbours) == 4
