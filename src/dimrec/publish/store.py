"""The serving store: one small protocol, opened by URL.

A store holds published model versions side by side. Each version maps an item to its
neighbour list (best first, capped at ``sim_cap``) and keeps the window's popularity list;
one pointer names the *current* version. Publishing writes a version in full while it is
*staged* (invisible to readers), then :meth:`Store.activate` makes it current in one atomic
step. Hidden items (sold out, withdrawn) are kept apart from versions and apply to all.

``open_store(url)`` picks the implementation by scheme:

- ``sqlite:///path/to/store.db`` — embedded default (WAL)
- ``redis://host:port/db`` — redis-py
- ``memory://`` — an in-process twin for tests
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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


class Store(Protocol):
    """What every store implements. Methods raise dimrec.errors.StoreError when unreachable."""

    url: str

    # --- writing (the publisher) -------------------------------------------------------
    def stage(self, version: str, manifest: dict[str, Any]) -> None:
        """Start writing ``version`` (discarding any leftover staged copy of it)."""

    def put_entries(self, version: str, entries: Sequence[Entry]) -> None:
        """Add a batch of neighbour lists to a staged version."""

    def put_popularity(self, version: str, items: Sequence[str], scores: Sequence[float]) -> None:
        """Set the staged version's popularity list, best first."""

    def activate(self, version: str) -> None:
        """Make a fully staged ``version`` current, atomically."""

    def set_current(self, version: str) -> None:
        """Point at an already published version (rollback)."""

    def drop(self, version: str) -> None:
        """Delete a version (never the current one)."""

    # --- reading (the server) ----------------------------------------------------------
    def current(self) -> str | None:
        """The current version, or None before the first publish."""

    def versions(self) -> list[VersionInfo]:
        """Every version, oldest first."""

    def count(self, version: str) -> int:
        """How many items of ``version`` have a neighbour list (staged or not)."""

    def neighbours(self, version: str, items: Iterable[str]) -> dict[str, Entry]:
        """The entries of the given items that ``version`` knows; unknown items are absent."""

    def entries(self, version: str) -> Iterator[Entry]:
        """Every entry of ``version`` (to load a version into memory)."""

    def popularity(self, version: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` most popular items of ``version``'s window, best first."""

    # --- availability ------------------------------------------------------------------
    def hide(self, items: Iterable[str]) -> None:
        """Mark items that must never be recommended, in every version."""

    def unhide(self, items: Iterable[str]) -> None:
        """Make hidden items recommendable again."""

    def hidden(self) -> frozenset[str]:
        """The hidden items."""

    def close(self) -> None:
        """Release connections."""
