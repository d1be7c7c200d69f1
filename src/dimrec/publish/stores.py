"""Stores by URL: ``open_store(url)`` picks the backend by the URL's scheme.

The one module that knows every backend; each is imported only when its scheme is asked
for (the Redis one loads redis-py). The contract they all follow is
:class:`dimrec.publish.base.Store`.

- ``sqlite:///path/to/store.db`` — embedded default (WAL); ``sqlite:////abs/path.db`` for an
  absolute path; ``?timeout=SECONDS`` sets how long a writer waits for a lock (default 10)
- ``redis://host:port/db`` — redis-py (also ``rediss://`` and ``unix://``)
- ``memory://name`` — an in-process twin for tests: stores opened with the same name in one
  process share their data; nothing is kept after the process ends
"""

from __future__ import annotations

from dimrec.errors import ConfigError
from dimrec.publish.base import Store

SCHEMES = ("sqlite:///path/to/store.db", "redis://host:port/db", "memory://name")


def open_store(url: str, *, create: bool = True) -> Store:
    """Open the store at ``url``; the scheme picks the implementation. With ``create``
    false (read-only commands) a store that does not exist yet is not made: an embedded
    store's missing file is a MissingDataError instead (a server's keys need no making)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        from dimrec.publish.sqlite import SqliteStore

        return SqliteStore.from_url(url, create=create)
    if scheme in ("redis", "rediss", "unix"):
        from dimrec.publish.redis import RedisStore

        return RedisStore.from_url(url)
    if scheme == "memory":
        from dimrec.publish.memory import MemoryStore

        return MemoryStore.from_url(url)
    raise ConfigError(
        f"store.url {url!r} has an unknown scheme {scheme or '(none)'!r}; "
        f"supported: {', '.join(SCHEMES)}"
    )
