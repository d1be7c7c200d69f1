"""Follow the store: load its current version into memory and keep the hidden items fresh.

A :class:`StoreFollower` runs one daemon thread per server process. Every
``serve.refresh_seconds`` it polls :meth:`Store.state` — the current version and the
hidden-set generation, one cheap read — and reads the hidden items only when their generation
changed. A new
current version (a publish, or a rollback to an older one) is loaded in full into a fresh
:class:`~dimrec.serve.index.ModelIndex` on this thread, checked against the store's item
count, and swapped in with one reference assignment: requests already running finish on the
state they started with, later ones see the new one. Hidden items only rebuild the small mask.

While nothing is loaded the server is not ready (``/readyz`` answers 503). When the store is
unreachable the last loaded state keeps answering and the failure shows in ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dimrec.errors import DimrecError, IntegrityError
from dimrec.logs import log_context
from dimrec.publish.base import Store
from dimrec.serve.index import build_index
from dimrec.serve.scoring import ServingState

log = logging.getLogger(__name__)

#: Popularity entries loaded beyond what one answer can need, so hidden items can be skipped.
POPULARITY_HEADROOM = 1000


@dataclass(frozen=True)
class FollowStatus:
    """What the follower last saw, for ``/readyz``."""

    store_version: str | None = None
    last_error: str | None = None


class StoreFollower:
    """Keeps :attr:`state` on the store's current version; see the module docstring."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        *,
        refresh_seconds: float,
        popularity_depth: int,
        on_change: Callable[[ServingState], None] = lambda _state: None,
        on_load_failure: Callable[[], None] = lambda: None,
        owns_store: bool = True,
    ) -> None:
        self._open_store = open_store
        self._owns_store = owns_store
        self._store: Store | None = None
        self._refresh_seconds = refresh_seconds
        self._popularity_depth = popularity_depth + POPULARITY_HEADROOM
        self._on_change = on_change
        self._on_load_failure = on_load_failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # a version that failed its checks, and why: not retried while it stays current
        self._refused: tuple[str, str] | None = None
        self._hidden_generation: int | None = None
        #: The state requests answer from; None until a version is loaded.
        self.state: ServingState | None = None
        self.status = FollowStatus()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dimrec-store-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._store is not None and self._owns_store:
            try:
                self._store.close()
            except DimrecError as exc:
                log.warning("closing the store failed: %s", exc)
        self._store = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._refresh_seconds)

    # --- one poll -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Look at the store once; load a new current version or new hidden items."""
        try:
            store = self._store or self._open()
            current, generation = store.state()
            refused, why = self._refused or (None, None)
            self.status = FollowStatus(current, last_error=why if current == refused else None)
            if current is not None and current not in (self._loaded_version(), refused):
                hidden = store.hidden()
                self._load(store, current, hidden)
                self._hidden_generation = generation
            elif self.state is not None and generation != self._hidden_generation:
                hidden = store.hidden()
                self._hidden_generation = generation
                if hidden != self.state.hidden:
                    self._swap(self.state.with_hidden(hidden))
                    log.info("hidden items changed: %d hidden", len(hidden))
        except DimrecError as exc:
            # the store is unreachable or a version is unusable: keep serving what is loaded
            self.status = FollowStatus(self.status.store_version, last_error=str(exc))
            log.warning("following the store failed: %s", exc)
        except Exception as exc:  # never let the thread die; say what happened
            self.status = FollowStatus(self.status.store_version, last_error=repr(exc))
            log.exception("following the store failed unexpectedly")

    def _open(self) -> Store:
        self._store = self._open_store()
        return self._store

    def _loaded_version(self) -> str | None:
        return None if self.state is None else self.state.version

    def _load(self, store: Store, version: str, hidden: frozenset[str]) -> None:
        with log_context(version=version):
            log.info("loading model version %s", version)
            try:
                index = build_index(
                    version,
                    store.entries(version),
                    store.popularity(version, self._popularity_depth),
                )
                expected = store.count(version)
                if index.entries != expected:
                    raise IntegrityError(
                        f"version {version}: read {index.entries} neighbour lists "
                        f"but the store counts {expected}"
                    )
            except IntegrityError as exc:
                self._refused = (version, f"version {version} refused: {exc}")
                self._on_load_failure()
                raise
            except DimrecError:
                self._on_load_failure()
                raise
            self._swap(ServingState.of(index, hidden))
            log.info(
                "serving model version %s: %d items with neighbour lists, %d hidden",
                version,
                index.items_with_lists,
                len(hidden),
            )

    def _swap(self, state: ServingState) -> None:
        self.state = state  # one reference assignment: atomic for the request threads
        self._on_change(state)
