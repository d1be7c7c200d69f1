"""Left-overs of interrupted writes, found and removed safely.

A write that was killed can leave behind:

- a temporary file of an atomic write (``.part-0.parquet.tmp-<12 hex>``,
  ``.manifest.json.tmp-…``; see :mod:`dimrec.fsio`) under events/, profiles/ or models/;
- a model version folder without its manifest (training stopped while writing it; loading
  ignores such a folder, nothing else ever removes it);
- a ``_prepared.json`` beside a day's profiles, written by an earlier dimrec (the description
  now lives inside the profiles file; the old record is never read).

Something being written right now looks the same, so only left-overs older than ``min_age``
seconds are taken: their last write is that long ago (an atomic write takes seconds; a model
folder is written in one go at the end of training).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from dimrec.fsio import join, storage_errors, url_to_fs
from dimrec.model import MANIFEST, is_version
from dimrec.train.profiles import LEGACY_SIDECAR

log = logging.getLogger(__name__)

#: The name fsio gives the temporary file of an atomic write.
TEMPORARY = re.compile(r"^\..+\.tmp-[0-9a-f]{12}$")
#: Left-overs younger than this are left alone by default: they may be being written.
MIN_AGE_SECONDS = 3600.0


@dataclass(frozen=True)
class Leftover:
    """One left-over: a file or a folder, and why it is one."""

    kind: str
    """"temporary file", "incomplete model" or "legacy record"."""
    url: str
    bytes: int
    age_seconds: float


def find_leftovers(
    roots: Sequence[str], models_url: str, *, min_age: float, now: dt.datetime | None = None
) -> list[Leftover]:
    """The left-overs under ``roots`` (events, profiles, models URLs) and the incomplete
    model versions under ``models_url`` whose last write is ``min_age`` seconds old or more."""
    moment = now or dt.datetime.now(dt.UTC)
    models = list(_incomplete_models(models_url, moment))
    folders = tuple(item.url + "/" for item in models)
    found = [
        item
        for root in dict.fromkeys(roots)
        for item in _files(root, moment)
        if not item.url.startswith(folders)  # part of an incomplete model: goes with it
    ]
    return sorted(
        (item for item in [*found, *models] if item.age_seconds >= min_age),
        key=lambda item: item.url,
    )


def remove(leftovers: Sequence[Leftover]) -> None:
    """Delete each left-over (a folder with what it holds)."""
    for item in leftovers:
        fs, path = url_to_fs(item.url)
        with storage_errors("removing", item.url):
            if fs.exists(path):
                fs.rm(path, recursive=True)
        log.info("removed %s %s (%d bytes)", item.kind, item.url, item.bytes)


def _files(root: str, now: dt.datetime) -> Iterator[Leftover]:
    fs, path = url_to_fs(root)
    with storage_errors("listing", root):
        if not fs.exists(path):
            return
        entries = fs.find(path, detail=True)
    for name, info in entries.items():
        base = name.rstrip("/").rpartition("/")[2]
        kind = (
            "temporary file"
            if TEMPORARY.match(base)
            else "legacy record"
            if base == LEGACY_SIDECAR
            else None
        )
        if kind is not None:
            age = _age(fs, name, now)
            yield Leftover(kind, _url(fs, name), int(info.get("size") or 0), age)


def _incomplete_models(models_url: str, now: dt.datetime) -> Iterator[Leftover]:
    fs, root = url_to_fs(models_url)
    with storage_errors("listing", models_url):
        if not fs.exists(root):
            return
        folders = [e for e in fs.ls(root, detail=True) if e.get("type") == "directory"]
    for folder in folders:
        path = folder["name"].rstrip("/")
        if not is_version(path.rpartition("/")[2]) or fs.exists(join(path, MANIFEST)):
            continue
        with storage_errors("listing", path):
            inside = fs.find(path, detail=True)
        ages = [_age(fs, name, now) for name in inside] or [_age(fs, path, now)]
        size = sum(int(info.get("size") or 0) for info in inside.values())
        yield Leftover("incomplete model", _url(fs, path), size, min(ages))


def _url(fs: Any, path: str) -> str:
    """A path as the user wrote it: plain for local files, a URL elsewhere."""
    return path if isinstance(fs, LocalFileSystem) else str(fs.unstrip_protocol(path))


def _age(fs: Any, path: str, now: dt.datetime) -> float:
    """Seconds since ``path`` was last written; 0 when the file system cannot tell (then it
    is never old enough to be taken for a left-over)."""
    try:
        modified: dt.datetime = fs.modified(path)
    except (NotImplementedError, AttributeError, OSError, KeyError):
        return 0.0
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=dt.UTC)
    return max((now - modified).total_seconds(), 0.0)
