"""Follow the store: keep the served version and the hidden items in step with it.

A :class:`StoreFollower` runs one daemon thread per server process. Every
``serve.refresh_seconds`` it polls :meth:`Store.state` — the current version, the hidden-set
generation and the store's incarnation, one cheap read — and reads the hidden items only when
their generation changed. A new current version (a publish, or a rollback to an older one) is
loaded on this thread and swapped in with one reference assignment: requests already running
finish on the state they started with, later ones see the new one. Hidden items only rebuild
the small mask.

Loading a version: when it has a serving index file, map it (:mod:`dimrec.serve.index`) — the
store's own file on this host (SQLite), or the host's copy in ``index_cache``, fetched once
by the first worker that needs it; otherwise read every entry from the store. Either way the
result is checked against the store's item count.

Failures never stop the server: the last good state keeps answering and the failure shows in
``/readyz`` and ``/metrics``. A store that is unreachable is polled again at the next refresh.
A version that fails to load (a corrupt entry or index file, a version that fails its
checks) is not retried at every refresh — loading may read a whole model — but after a delay
that doubles with each failure up to ``max_backoff_seconds``. A store whose incarnation
changed (its SQLite file deleted and made again) is read again from scratch.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from dimrec.errors import DimrecError, IntegrityError
from dimrec.logs import log_context
from dimrec.publish.base import Store
from dimrec.publish.serving_index import forget_copy, local_index, prune_cache, referenced
from dimrec.serve.index import ModelIndex, build_index, open_index
from dimrec.serve.scoring import ServingState

log = logging.getLogger(__name__)

#: Popularity entries loaded beyond what one answer can need, so hidden items can be skipped.
POPULARITY_HEADROOM = 1000


@dataclass(frozen=True)
class FollowStatus:
    """What the follower last saw, for ``/readyz`` and ``/metrics``."""

    store_version: str | None = None
    last_error: str | None = None
    store_up: bool = False
    """The last poll of the store succeeded."""
    retry_at: float | None = None
    """When (monotonic clock) a version that failed to load is tried again."""
    store_replaced: int = 0
    """Times the store was found replaced (deleted and made again) and read afresh."""
    store_replaced_at: str | None = None
    load_seconds: float | None = None
    """How long loading the served version took."""

    def retry_in(self) -> float | None:
        return None if self.retry_at is None else max(0.0, self.retry_at - time.monotonic())


@dataclass(frozen=True)
class _Failure:
    version: str
    message: str
    attempts: int
    retry_at: float


class StoreFollower:
    """Keeps :attr:`state` on the store's current version; see the module docstring."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        *,
        refresh_seconds: float,
        popularity_depth: int,
        index_cache: Path | None = None,
        max_backoff_seconds: float = 300.0,
        on_change: Callable[[ServingState], None] = lambda _state: None,
        on_load_failure: Callable[[], None] = lambda: None,
        on_status: Callable[[FollowStatus], None] = lambda _status: None,
        owns_store: bool = True,
    ) -> None:
        self._open_store = open_store
        self._owns_store = owns_store
        self._store: Store | None = None
        self._refresh_seconds = refresh_seconds
        self._popularity_depth = popularity_depth + POPULARITY_HEADROOM
        self._index_cache = index_cache
        self._max_backoff = max(max_backoff_seconds, refresh_seconds)
        self._on_change = on_change
        self._on_load_failure = on_load_failure
        self._on_status = on_status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: _Failure | None = None
        self._hidden_generation: int | None = None
        self._incarnation: str | None = None
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
            current, generation, incarnation = store.state()
            replaced = self._incarnation is not None and incarnation != self._incarnation
            self._incarnation = incarnation
            self.status = replace(
                self.status, store_version=current, store_up=True, last_error=None
            )
            if replaced:
                self._replaced()
            loaded = self._loaded_version()
            if current is not None and (current != loaded or replaced) and self._may_try(current):
                self._load(store, current, generation)
            elif self.state is not None and generation != self._hidden_generation:
                hidden = store.hidden()
                self._hidden_generation = generation
                if hidden != self.state.hidden:
                    self._swap(self.state.with_hidden(hidden))
                    log.info("hidden items changed: %d hidden", len(hidden))
        except DimrecError as exc:
            # the store is unreachable: keep serving what is loaded
            self.status = replace(self.status, last_error=str(exc), store_up=False)
            log.warning("following the store failed: %s", exc)
        except Exception as exc:  # never let the thread die; say what happened
            self.status = replace(self.status, last_error=repr(exc), store_up=False)
            log.exception("following the store failed unexpectedly")
        finally:
            self._on_status(self.status)

    def _open(self) -> Store:
        self._store = self._open_store()
        return self._store

    def _replaced(self) -> None:
        log.warning("the store %s was replaced: reading it again from scratch", self._store)
        self._hidden_generation = None
        self._failure = None
        self.status = replace(
            self.status,
            store_replaced=self.status.store_replaced + 1,
            store_replaced_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            retry_at=None,
        )

    def _loaded_version(self) -> str | None:
        return None if self.state is None else self.state.version

    def _may_try(self, version: str) -> bool:
        """False while a version that failed to load waits for its next try."""
        failure = self._failure
        if failure is None or failure.version != version:
            return True
        if time.monotonic() >= failure.retry_at:
            return True
        self.status = replace(self.status, last_error=failure.message, retry_at=failure.retry_at)
        return False

    def _load(self, store: Store, version: str, generation: int) -> None:
        with log_context(version=version):
            log.info("loading model version %s", version)
            started = time.perf_counter()
            try:
                hidden = store.hidden()
                index = self._read(store, version)
                expected = store.count(version)
                if index.entries != expected:
                    raise IntegrityError(
                        f"version {version}: read {index.entries} neighbour lists "
                        f"but the store counts {expected}"
                    )
            except DimrecError as exc:
                self._back_off(version, exc)
                return
            seconds = time.perf_counter() - started
            self._failure = None
            self._hidden_generation = generation
            self.status = replace(self.status, retry_at=None, load_seconds=seconds)
            self._swap(ServingState.of(index, hidden))
            log.info(
                "serving model version %s from %s in %.2f s: %d items with neighbour lists, "
                "%d hidden",
                version,
                index.source,
                seconds,
                index.items_with_lists,
                len(hidden),
            )
            if self._index_cache is not None and store.index_path(version) is None:
                try:
                    prune_cache(self._index_cache, referenced(store))
                except DimrecError as exc:
                    log.warning("pruning the index cache failed: %s", exc)

    def _read(self, store: Store, version: str) -> ModelIndex:
        ref = store.index_ref(version)
        if ref is None or self._index_cache is None:
            entries = store.entries(version)
            return build_index(version, entries, store.popularity(version, self._popularity_depth))
        path = local_index(store, version, ref, self._index_cache)
        try:
            return open_index(path, ref, version)
        except IntegrityError:
            forget_copy(store, version, path)  # a bad copy is fetched again at the next try
            raise

    def _back_off(self, version: str, exc: DimrecError) -> None:
        """Keep the last good state; try ``version`` again after a doubling delay."""
        failure = self._failure
        attempts = failure.attempts + 1 if failure is not None and failure.version == version else 1
        delay = min(self._refresh_seconds * 2 ** (attempts - 1), self._max_backoff)
        if isinstance(exc, IntegrityError):
            message = f"version {version} refused: {exc}"
        else:
            message = f"loading version {version} failed: {exc}"
        message += f" (attempt {attempts}, next in {delay:g} s; the last good version answers)"
        log.warning("%s", message)
        retry_at = time.monotonic() + delay
        self._failure = _Failure(version, message, attempts, retry_at)
        self.status = replace(self.status, last_error=message, retry_at=retry_at)
        self._on_load_failure()

    def _swap(self, state: ServingState) -> None:
        self.state = state  # one reference assignment: atomic for the request threads
        self._on_change(state)
