"""What the three stores share: entries packed by :mod:`dimrec.publish.codec`, checked
names, and ``with`` support. Each backend implements the ``_``-prefixed primitives."""

from __future__ import annotations

import datetime as dt
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from types import TracebackType

from dimrec.errors import InvalidInputError
from dimrec.publish import codec
from dimrec.publish.store import Entry

MAX_ITEM_ID_LENGTH = 1024


class PackedStore(ABC):
    """Base of the stores: the public methods check their input, then call a primitive."""

    url: str

    # --- primitives ---------------------------------------------------------------------
    @abstractmethod
    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None: ...

    @abstractmethod
    def _put_popularity(self, version: str, blob: bytes) -> None: ...

    @abstractmethod
    def _hide(self, items: list[str]) -> int: ...

    @abstractmethod
    def _unhide(self, items: list[str]) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    # --- shared -------------------------------------------------------------------------
    def put_entries(self, version: str, entries: Sequence[Entry]) -> None:
        self.put_packed(version, [(e.item, codec.pack(e.neighbours, e.scores)) for e in entries])

    def put_popularity(self, version: str, items: Sequence[str], scores: Sequence[float]) -> None:
        self._put_popularity(version, codec.pack(items, scores))

    def hide(self, items: Iterable[str]) -> int:
        checked = check_item_ids(items)
        return self._hide(checked) if checked else 0

    def unhide(self, items: Iterable[str]) -> int:
        checked = check_item_ids(items)
        return self._unhide(checked) if checked else 0

    def __enter__(self) -> PackedStore:
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


def check_item_ids(items: Iterable[str]) -> list[str]:
    """Distinct item ids in first-seen order; an empty, over-long or control-character id is
    an InvalidInputError naming it."""
    if isinstance(items, str):
        items = [items]
    seen: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError(f"item id {item!r} is empty; give a non-empty id")
        if len(item) > MAX_ITEM_ID_LENGTH:
            raise InvalidInputError(
                f"item id {item[:40]!r}… is {len(item)} characters long; "
                f"at most {MAX_ITEM_ID_LENGTH} are allowed"
            )
        if any(unicodedata.category(ch) == "Cc" for ch in item):
            raise InvalidInputError(f"item id {item!r} contains control characters")
        seen.setdefault(item, None)
    return list(seen)


def now_iso() -> str:
    """The activation time recorded with a version: UTC, ISO 8601, seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
