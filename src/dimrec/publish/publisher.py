"""Publishing a model version to a store, atomically, and pruning the old ones (rollback and
hidden items are in :mod:`dimrec.publish.admin`).

A publish:

1. returns at once (a no-op) when the version is already current;
2. reads the model's neighbour table (checksums were verified on load) into capped lists;
3. refuses a model holding an item id that breaks the item-id rule (:mod:`dimrec.items`: the
   API could never ask for it) and, unless forced, a version with no lists or with fewer
   items than ``min_item_fraction`` of the current one;
4. when the store already holds the version, published (a rollback went past it) and the
   same as the model — its manifest, item count and sample entries — makes that copy current
   again and writes nothing, so the rollback copy is never put at risk; a copy that differs
   (published with another ``sim_cap``) is rewritten only with ``force``, since a kill while
   rewriting it would lose that rollback target;
5. otherwise drops staged versions a crashed publish left behind, then stages the new
   version — written beside the current one, invisible to readers — batch by batch;
6. verifies the staged copy: its item count equals the model's, and sample entries read
   back equal what was written (a failure drops the staged copy); attaches the version's
   serving index (:mod:`dimrec.publish.serving_index`), checked the same way;
7. activates it in one atomic step, then prunes published versions beyond the newest
   ``keep_versions`` (never the current one).

Killed at any point before step 7, the previous version stays current and complete; the
next publish cleans up. Publishes to one store are meant to run one at a time (the queue
does): two at once would not corrupt anything, but one may fail and have to be re-run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dimrec.config import StoreSettings
from dimrec.errors import IntegrityError, PublishRefusedError
from dimrec.items import ITEM_ID_PATTERN, ITEM_ID_RULE
from dimrec.logs import log_context, timed
from dimrec.model import NEIGHBOURS, Model
from dimrec.publish.base import Store
from dimrec.publish.lists import NeighbourLists
from dimrec.publish.serving_index import attach_index

logger = logging.getLogger(__name__)

#: Called as progress(items_written, items_total) while writing.
Progress = Callable[[int, int], None]
BATCH = 2000
#: Popularity entries kept per version: the fallback needs at most ``serve.max_n`` plus room
#: for hidden and excluded items.
POPULARITY_CAP = 1000
_SAMPLES = 9  # entries read back after writing, spread over the version


@dataclass(frozen=True)
class PublishSummary:
    version: str
    published: bool
    """False when nothing was done (the version was already current)."""
    items: int
    """Items with a neighbour list in the published version."""
    pairs: int
    """(item, neighbour) pairs stored, after the ``sim_cap`` cut."""
    previous: str | None
    """The version that was current before."""
    pruned: tuple[str, ...] = ()
    cleaned: tuple[str, ...] = ()
    """Staged leftovers of crashed publishes that were removed."""
    message: str = ""
    timings: dict[str, float] | None = None


def publish_model(
    store: Store,
    model: Model,
    settings: StoreSettings,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> PublishSummary:
    """Publish ``model`` to ``store`` and make it current (see the module docstring)."""
    version = model.version
    timings: dict[str, float] = {}
    with log_context(version=version, store=store.url):
        previous = store.current()
        if previous == version:
            message = f"version {version} is already current in {store.url}; nothing to do"
            items = store.count(version)
            return PublishSummary(version, False, items, 0, previous, message=message)
        with timed(timings, "read", logger):
            neighbours = model.neighbours()
            _check_item_ids(model, neighbours)
            lists = NeighbourLists.from_table(neighbours, settings.sim_cap)
        _check_rows(model, lists)
        _guard(store, version, previous, len(lists), settings.min_item_fraction, force)
        held, difference = _stored_copy(store, model, lists)
        if held and difference is not None and not force:
            raise PublishRefusedError(
                f"version {version} is in {store.url} already, with other contents "
                f"({difference}): publishing it again rewrites that copy, a rollback target "
                "that a kill midway would lose; publish with --force to rewrite it, or train "
                "a new version"
            )
        if held and difference is None:
            store.set_current(version)
            logger.info("version %s was in the store already; it is current again", version)
            pruned = prune(store, settings.keep_versions)
            message = (
                f"published {version}: {len(lists):,} items, {lists.pairs:,} neighbours (was "
                f"{previous or 'none'}; the store's copy of it made current again)"
            )
            return PublishSummary(
                version, True, len(lists), lists.pairs, previous, pruned=pruned, message=message
            )
        cleaned = _clean_leftovers(store)
        with timed(timings, "write", logger):
            _write(store, model, lists, progress)
        with timed(timings, "verify", logger):
            _verify(store, version, lists)
        with timed(timings, "index", logger):
            _index(store, model, lists, settings)
        store.activate(version)
        pruned = prune(store, settings.keep_versions)
    message = (
        f"published {version}: {len(lists):,} items, {lists.pairs:,} neighbours "
        f"(was {previous or 'none'})"
    )
    return PublishSummary(
        version,
        True,
        len(lists),
        lists.pairs,
        previous,
        pruned=pruned,
        cleaned=cleaned,
        message=message,
        timings=timings,
    )


def _check_item_ids(model: Model, neighbours: pa.Table) -> None:
    """PublishRefusedError naming the ids of the model that break the item-id rule."""
    ids = pa.chunked_array(
        [
            *neighbours.column("item").chunks,
            *neighbours.column("neighbour").chunks,
            *model.popularity().column("item").chunks,
        ],
        pa.string(),
    ).unique()
    bad = ids.filter(pc.invert(pc.match_substring_regex(ids, ITEM_ID_PATTERN))).to_pylist()
    if bad:
        shown = ", ".join(repr(item if len(item) <= 40 else item[:40] + "…") for item in bad[:5])
        raise PublishRefusedError(
            f"model {model.version} holds {len(bad):,} item id(s) that break the item-id rule "
            f"({ITEM_ID_RULE}), e.g. {shown}; export the days again (export now rejects such "
            "ids as bad_item_id) and retrain"
        )


def _check_rows(model: Model, lists: NeighbourLists) -> None:
    expected = model.manifest.files[NEIGHBOURS].rows
    if expected != lists.rows_read:
        raise IntegrityError(
            f"model {model.version}: {NEIGHBOURS} has {lists.rows_read} rows, its manifest "
            f"says {expected}; retrain it"
        )


def _guard(
    store: Store, version: str, previous: str | None, items: int, fraction: float, force: bool
) -> None:
    if force:
        return
    if items == 0:
        raise PublishRefusedError(
            f"version {version} has no neighbour lists; publish it anyway with --force"
        )
    if previous is None:
        return
    current_items = store.count(previous)
    if items < fraction * current_items:
        raise PublishRefusedError(
            f"version {version} has {items:,} items, {items / current_items:.0%} of the "
            f"{current_items:,} of the current version {previous}; the guard "
            f"store.min_item_fraction={fraction:g} refuses it. Check the export and training, "
            "or publish it anyway with --force"
        )


def _clean_leftovers(store: Store) -> tuple[str, ...]:
    leftovers = tuple(info.version for info in store.versions() if info.staged)
    for name in leftovers:
        logger.warning("dropping %s, left staged by an interrupted publish", name)
        store.drop(name)
    return leftovers


def _write(store: Store, model: Model, lists: NeighbourLists, progress: Progress | None) -> None:
    version = model.version
    store.stage(version, model.manifest.model_dump(mode="json"))
    try:
        total = len(lists)
        if progress:
            progress(0, total)
        for start in range(0, total, BATCH):
            stop = min(start + BATCH, total)
            store.put_packed(version, lists.packed(start, stop))
            if progress:
                progress(stop, total)
        popularity = model.popularity().slice(0, POPULARITY_CAP)
        store.put_popularity(
            version,
            popularity.column("item").to_pylist(),
            popularity.column("score").to_pylist(),
        )
    except BaseException:
        _drop_quietly(store, version)
        raise


def _stored_copy(store: Store, model: Model, lists: NeighbourLists) -> tuple[bool, str | None]:
    """Whether the store holds ``model``'s version published (not staged), and how that copy
    differs from the model (None: the same manifest and lists — count and sample entries —,
    a copy to make current again)."""
    info = next((i for i in store.versions() if i.version == model.version), None)
    if info is None or info.staged:
        return False, None
    if info.manifest != model.manifest.model_dump(mode="json"):
        return True, "another manifest"
    return True, _difference(store, model.version, lists)


def _difference(store: Store, version: str, lists: NeighbourLists) -> str | None:
    """How the store's copy of ``version`` differs from ``lists`` (its item count, sample
    entries read back), or None."""
    stored = store.count(version)
    if stored != len(lists):
        return f"the store holds {stored:,} items of it, the model {len(lists):,}"
    if len(lists):
        picks = np.unique(np.linspace(0, len(lists) - 1, num=min(len(lists), _SAMPLES)))
        expected = [lists.expected(int(k)) for k in picks]
        found = store.neighbours(version, [item for item, _, _ in expected])
        for item, ids, scores in expected:
            entry = found.get(item)
            if entry is None or entry.neighbours != ids or entry.scores != scores:
                return f"the entry of item {item!r} read back differs from the model's"
    return None


def _verify(store: Store, version: str, lists: NeighbourLists) -> None:
    problem = _difference(store, version, lists)
    if problem:
        _drop_quietly(store, version)
        raise IntegrityError(f"publishing {version} to {store.url} failed verification: {problem}")


def _index(store: Store, model: Model, lists: NeighbourLists, settings: StoreSettings) -> None:
    """Attach the serving index (see dimrec.publish.serving_index); a failure drops the staged
    copy, as a failed write or verification does."""
    try:
        attach_index(
            store, model.version, lists, model.popularity().slice(0, POPULARITY_CAP), settings
        )
    except BaseException:
        _drop_quietly(store, model.version)
        raise


def _drop_quietly(store: Store, version: str) -> None:
    with contextlib.suppress(Exception):
        store.drop(version)


def prune(store: Store, keep: int) -> tuple[str, ...]:
    """Drop published versions beyond the current one and the ``keep - 1`` newest others."""
    infos = store.versions()
    others = sorted((i.version for i in infos if not i.current and not i.staged), reverse=True)
    doomed = tuple(others[max(keep - 1, 0) :])
    for name in doomed:
        logger.debug("pruning version %s (keeping %d)", name, keep)
        store.drop(name)
    return doomed
