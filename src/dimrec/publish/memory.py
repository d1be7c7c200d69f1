"""``memory://name``: the in-process twin of the stores, for tests.

Stores opened with the same name in one process share one space (so a test can publish
through ``dimrec.pipeline`` and read through another handle); nothing outlives the process.
Entries are packed by the same codec as the real stores, so the twin behaves like them down
to float32 scores. One lock per space makes every call atomic.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dimrec.errors import MissingDataError, PublishRefusedError, StoreError, VersionNotFoundError
from dimrec.publish import codec
from dimrec.publish.base import (
    Entry,
    IndexRef,
    Store,
    StoreState,
    VersionInfo,
    check_version_name,
    now_iso,
)

_CHUNK = 16 << 20


@dataclass
class _Version:
    manifest: dict[str, Any]
    staged: bool = True
    published_at: str = ""
    entries: dict[str, bytes] = field(default_factory=dict)
    popularity: bytes = codec.pack([], [])
    index_ref: IndexRef | None = None
    index_data: bytes | None = None


@dataclass
class _Space:
    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: dict[str, _Version] = field(default_factory=dict)
    current: str | None = None
    hidden: set[str] = field(default_factory=set)
    hidden_generation: int = 0


_SPACES: dict[str, _Space] = {}
_SPACES_LOCK = threading.Lock()


class MemoryStore(Store):
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        with _SPACES_LOCK:
            self._space = _SPACES.setdefault(name, _Space())

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        return cls(url, url.partition("://")[2].strip("/"))

    def _version(self, version: str) -> _Version:
        found = self._space.versions.get(version)
        if found is None:
            raise VersionNotFoundError(f"version {version} is not in the store {self.url}")
        return found

    def _staged(self, version: str) -> _Version:
        found = self._version(version)
        if not found.staged:
            raise StoreError(f"version {version} in {self.url} is published, not staged")
        return found

    # --- writing ------------------------------------------------------------------------
    def stage(self, version: str, manifest: dict[str, Any]) -> None:
        check_version_name(version)
        copy = json.loads(json.dumps(manifest, default=str))
        with self._space.lock:
            if self._space.current == version:
                raise PublishRefusedError(f"version {version} is current in {self.url}")
            self._space.versions[version] = _Version(manifest=copy)

    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None:
        with self._space.lock:
            self._staged(version).entries.update(rows)

    def _put_popularity(self, version: str, blob: bytes) -> None:
        with self._space.lock:
            self._staged(version).popularity = blob

    def activate(self, version: str) -> None:
        with self._space.lock:
            staged = self._staged(version)
            staged.staged, staged.published_at = False, now_iso()
            self._space.current = version

    def set_current(self, version: str) -> None:
        with self._space.lock:
            if self._version(version).staged:
                raise StoreError(f"version {version} in {self.url} is staged (incomplete)")
            self._space.current = version

    def drop(self, version: str) -> None:
        with self._space.lock:
            if self._space.current == version:
                raise PublishRefusedError(
                    f"refusing to drop {version}: it is the current version of {self.url}"
                )
            self._space.versions.pop(version, None)

    # --- reading ------------------------------------------------------------------------
    def current(self) -> str | None:
        return self._space.current

    def state(self) -> StoreState:
        with self._space.lock:
            return StoreState(self._space.current, self._space.hidden_generation)

    def versions(self) -> list[VersionInfo]:
        with self._space.lock:
            return [
                VersionInfo(
                    version=name,
                    items=len(v.entries),
                    published_at=v.published_at,
                    manifest=json.loads(json.dumps(v.manifest)),
                    current=name == self._space.current,
                    staged=v.staged,
                )
                for name, v in sorted(self._space.versions.items())
            ]

    def count(self, version: str) -> int:
        with self._space.lock:
            return len(self._version(version).entries)

    def neighbours(self, version: str, items: Iterable[str]) -> dict[str, Entry]:
        with self._space.lock:
            entries = self._version(version).entries
            found = {item: entries[item] for item in items if item in entries}
        return {item: Entry(item, *codec.unpack(blob)) for item, blob in found.items()}

    def entries(self, version: str) -> Iterator[Entry]:
        with self._space.lock:
            held = self._version(version)
            rows = sorted(held.entries.items())
        for item, blob in rows:
            yield Entry(item, *codec.unpack(blob))
        with self._space.lock:
            if self._space.versions.get(version) is not held:
                raise VersionNotFoundError(f"version {version} was dropped while being read")

    def popularity(self, version: str, n: int) -> list[tuple[str, float]]:
        with self._space.lock:
            blob = self._version(version).popularity
        ids, scores = codec.unpack(blob)
        return list(zip(ids[:n], scores[:n], strict=True))

    # --- the serving index ----------------------------------------------------------------
    def put_index(self, version: str, ref: IndexRef, source: Path | None) -> None:
        data = source.read_bytes() if source is not None else None
        with self._space.lock:
            staged = self._staged(version)
            staged.index_ref, staged.index_data = ref, data
        if source is not None:
            source.unlink(missing_ok=True)

    def index_ref(self, version: str) -> IndexRef | None:
        with self._space.lock:
            return self._version(version).index_ref

    def read_index(self, version: str) -> Iterator[bytes]:
        with self._space.lock:
            data = self._version(version).index_data
        if data is None:
            raise MissingDataError(f"the store {self.url} keeps no serving index of {version}")
        for start in range(0, len(data), _CHUNK):
            yield data[start : start + _CHUNK]

    # --- availability -------------------------------------------------------------------
    def _hide(self, items: list[str]) -> int:
        with self._space.lock:
            added = set(items) - self._space.hidden
            self._space.hidden |= added
            self._space.hidden_generation += bool(added)
            return len(added)

    def _unhide(self, items: list[str]) -> int:
        with self._space.lock:
            removed = set(items) & self._space.hidden
            self._space.hidden -= removed
            self._space.hidden_generation += bool(removed)
            return len(removed)

    def hidden(self) -> frozenset[str]:
        with self._space.lock:
            return frozenset(self._space.hidden)

    def close(self) -> None:
        """Nothing to release: the space lives as long as the process."""
