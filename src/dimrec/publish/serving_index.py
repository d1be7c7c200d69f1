"""A version's serving index: written and attached by the publisher, copied once per host by
servers. The file format is :mod:`dimrec.publish.index_file`.

Publishing (:func:`attach_index`, called once by the publisher while the version is staged):
build the arrays from the capped neighbour lists and the popularity list, write them to a
temporary file, map it back and check it (checksum, shape, and sample lists against the
model's), then hand it to the store — which keeps it (SQLite beside the database, Redis in a
hash, memory in memory) — or, with ``store.index_url`` set, put it in that folder or bucket
(fsspec: ``gs://``, ``s3://``, a local path) and let the store record only where it is.

Serving (:func:`local_index`): a server maps the store's own file when the store has one on
this host (SQLite); otherwise the first worker of a host copies the file into the host's
cache folder under a file lock, checking size and digest on the way, and every worker maps
that one copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

from dimrec.config import StoreSettings
from dimrec.errors import IntegrityError, StoreError
from dimrec.fsio import join, url_to_fs
from dimrec.publish.base import IndexRef, Store
from dimrec.publish.index_file import SUFFIX, build_tables, map_index, write_index
from dimrec.publish.lists import NeighbourLists

logger = logging.getLogger(__name__)

_SAMPLES = 9
_CHUNK = 16 << 20
#: Seconds a cached copy stays after no version of the store refers to it any more (a worker
#: may be about to map a copy another worker just fetched).
CACHE_GRACE = 60.0


def attach_index(
    store: Store,
    version: str,
    lists: NeighbourLists,
    popularity: pa.Table,
    settings: StoreSettings,
) -> IndexRef:
    """Write ``version``'s serving index and attach it to the staged version in ``store``."""
    tables = build_tables(
        version,
        pa.array(lists.items, pa.string()),
        lists.bounds,
        lists.ids,
        lists.scores,
        popularity.column("item"),
        popularity.column("score").to_numpy().astype(np.float32),
    )
    workdir = store.index_staging_dir() or Path(tempfile.gettempdir())
    path, ref = write_index(tables, workdir)
    try:
        _check(path, ref, version, lists)
        if settings.index_url:
            _sweep_location(store, settings.index_url)
            ref = IndexRef(ref.name, ref.size, ref.digest, join(settings.index_url, ref.name))
            _upload(path, ref.location)
            store.put_index(version, ref, None)
        else:
            store.put_index(version, ref, path)
        if store.index_ref(version) != ref:
            raise IntegrityError(f"the store {store.url} did not record the index of {version}")
    finally:
        path.unlink(missing_ok=True)
    logger.info("serving index of %s: %s, %.1f MB", version, ref.name, ref.size / 1e6)
    return ref


def _check(path: Path, ref: IndexRef, version: str, lists: NeighbourLists) -> None:
    """Map the written file back and compare sample lists with the model's."""
    tables = map_index(path, ref, version)
    if len(lists) == 0:
        return
    picks = np.unique(np.linspace(0, len(lists) - 1, num=min(len(lists), _SAMPLES)))
    expected = [lists.expected(int(k)) for k in picks]
    numbers = tables.lookup([item for item, _, _ in expected])
    for (item, ids, scores), number in zip(expected, numbers, strict=True):
        lo, hi = tables.bounds(number) if number >= 0 else (0, 0)
        found = tuple(tables.ids_of(tables.neighbours[lo:hi]))
        if number < 0 or found != ids or tuple(tables.scores[lo:hi].tolist()) != scores:
            raise IntegrityError(
                f"the serving index of {version} differs from the model at item {item!r}"
            )


def _upload(path: Path, url: str) -> None:
    fs, target = url_to_fs(url)
    temporary = (
        f"{target.rpartition('/')[0]}/.{target.rpartition('/')[2]}.tmp-{os.urandom(6).hex()}"
    )
    fs.makedirs(target.rpartition("/")[0], exist_ok=True)
    try:
        fs.put_file(str(path), temporary)
        fs.mv(temporary, target)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)


def _sweep_location(store: Store, url: str) -> None:
    """Remove index files in ``url`` that no version of ``store`` refers to (one folder per
    store: files of another store there would go too)."""
    kept = referenced(store)
    fs, folder = url_to_fs(url)
    if not fs.exists(folder):
        return
    for found in fs.ls(folder, detail=False):
        name = str(found).rpartition("/")[2]
        if name.endswith(SUFFIX) and not name.startswith(".") and name not in kept:
            logger.info("removing %s: no version of %s refers to it", name, store.url)
            fs.rm(found)


def referenced(store: Store) -> set[str]:
    """Names of the index files the store's versions refer to."""
    names = set()
    for info in store.versions():
        with contextlib.suppress(StoreError):
            ref = store.index_ref(info.version)
            if ref is not None:
                names.add(ref.name)
    return names


# --- serving hosts ------------------------------------------------------------------------


def local_index(store: Store, version: str, ref: IndexRef, cache: Path) -> Path:
    """A file on this host holding ``version``'s index: the store's own, or a copy in
    ``cache`` fetched by the first process of the host that needs it (the others wait)."""
    direct = store.index_path(version)
    if direct is not None:
        return direct
    target = cache / ref.name
    if _complete(target, ref):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f".{ref.name}.lock"):
        if _complete(target, ref):
            return target
        started = time.perf_counter()
        temporary = cache / f".{ref.name}.tmp-{os.urandom(6).hex()}"
        digest = xxhash.xxh3_128()
        size = 0
        try:
            with temporary.open("wb") as handle:
                for chunk in _chunks(store, version, ref):
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if size != ref.size or digest.hexdigest() != ref.digest:
                source = ref.location or store.url
                raise IntegrityError(
                    f"the serving index of {version} copied from {source} is corrupt "
                    f"({size:,} bytes, digest {digest.hexdigest()}; the store says "
                    f"{ref.size:,} bytes, {ref.digest}); publish the version again"
                )
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        logger.info(
            "copied the serving index of %s (%.1f MB) in %.2f s",
            version,
            size / 1e6,
            time.perf_counter() - started,
        )
    return target


def forget_copy(store: Store, version: str, path: Path) -> None:
    """Remove a cached copy found corrupt (never the store's own file), so the next attempt
    fetches it again."""
    if store.index_path(version) != path:
        path.unlink(missing_ok=True)


def prune_cache(cache: Path, kept: set[str]) -> None:
    """Remove cached copies that no version refers to any more (mapped ones stay readable by
    the processes mapping them until they let go)."""
    if not cache.is_dir():
        return
    now = time.time()
    for path in cache.iterdir():
        name = path.name.lstrip(".").partition(".lock")[0]
        name = name.partition(".tmp-")[0] if ".tmp-" in name else name
        if name in kept:
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > CACHE_GRACE:
                path.unlink()


def _complete(path: Path, ref: IndexRef) -> bool:
    try:
        return path.stat().st_size == ref.size
    except OSError:
        return False


def _chunks(store: Store, version: str, ref: IndexRef) -> Iterator[bytes]:
    if not ref.location:
        yield from store.read_index(version)
        return
    fs, path = url_to_fs(ref.location)
    try:
        with fs.open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise StoreError(
            f"the serving index of {version} at {ref.location} cannot be read: {exc}"
        ) from exc


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
