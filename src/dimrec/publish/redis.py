"""``redis://host:port/db``: the store on Redis (redis-py).

Keys, all built by :class:`Keys`::

    dimrec:current                  string   the current version
    dimrec:versions                 set      every version name in the store
    dimrec:v:<version>:meta         hash     manifest, staged ("1"/"0"), published_at, items, index
    dimrec:v:<version>:entries      hash     item → neighbour list packed by codec
    dimrec:v:<version>:popularity   string   the popularity list packed by codec
    dimrec:v:<version>:index        hash     chunk number → 16 MiB of the serving index file
    dimrec:hidden                   set      hidden items
    dimrec:hidden:generation        integer  bumped whenever the hidden set changes

Writes to a staged version go through Lua scripts that first check the version is still
staged, so nothing can be written into a published or dropped version. Activation marks the
version published and sets the pointer in one MULTI/EXEC (watching the version's meta); a
reader's calls are single commands or MULTI/EXEC blocks that check the version exists, so
they see it whole or get VersionNotFoundError. Dropping uses UNLINK, which frees memory in
the background instead of blocking Redis.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.exceptions

from dimrec.errors import (
    ConfigError,
    MissingDataError,
    PublishRefusedError,
    StoreError,
    VersionNotFoundError,
)
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

_NOT_FOUND = "DIMREC_NOT_FOUND"
_NOT_STAGED = "DIMREC_NOT_STAGED"
_CHECK_STAGED = f"""
local staged = redis.call('HGET', KEYS[1], 'staged')
if not staged then return redis.error_reply('{_NOT_FOUND}') end
if staged ~= '1' then return redis.error_reply('{_NOT_STAGED}') end
"""
_PUT_ENTRIES = (
    _CHECK_STAGED
    + """
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return #ARGV / 2
"""
)
_PUT_POPULARITY = _CHECK_STAGED + "redis.call('SET', KEYS[2], ARGV[1])\nreturn 1\n"
_PUT_FIELD = _CHECK_STAGED + "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\nreturn 1\n"
_CHANGE_HIDDEN = """
local changed = 0
for i = 2, #ARGV do changed = changed + redis.call(ARGV[1], KEYS[1], ARGV[i]) end
if changed > 0 then redis.call('INCR', KEYS[2]) end
return changed
"""
_SCRIPT_BATCH = 500  # items per script call (Lua stack limits stay far away)
_SCAN = 500
_INDEX_CHUNK = 16 << 20  # bytes of a serving index file per hash field


@dataclass(frozen=True)
class Keys:
    """Every Redis key of the store, built here and nowhere else."""

    prefix: str = "dimrec"

    def current(self) -> str:
        return f"{self.prefix}:current"

    def versions(self) -> str:
        return f"{self.prefix}:versions"

    def meta(self, version: str) -> str:
        return f"{self.prefix}:v:{version}:meta"

    def entries(self, version: str) -> str:
        return f"{self.prefix}:v:{version}:entries"

    def popularity(self, version: str) -> str:
        return f"{self.prefix}:v:{version}:popularity"

    def index(self, version: str) -> str:
        return f"{self.prefix}:v:{version}:index"

    def of_version(self, version: str) -> tuple[str, ...]:
        """Every key that holds part of ``version``."""
        return (
            self.meta(version),
            self.entries(version),
            self.popularity(version),
            self.index(version),
        )

    def hidden(self) -> str:
        return f"{self.prefix}:hidden"

    def hidden_generation(self) -> str:
        return f"{self.prefix}:hidden:generation"


class RedisStore(Store):
    def __init__(self, url: str, client: redis.Redis, keys: Keys | None = None) -> None:
        self.url = url
        self._client = client
        self._keys = keys or Keys()
        self._put_entries = client.register_script(_PUT_ENTRIES)
        self._put_pop = client.register_script(_PUT_POPULARITY)
        self._put_field = client.register_script(_PUT_FIELD)
        self._change_hidden = client.register_script(_CHANGE_HIDDEN)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        try:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30
            )
        except ValueError as exc:
            raise ConfigError(
                f"store.url {_redact(url)!r} is not a valid Redis URL ({exc}); "
                "write redis://host:port/db"
            ) from None
        return cls(_redact(url), client)

    @contextlib.contextmanager
    def _errors(self, doing: str, version: str = "") -> Iterator[None]:
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StoreError(
                f"Redis store {self.url} is unreachable ({doing}): {exc}; "
                "check that redis-server runs there and store.url"
            ) from exc
        except redis.exceptions.ResponseError as exc:
            if _NOT_FOUND in str(exc):
                raise VersionNotFoundError(
                    f"version {version} is not in the store {self.url}"
                ) from None
            if _NOT_STAGED in str(exc):
                raise StoreError(
                    f"version {version} in {self.url} is published, not staged"
                ) from None
            raise StoreError(f"Redis store {self.url}: {doing} failed: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"Redis store {self.url}: {doing} failed: {exc}") from exc

    def _missing(self, version: str) -> VersionNotFoundError:
        return VersionNotFoundError(f"version {version} is not in the store {self.url}")

    # --- writing ------------------------------------------------------------------------
    def stage(self, version: str, manifest: dict[str, Any]) -> None:
        check_version_name(version)
        k = self._keys
        text = json.dumps(manifest, sort_keys=True, default=str)

        def body(pipe: Any) -> None:
            if _text(pipe.get(k.current())) == version:
                raise PublishRefusedError(f"version {version} is current in {self.url}")
            pipe.multi()
            pipe.unlink(*k.of_version(version))
            pipe.hset(
                k.meta(version),
                mapping={"manifest": text, "staged": "1", "published_at": "", "items": 0},
            )
            pipe.set(k.popularity(version), codec.pack([], []))
            pipe.sadd(k.versions(), version)

        with self._errors(f"staging {version}", version):
            self._client.transaction(body, k.current())

    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None:
        keys = [self._keys.meta(version), self._keys.entries(version)]
        with self._errors(f"writing entries of {version}", version):
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(rows), _SCRIPT_BATCH):
                args: list[str | bytes] = []
                for item, blob in rows[start : start + _SCRIPT_BATCH]:
                    args += (item, blob)
                self._put_entries(keys=keys, args=args, client=pipe)
            pipe.execute()

    def _put_popularity(self, version: str, blob: bytes) -> None:
        keys = [self._keys.meta(version), self._keys.popularity(version)]
        with self._errors(f"writing popularity of {version}", version):
            self._put_pop(keys=keys, args=[blob])

    def activate(self, version: str) -> None:
        k = self._keys

        def body(pipe: Any) -> None:
            self._require_staged(_text(pipe.hget(k.meta(version), "staged")), version, True)
            items = int(pipe.hlen(k.entries(version)))
            pipe.multi()
            pipe.hset(
                k.meta(version),
                mapping={"staged": "0", "published_at": now_iso(), "items": items},
            )
            pipe.set(k.current(), version)

        with self._errors(f"activating {version}", version):
            self._client.transaction(body, k.meta(version))

    def set_current(self, version: str) -> None:
        k = self._keys

        def body(pipe: Any) -> None:
            self._require_staged(_text(pipe.hget(k.meta(version), "staged")), version, False)
            pipe.multi()
            pipe.set(k.current(), version)

        with self._errors(f"making {version} current", version):
            self._client.transaction(body, k.meta(version))

    def _require_staged(self, flag: str | None, version: str, staged: bool) -> None:
        if flag is None:
            raise self._missing(version)
        if (flag == "1") != staged:
            state = "staged (incomplete)" if flag == "1" else "published, not staged"
            raise StoreError(f"version {version} in {self.url} is {state}")

    def drop(self, version: str) -> None:
        k = self._keys

        def body(pipe: Any) -> None:
            if _text(pipe.get(k.current())) == version:
                raise PublishRefusedError(
                    f"refusing to drop {version}: it is the current version of {self.url}"
                )
            pipe.multi()
            pipe.unlink(*k.of_version(version))
            pipe.srem(k.versions(), version)

        with self._errors(f"dropping {version}", version):
            self._client.transaction(body, k.current())

    # --- reading ------------------------------------------------------------------------
    def current(self) -> str | None:
        with self._errors("reading the current version"):
            return _text(self._client.get(self._keys.current()))

    def state(self) -> StoreState:
        with self._errors("reading the state"):
            current, generation = self._client.mget(
                [self._keys.current(), self._keys.hidden_generation()]
            )
        return StoreState(_text(current), int(generation or 0))

    def versions(self) -> list[VersionInfo]:
        k = self._keys
        with self._errors("listing versions"):
            names = sorted(_text(n) or "" for n in self._client.smembers(k.versions()))
            pipe = self._client.pipeline(transaction=True)
            pipe.get(k.current())
            for name in names:
                pipe.hgetall(k.meta(name))
                pipe.hlen(k.entries(name))
            current, *found = pipe.execute()
        infos = []
        for name, meta, items in zip(names, found[::2], found[1::2], strict=True):
            if not meta:  # dropped since the names were read
                continue
            fields = {_text(key): _text(value) or "" for key, value in meta.items()}
            infos.append(
                VersionInfo(
                    version=name,
                    items=int(items),
                    published_at=fields.get("published_at", ""),
                    manifest=json.loads(fields.get("manifest") or "{}"),
                    current=name == _text(current),
                    staged=fields.get("staged") == "1",
                )
            )
        return infos

    def _checked(self, version: str, doing: str, *calls: tuple[str, tuple[Any, ...]]) -> list[Any]:
        """Run ``calls`` in one MULTI/EXEC after checking that ``version`` exists."""
        with self._errors(f"{doing} {version}", version):
            pipe = self._client.pipeline(transaction=True)
            pipe.exists(self._keys.meta(version))
            for name, args in calls:
                getattr(pipe, name)(*args)
            exists, *results = pipe.execute()
        if not exists:
            raise self._missing(version)
        return results

    def count(self, version: str) -> int:
        (items,) = self._checked(version, "counting", ("hlen", (self._keys.entries(version),)))
        return int(items)

    def neighbours(self, version: str, items: Iterable[str]) -> dict[str, Entry]:
        wanted = list(dict.fromkeys(items))
        if not wanted:
            self._checked(version, "reading")
            return {}
        (blobs,) = self._checked(
            version, "reading", ("hmget", (self._keys.entries(version), wanted))
        )
        return {
            item: Entry(item, *codec.unpack(blob))
            for item, blob in zip(wanted, blobs, strict=True)
            if blob is not None
        }

    def entries(self, version: str) -> Iterator[Entry]:
        key = self._keys.entries(version)
        self._checked(version, "reading")
        seen: set[str] = set()
        cursor = 0
        while True:
            with self._errors(f"reading {version}", version):
                cursor, batch = self._client.hscan(key, cursor, count=_SCAN)
            found: dict[bytes, bytes] = batch  # type: ignore[assignment]
            for raw, blob in found.items():
                item = raw.decode()
                if item not in seen:  # HSCAN may return an item twice
                    seen.add(item)
                    yield Entry(item, *codec.unpack(blob))
            if cursor == 0:
                break
        (items,) = self._checked(version, "reading", ("hlen", (key,)))
        if items != len(seen):
            raise VersionNotFoundError(f"version {version} was dropped while being read")

    def popularity(self, version: str, n: int) -> list[tuple[str, float]]:
        (blob,) = self._checked(
            version, "reading popularity of", ("get", (self._keys.popularity(version),))
        )
        ids, scores = codec.unpack(blob or codec.pack([], []))
        return list(zip(ids[:n], scores[:n], strict=True))

    # --- the serving index ----------------------------------------------------------------
    def put_index(self, version: str, ref: IndexRef, source: Path | None) -> None:
        k = self._keys
        with self._errors(f"writing the serving index of {version}", version):
            if source is not None and not ref.location:
                with source.open("rb") as handle:
                    number = 0
                    while chunk := handle.read(_INDEX_CHUNK):
                        keys = [k.meta(version), k.index(version)]
                        self._put_field(keys=keys, args=[str(number), chunk])
                        number += 1
            self._put_field(keys=[k.meta(version)] * 2, args=["index", ref.to_json()])

    def index_ref(self, version: str) -> IndexRef | None:
        (text,) = self._checked(
            version, "reading the serving index of", ("hget", (self._keys.meta(version), "index"))
        )
        return IndexRef.from_json(text) if text else None

    def read_index(self, version: str) -> Iterator[bytes]:
        ref = self.index_ref(version)
        if ref is None or ref.location:
            raise MissingDataError(f"the store {self.url} keeps no serving index of {version}")
        key = self._keys.index(version)
        for number in range(-(-ref.size // _INDEX_CHUNK)):
            with self._errors(f"reading the serving index of {version}", version):
                chunk = self._client.hget(key, str(number))
            if chunk is None:
                raise VersionNotFoundError(f"version {version} was dropped while being read")
            yield bytes(chunk)  # type: ignore[arg-type]

    # --- availability -------------------------------------------------------------------
    def _hide(self, items: list[str]) -> int:
        return self._hidden_change(items, "SADD")

    def _unhide(self, items: list[str]) -> int:
        return self._hidden_change(items, "SREM")

    def _hidden_change(self, items: list[str], command: str) -> int:
        keys = [self._keys.hidden(), self._keys.hidden_generation()]
        changed = 0
        with self._errors("changing hidden items"):
            for start in range(0, len(items), _SCRIPT_BATCH):
                args = [command, *items[start : start + _SCRIPT_BATCH]]
                changed += int(self._change_hidden(keys=keys, args=args))
        return changed

    def hidden(self) -> frozenset[str]:
        with self._errors("reading hidden items"):
            return frozenset(_text(i) or "" for i in self._client.smembers(self._keys.hidden()))

    def close(self) -> None:
        with contextlib.suppress(redis.exceptions.RedisError):
            self._client.close()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _redact(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))
