"""The serving store outside a publish: open it from the settings, roll back, hide items.

What an operator does between publishes — ``dimrec versions``, ``dimrec rollback``,
``dimrec hide`` and the web console's buttons — needs only the store's contract and its
factory. This module loads nothing more (no model files, no Arrow, no stages), so the CLI
answers these commands quickly and the HTTP server may call them without depending on the
pipeline.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dimrec.errors import MissingDataError
from dimrec.publish.base import Store
from dimrec.publish.stores import open_store

if TYPE_CHECKING:
    from dimrec.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HiddenChange:
    changed: int
    """Items whose state changed (newly hidden, or newly visible)."""
    hidden: int
    """Items hidden in all, afterwards."""


@contextlib.contextmanager
def open_settings_store(settings: Settings, *, create: bool = True) -> Iterator[Store]:
    """The store of ``settings.store.url``, closed on exit; ``create`` false for what only
    reads or changes what is there (``versions``, ``hidden``, ``rollback``, ``unhide``): no
    store is made, a missing one is a MissingDataError."""
    store = open_store(settings.store.url, create=create)
    try:
        yield store
    finally:
        store.close()


def rollback(store: Store, to: str | None = None) -> str:
    """Make ``to`` — by default the newest published version older than the current one —
    current, and return it."""
    infos = store.versions()
    published = [i.version for i in infos if not i.staged]
    current = next((i.version for i in infos if i.current), None)
    if to is None:
        older = [v for v in published if current is not None and v < current]
        if not older:
            raise MissingDataError(
                f"no version older than {current or '(none)'} in {store.url} to roll back to; "
                f"it holds: {', '.join(published) or 'nothing'}"
            )
        to = older[-1]
    elif to not in published:
        raise MissingDataError(
            f"version {to} is not published in {store.url}; it holds: "
            f"{', '.join(published) or 'nothing'}"
        )
    if to != current:
        store.set_current(to)
        logger.debug("rolled back from %s to %s", current, to)
    return to


def hide(store: Store, items: Iterable[str]) -> HiddenChange:
    """Never recommend ``items`` (in every version) until they are unhidden."""
    changed = store.hide(items)
    return HiddenChange(changed, len(store.hidden()))


def unhide(store: Store, items: Iterable[str]) -> HiddenChange:
    """Make hidden ``items`` recommendable again."""
    changed = store.unhide(items)
    return HiddenChange(changed, len(store.hidden()))
