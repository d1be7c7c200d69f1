"""``sqlite:///path/to/store.db``: the embedded store (WAL).

Tables: ``versions`` (one row per version: manifest, staged flag, item count, activation time,
packed popularity list), ``entries`` (one row per (version, item), the neighbour list packed
by :mod:`dimrec.publish.codec` in a BLOB), ``state`` (the current pointer and the hidden-set
generation) and ``hidden``. Activation updates the version row and the pointer in one
transaction; in WAL mode readers never wait for it and see the state before or after it.
Every read is a single statement or one read transaction, so it sees one snapshot.

Serving index files (:mod:`dimrec.publish.index_file`) live in a folder beside the database
(``var/store.db`` → ``var/store.indexes/``), named by version and digest; the ``state``
table holds each one's reference under ``index:<version>`` (so a dimrec that predates them
reads the same store unchanged). Dropping a version removes its file; files no version refers
to are swept at the next publish.

Each thread (and each process after a fork) gets its own connection; iterating ``entries``
uses a connection of its own holding one read snapshot until the iteration ends.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

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

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL UNIQUE,
    manifest TEXT NOT NULL,
    staged INTEGER NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    published_at TEXT NOT NULL DEFAULT '',
    popularity BLOB
);
CREATE TABLE IF NOT EXISTS entries (
    vid INTEGER NOT NULL,
    item TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (vid, item)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hidden (item TEXT PRIMARY KEY) WITHOUT ROWID;
"""
_NO_STORE = "{path} (store.url {url}) holds no dimrec store; `dimrec publish` creates one"
_CURRENT = "current"
_GENERATION = "hidden_generation"
_CHUNK = 5000  # bound parameters per IN (...) query
_FETCH = 1000
_FILE_CHUNK = 16 << 20
_STALE_TEMPORARY = 3600  # seconds after which a temporary index file is a crash's leftover


class SqliteStore(Store):
    def __init__(self, url: str, path: Path, timeout: float = 10.0, *, create: bool = True) -> None:
        self.url = url
        self.path = path
        #: Where the serving index files live: beside the database (``store.db`` →
        #: ``store.indexes/``), so a server on this host maps them where they are.
        self.index_dir = path.parent / f"{path.stem}.indexes"
        self.timeout = timeout
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        if not create and not path.is_file():
            raise MissingDataError(
                f"no SQLite store at {path} (store.url {url}): nothing has been published "
                "there yet; `dimrec publish` creates it"
            )
        if not create and path.stat().st_size == 0:
            raise MissingDataError(_NO_STORE.format(path=path, url=url))
        self._identity: str | None = None
        with self._errors("opening"):
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            if self._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return  # the usual case: no write lock needed to open
        if not create:
            raise MissingDataError(_NO_STORE.format(path=path, url=url))
        with self._write("creating the schema") as conn:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"SQLite store {url} has schema {found}, newer than this dimrec's "
                    f"{SCHEMA_VERSION}; upgrade dimrec"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> SqliteStore:
        rest = url.partition("://")[2]
        location, _, query = rest.partition("?")
        if not location.startswith("/") or len(location) < 2 or location.endswith("/"):
            raise ConfigError(
                f"store.url {url!r} does not name a file: write sqlite:///relative/path.db "
                "or sqlite:////absolute/path.db"
            )
        options = {key: values[-1] for key, values in parse_qs(query).items()}
        unknown = set(options) - {"timeout"}
        if unknown:
            raise ConfigError(f"store.url {url!r}: unknown option(s) {sorted(unknown)}")
        try:
            timeout = float(options.get("timeout", 10.0))
        except ValueError:
            raise ConfigError(f"store.url {url!r}: timeout must be a number of seconds") from None
        return cls(url, Path(location[1:]), timeout, create=create)

    # --- connections and transactions --------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._opened_lock:
            self._opened.append(conn)
            if self._identity is None:
                found = os.stat(self.path)
                self._identity = f"{found.st_dev}:{found.st_ino}"
        return conn

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.pid = self._connect(), os.getpid()
        conn: sqlite3.Connection = local.conn
        return conn

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.url}: {doing} failed: {exc}{_hint(exc)}") from exc
        except OSError as exc:
            raise StoreError(f"SQLite store {self.url}: {doing} failed: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self, doing: str, begin: str) -> Iterator[sqlite3.Connection]:
        with self._errors(doing):
            conn = self._conn()
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _write(self, doing: str) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._transaction(doing, "BEGIN IMMEDIATE")

    def _read(self, doing: str) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._transaction(doing, "BEGIN")

    def _vid(self, conn: sqlite3.Connection, version: str) -> tuple[int, bool]:
        row = conn.execute(
            "SELECT id, staged FROM versions WHERE version = ?", (version,)
        ).fetchone()
        if row is None:
            raise VersionNotFoundError(f"version {version} is not in the store {self.url}")
        return int(row[0]), bool(row[1])

    def _staged_vid(self, conn: sqlite3.Connection, version: str) -> int:
        vid, staged = self._vid(conn, version)
        if not staged:
            raise StoreError(f"version {version} in {self.url} is published, not staged")
        return vid

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- writing ------------------------------------------------------------------------
    def stage(self, version: str, manifest: dict[str, Any]) -> None:
        check_version_name(version)
        text = json.dumps(manifest, sort_keys=True, default=str)
        with self._write(f"staging {version}") as conn:
            if self._get(conn, _CURRENT) == version:
                raise PublishRefusedError(f"version {version} is current in {self.url}")
            dropped = self._delete(conn, version)
            conn.execute(
                "INSERT INTO versions (version, manifest, staged, popularity) VALUES (?, ?, 1, ?)",
                (version, text, codec.pack([], [])),
            )
        self._remove_index_file(dropped)

    def put_packed(self, version: str, rows: Sequence[tuple[str, bytes]]) -> None:
        with self._write(f"writing entries of {version}") as conn:
            vid = self._staged_vid(conn, version)
            conn.executemany(
                "INSERT OR REPLACE INTO entries (vid, item, data) VALUES (?, ?, ?)",
                [(vid, item, blob) for item, blob in rows],
            )

    def _put_popularity(self, version: str, blob: bytes) -> None:
        with self._write(f"writing popularity of {version}") as conn:
            vid = self._staged_vid(conn, version)
            conn.execute("UPDATE versions SET popularity = ? WHERE id = ?", (blob, vid))

    def activate(self, version: str) -> None:
        with self._write(f"activating {version}") as conn:
            vid = self._staged_vid(conn, version)
            (items,) = conn.execute("SELECT count(*) FROM entries WHERE vid = ?", (vid,)).fetchone()
            conn.execute(
                "UPDATE versions SET staged = 0, items = ?, published_at = ? WHERE id = ?",
                (items, now_iso(), vid),
            )
            self._set(conn, _CURRENT, version)

    def set_current(self, version: str) -> None:
        with self._write(f"making {version} current") as conn:
            _, staged = self._vid(conn, version)
            if staged:
                raise StoreError(f"version {version} in {self.url} is staged (incomplete)")
            self._set(conn, _CURRENT, version)

    def drop(self, version: str) -> None:
        with self._write(f"dropping {version}") as conn:
            if self._get(conn, _CURRENT) == version:
                raise PublishRefusedError(
                    f"refusing to drop {version}: it is the current version of {self.url}"
                )
            dropped = self._delete(conn, version)
        self._remove_index_file(dropped)

    @staticmethod
    def _delete(conn: sqlite3.Connection, version: str) -> IndexRef | None:
        """Delete a version's rows; returns its index reference, whose file the caller
        removes once the transaction is committed."""
        ref = SqliteStore._get(conn, _index_key(version))
        conn.execute("DELETE FROM state WHERE key = ?", (_index_key(version),))
        row = conn.execute("SELECT id FROM versions WHERE version = ?", (version,)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM entries WHERE vid = ?", (row[0],))
            conn.execute("DELETE FROM versions WHERE id = ?", (row[0],))
        return IndexRef.from_json(ref) if ref else None

    # --- the serving index ----------------------------------------------------------------
    def put_index(self, version: str, ref: IndexRef, source: Path | None) -> None:
        target = None
        if source is not None and not ref.location:
            target = self.index_dir / ref.name
            with self._errors(f"keeping the serving index of {version}"):
                _move_file(source, target)
        try:
            with self._write(f"recording the serving index of {version}") as conn:
                self._staged_vid(conn, version)
                self._set(conn, _index_key(version), ref.to_json())
                # references of versions gone (dropped by a dimrec that predates them) go too
                conn.execute(
                    "DELETE FROM state WHERE key LIKE 'index:%' AND substr(key, 7) NOT IN "
                    "(SELECT version FROM versions)"
                )
                kept = {
                    IndexRef.from_json(text).name
                    for (text,) in conn.execute("SELECT value FROM state WHERE key LIKE 'index:%'")
                }
        except BaseException:
            if target is not None:
                target.unlink(missing_ok=True)
            raise
        self._sweep_index_files(kept)

    def index_ref(self, version: str) -> IndexRef | None:
        with self._read(f"reading the serving index of {version}") as conn:
            self._vid(conn, version)
            text = self._get(conn, _index_key(version))
        return IndexRef.from_json(text) if text else None

    def index_path(self, version: str) -> Path | None:
        ref = self.index_ref(version)
        if ref is None or ref.location:
            return None
        return self.index_dir / ref.name

    def index_staging_dir(self) -> Path:
        return self.index_dir

    def read_index(self, version: str) -> Iterator[bytes]:
        path = self.index_path(version)
        if path is None:
            raise MissingDataError(f"the store {self.url} keeps no serving index of {version}")
        with self._errors(f"reading the serving index of {version}"), path.open("rb") as handle:
            while chunk := handle.read(_FILE_CHUNK):
                yield chunk

    def _remove_index_file(self, ref: IndexRef | None) -> None:
        if ref is not None and not ref.location:
            with contextlib.suppress(OSError):
                (self.index_dir / ref.name).unlink(missing_ok=True)

    def _sweep_index_files(self, kept: set[str]) -> None:
        """Remove index files no version refers to (left by a crash or a wiped database)."""
        with contextlib.suppress(OSError):
            for path in self.index_dir.iterdir():
                if path.name in kept:
                    continue
                if path.suffix == ".dmx" or (
                    ".tmp-" in path.name and time.time() - path.stat().st_mtime > _STALE_TEMPORARY
                ):
                    path.unlink(missing_ok=True)

    # --- reading ------------------------------------------------------------------------
    def current(self) -> str | None:
        with self._errors("reading the current version"):
            return self._get(self._conn(), _CURRENT)

    def state(self) -> StoreState:
        incarnation = self._follow_file()
        with self._errors("reading the state"):
            rows = dict(
                self._conn()
                .execute(
                    "SELECT key, value FROM state WHERE key IN (?, ?)", (_CURRENT, _GENERATION)
                )
                .fetchall()
            )
        return StoreState(rows.get(_CURRENT), int(rows.get(_GENERATION, 0)), incarnation)

    def _follow_file(self) -> str:
        """The database file's identity; when it changed since the connections were opened
        (deleted and made again, or replaced), they still read the old file: reopen them."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(
                f"SQLite store {self.url}: the file {self.path} was deleted; the last version "
                "read keeps answering until a new store is published there"
            ) from None
        except OSError as exc:
            raise StoreError(f"SQLite store {self.url}: {exc}") from exc
        identity = f"{found.st_dev}:{found.st_ino}"
        if self._identity is not None and identity != self._identity:
            logger.warning(
                "SQLite store %s was replaced (file %s is a new file); reopening it",
                self.url,
                self.path,
            )
            self.close()
        self._identity = identity
        return identity

    def versions(self) -> list[VersionInfo]:
        with self._read("listing versions") as conn:
            current = self._get(conn, _CURRENT)
            rows = conn.execute(
                "SELECT v.version, v.staged, v.published_at, v.manifest, CASE WHEN v.staged "
                "THEN (SELECT count(*) FROM entries e WHERE e.vid = v.id) ELSE v.items END "
                "FROM versions v ORDER BY v.version"
            ).fetchall()
        return [
            VersionInfo(
                version=name,
                items=int(items),
                published_at=published_at,
                manifest=json.loads(manifest),
                current=name == current,
                staged=bool(staged),
            )
            for name, staged, published_at, manifest, items in rows
        ]

    def count(self, version: str) -> int:
        with self._read(f"counting {version}") as conn:
            vid, _ = self._vid(conn, version)
            (items,) = conn.execute("SELECT count(*) FROM entries WHERE vid = ?", (vid,)).fetchone()
        return int(items)

    def neighbours(self, version: str, items: Iterable[str]) -> dict[str, Entry]:
        wanted = list(dict.fromkeys(items))
        chunks = [wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)] or [[]]
        rows: list[tuple[str | None, bytes | None]] = []
        with self._errors(f"reading {version}"):
            conn = self._conn()
            if len(chunks) > 1:
                conn.execute("BEGIN")
            try:
                for chunk in chunks:
                    found = conn.execute(
                        _neighbours_query(len(chunk)), (*chunk, version)
                    ).fetchall()
                    if not found:
                        raise VersionNotFoundError(
                            f"version {version} is not in the store {self.url}"
                        )
                    rows.extend(found)
            finally:
                if len(chunks) > 1:
                    conn.execute("COMMIT")
        return {
            item: Entry(item, *codec.unpack(blob))
            for item, blob in rows
            if item is not None and blob is not None
        }

    def entries(self, version: str) -> Iterator[Entry]:
        conn = None
        try:
            with self._errors(f"reading {version}"):
                conn = self._connect()
                conn.execute("BEGIN")
                vid, _ = self._vid(conn, version)
                cursor = conn.execute(
                    "SELECT item, data FROM entries WHERE vid = ? ORDER BY item", (vid,)
                )
            while True:
                with self._errors(f"reading {version}"):
                    batch = cursor.fetchmany(_FETCH)
                if not batch:
                    return
                for item, blob in batch:
                    yield Entry(item, *codec.unpack(blob))
        finally:
            if conn is not None:
                self._forget(conn)

    def popularity(self, version: str, n: int) -> list[tuple[str, float]]:
        with self._errors(f"reading popularity of {version}"):
            row = (
                self._conn()
                .execute("SELECT popularity FROM versions WHERE version = ?", (version,))
                .fetchone()
            )
        if row is None:
            raise VersionNotFoundError(f"version {version} is not in the store {self.url}")
        ids, scores = codec.unpack(row[0])
        return list(zip(ids[:n], scores[:n], strict=True))

    # --- availability -------------------------------------------------------------------
    def _hide(self, items: list[str]) -> int:
        return self._change_hidden("INSERT OR IGNORE INTO hidden (item) VALUES (?)", items)

    def _unhide(self, items: list[str]) -> int:
        return self._change_hidden("DELETE FROM hidden WHERE item = ?", items)

    def _change_hidden(self, statement: str, items: list[str]) -> int:
        with self._write("changing hidden items") as conn:
            before = conn.total_changes
            conn.executemany(statement, [(item,) for item in items])
            changed = conn.total_changes - before
            if changed:
                generation = int(self._get(conn, _GENERATION) or 0) + 1
                self._set(conn, _GENERATION, str(generation))
        return changed

    def hidden(self) -> frozenset[str]:
        with self._errors("reading hidden items"):
            rows = self._conn().execute("SELECT item FROM hidden").fetchall()
        return frozenset(row[0] for row in rows)

    def integrity_problems(self) -> list[str]:
        with self._errors("checking integrity"):
            rows = self._conn().execute("PRAGMA integrity_check").fetchall()
        return [str(row[0]) for row in rows if row[0] != "ok"]

    # --- lifetime -----------------------------------------------------------------------
    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._opened_lock:
            if conn in self._opened:
                self._opened.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


def _index_key(version: str) -> str:
    """The ``state`` key holding ``version``'s serving index reference."""
    return f"index:{version}"


def _move_file(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` atomically (a copy first when they are on different
    file systems), and make the move durable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        temporary = target.with_name(f".{target.name}.tmp-{os.urandom(6).hex()}")
        try:
            shutil.copyfile(source, temporary)
            with temporary.open("rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        source.unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _neighbours_query(n: int) -> str:
    """One statement: no row when the version is absent, else one row per found item (or a
    single all-NULL row when none is found)."""
    marks = ",".join("?" * n)
    on_items = f" AND e.item IN ({marks})" if n else " AND 0"
    return (
        "SELECT e.item, e.data FROM versions v LEFT JOIN entries e "  # noqa: S608
        f"ON e.vid = v.id{on_items} WHERE v.version = ?"
    )


def _hint(exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "; another process held a write lock longer than the timeout, retry later"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "; the file is corrupt or not a dimrec store: move it away and publish again"
    if "unable to open" in text or "readonly" in text:
        return "; check that the folder exists and is writable"
    return ""
