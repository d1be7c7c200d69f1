"""The serving store's contract: what every store (memory, SQLite, Redis) implements.

A store holds published model versions side by side. Each version maps an item to its
neighbour list (best first, capped at ``sim_cap``) and keeps the window's popularity list;
one pointer names the *current* version. Publishing writes a version in full while it is
*staged* (invisible to readers), then :meth:`Store.activate` makes it current in one atomic
step. Hidden items (sold out, withdrawn) are kept apart from versions and apply to all.

:func:`dimrec.publish.stores.open_store` picks the implementation by the URL's scheme:

- ``sqlite:///path/to/store.db`` — embedded default (WAL); ``sqlite:////abs/path.db`` for an
  absolute path; ``?timeout=SECONDS`` sets how long a writer waits for a lock (default 10)
- ``redis://host:port/db`` — redis-py (also ``rediss://`` and ``unix://``)
- ``memory://name`` — an in-process twin for tests: stores opened with the same name in one
  process share their data; nothing is kept after the process ends

How a reader stays consistent (the server follows these rules):

1. Resolve the version once: ``state()`` (or ``current()``), then read that version's entries.
   A version's entries never change once it is activated, so every read of it agrees.
2. Each single read call (``neighbours``, ``count``, ``popularity``) is atomic: it sees the
   version whole or raises :class:`~dimrec.errors.VersionNotFoundError`, never part of it.
   ``entries`` raises the same error if the version is dropped while it is being iterated.
3. On ``VersionNotFoundError`` resolve the current version again and retry. It can only
   happen to a reader that resolved a version and then saw ``keep_versions - 1`` further
   publishes complete before its read: the publisher prunes only versions outside the last
   ``keep_versions`` (never the current one), so with the default of 3 a reader would have
   to be slower than two whole publishes.

Poll ``state()`` — one cheap round trip returning the current version and the hidden-set
generation — to learn when to switch versions or reload the hidden items; compare the
generation for *inequality* (it only grows, but a wiped store starts again from 0), and
reload everything when the ``incarnation`` changes (a SQLite file deleted and made again).

Each version may carry its *serving index* (:mod:`dimrec.publish.index_file`): one file of
flat arrays that servers map instead of reading every entry. The store records its
:class:`IndexRef` and keeps the file itself — SQLite in a folder beside the database, Redis in
a hash of chunks, the memory twin in memory — unless the reference names another location
(object storage), where the publisher put it. ``index_path`` gives a file a server on this
host can map as it is; otherwise a server copies ``read_index`` (or the location) once per
host.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from dimrec.errors import InvalidInputError
from dimrec.items import check_item_ids
from dimrec.publish import codec

_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Entry:
    """One item's neighbour list, best first."""

    item: str
    neighbours: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class VersionInfo:
    """A version in the store."""

    version: str
    items: int
    """Number of items with a neighbour list."""
    published_at: str
    """ISO time it was activated (empty while staged)."""
    manifest: dict[str, Any] = field(default_factory=dict)
    """The model's manifest, as published."""
    current: bool = False
    staged: bool = False
    """True while written but not yet activated (or left behind by a crashed publish)."""


@dataclass(frozen=True)
class IndexRef:
    """A version's serving index file: its name, size and xxh3-128 digest (hex)."""

    name: str
    size: int
    digest: str
    location: str = ""
    """An fsspec URL where the file is kept outside the store (object storage); empty when
    the store keeps the file."""

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "size": self.size, "digest": self.digest, "location": self.location}
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> IndexRef:
        fields = json.loads(text)
        return cls(fields["name"], int(fields["size"]), fields["digest"], fields["location"])


class StoreState(NamedTuple):
    """What a server polls: which version is current and which hidden set is in force."""

    current: str | None
    hidden_generation: int
    """Changes whenever the hidden set changes; compare for inequality."""
    incarnation: str = ""
    """Names the store's physical copy (SQLite: the file's device and inode). It changes when
    the store was deleted and made again, or replaced: everything read before is stale then,
    the hidden-set generation included."""


class Store(ABC):
    """What every store implements. Methods raise dimrec.errors.StoreError when the store is
    unreachable, locked or corrupt, and VersionNotFoundError for a version it does not hold.
    Implementations are safe to share between threads and close on leaving a ``with``.

    A backend implements the abstract methods; the public methods that check or pack their
    input (``put_entries``, ``put_popularity``, ``hide``, ``unhide``) are written once here
    and call the ``_``-prefixed primitives.
    """

    url: str

    # --- writing (the publisher) -------------------------------------------------------
    @abstractmethod
    def stage(self, version: str, manifest: dict[str, Any]) -> None:
        """Start writing ``version`` (discarding any earlier copy of it that is not current;
        refusing with PublishRefusedError when it is current)."""

    @abstractmethod
    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None:
        """Add a batch of ``(item, blob)`` rows packed by :mod:`dimrec.publish.codec`."""

    def put_entries(self, version: str, entries: Sequence[Entry]) -> None:
        """Add a batch of neighbour lists to a staged version."""
        self.put_packed(version, [(e.item, codec.pack(e.neighbours, e.scores)) for e in entries])

    def put_popularity(self, version: str, items: Sequence[str], scores: Sequence[float]) -> None:
        """Set the staged version's popularity list, best first."""
        self._put_popularity(version, codec.pack(items, scores))

    @abstractmethod
    def _put_popularity(self, version: str, blob: bytes) -> None: ...

    @abstractmethod
    def activate(self, version: str) -> None:
        """Make a fully staged ``version`` current, atomically."""

    @abstractmethod
    def set_current(self, version: str) -> None:
        """Point at an already published version (rollback)."""

    @abstractmethod
    def drop(self, version: str) -> None:
        """Delete a version; nothing happens when it is absent; refused for the current one."""

    # --- reading (the server) ----------------------------------------------------------
    @abstractmethod
    def current(self) -> str | None:
        """The current version, or None before the first publish."""

    @abstractmethod
    def state(self) -> StoreState:
        """The current version and the hidden-set generation, in one cheap read."""

    @abstractmethod
    def versions(self) -> list[VersionInfo]:
        """Every version, staged ones included, oldest (by name) first."""

    @abstractmethod
    def count(self, version: str) -> int:
        """How many items of ``version`` have a neighbour list (staged or not)."""

    @abstractmethod
    def neighbours(self, version: str, items: Iterable[str]) -> dict[str, Entry]:
        """The entries of the given items that ``version`` knows; unknown items are absent."""

    @abstractmethod
    def entries(self, version: str) -> Iterator[Entry]:
        """Every entry of ``version`` (to load a version into memory)."""

    @abstractmethod
    def popularity(self, version: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` most popular items of ``version``'s window, best first."""

    # --- the serving index -------------------------------------------------------------
    @abstractmethod
    def put_index(self, version: str, ref: IndexRef, source: Path | None) -> None:
        """Attach a serving index to a staged ``version``: record ``ref`` and keep the file
        ``source`` in the store (moved or copied; None when ``ref.location`` names where the
        file is kept)."""

    @abstractmethod
    def index_ref(self, version: str) -> IndexRef | None:
        """The serving index of ``version``, or None when it was published without one."""

    def index_path(self, version: str) -> Path | None:  # noqa: ARG002 (backends may use it)
        """A local file holding ``version``'s serving index that a server on this host may
        map as it is, or None (then copy it with :meth:`read_index`)."""
        return None

    def index_staging_dir(self) -> Path | None:
        """A folder where a new index file can be written so that :meth:`put_index` moves it
        without copying, or None (any temporary folder will do)."""
        return None

    @abstractmethod
    def read_index(self, version: str) -> Iterator[bytes]:
        """The bytes of ``version``'s serving index file kept in the store, in chunks
        (MissingDataError when the store keeps none for it)."""

    # --- availability ------------------------------------------------------------------
    def hide(self, items: Iterable[str]) -> int:
        """Mark items that must never be recommended, in every version; returns how many
        were not hidden before. Ids that break the item-id rule are refused."""
        checked = check_item_ids(items)
        return self._hide(checked) if checked else 0

    def unhide(self, items: Iterable[str]) -> int:
        """Make hidden items recommendable again; returns how many were hidden."""
        checked = check_item_ids(items)
        return self._unhide(checked) if checked else 0

    @abstractmethod
    def _hide(self, items: list[str]) -> int: ...

    @abstractmethod
    def _unhide(self, items: list[str]) -> int: ...

    @abstractmethod
    def hidden(self) -> frozenset[str]:
        """The hidden items."""

    def integrity_problems(self) -> list[str]:
        """What the backend's own check of its storage finds wrong (SQLite: ``PRAGMA
        integrity_check``); empty when sound or when the backend has no such check."""
        return []

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def check_version_name(version: str) -> str:
    """A version name is safe in every backend's keys: letters, digits, ``._-``, ≤ 64."""
    if not isinstance(version, str) or not _VERSION_NAME.match(version):
        raise InvalidInputError(
            f"{version!r} is not a valid store version name (letters, digits, '.', '_', '-'; "
            "at most 64 characters)"
        )
    return version


def now_iso() -> str:
    """The activation time recorded with a version: UTC, ISO 8601, seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
