"""A model version folder: ``models/<version>/``.

- ``neighbours.parquet``: ``item, neighbour, similarity``; per item at most top-K rows, best
  first, ties broken by neighbour id.
- ``popularity.parquet``: ``item, score, users``; the window's most interacted items, best
  first — the fallback for shoppers with nothing known.
- ``manifest.json``: a :class:`Manifest` — version, created_at, window, parameters, counts,
  per-file checksums, code version, engine and timings. Written last: a folder without it is
  incomplete and ignored, so a crash while training never leaves a version that looks usable.

Training writes versions; publishing and evaluation read them. Loading validates the
manifest's shape and verifies every file's checksum. No pickle: Parquet and JSON only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dimrec import __version__
from dimrec.errors import IntegrityError, MissingDataError, describe_validation
from dimrec.fsio import atomic_write_bytes, atomic_write_table, join, read_parquet, url_to_fs
from dimrec.params import TrainParams

FORMAT = 1
MANIFEST = "manifest.json"
NEIGHBOURS = "neighbours.parquet"
POPULARITY = "popularity.parquet"
_VERSION = re.compile(r"^\d{8}T\d{9}Z$")

NEIGHBOURS_SCHEMA = pa.schema(
    [
        pa.field("item", pa.string(), nullable=False),
        pa.field("neighbour", pa.string(), nullable=False),
        pa.field("similarity", pa.float64(), nullable=False),
    ]
)
POPULARITY_SCHEMA = pa.schema(
    [
        pa.field("item", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("users", pa.int64(), nullable=False),
    ]
)
#: Manifest fields that may differ between two runs of the same training.
RUN_FIELDS = ("version", "created_at", "engine", "timings", "code_version")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelWindow(_Part):
    """The days a model was trained on."""

    as_of: dt.date
    """The day the window counts back from."""
    days_init: int = Field(ge=0)
    days_end: int = Field(ge=0)
    days: tuple[dt.date, ...]
    """The days trained on (those with profiles)."""
    missing_days: tuple[dt.date, ...] = ()
    """Days of the window left out for lack of data (``--allow-missing``)."""


class ModelCounts(_Part):
    """What the window and the result held (the same on every engine)."""

    profiles: int = Field(ge=0)
    """Profile rows read from the window's files."""
    users: int = Field(ge=0)
    """Users kept by the user filter."""
    users_dropped: int = Field(ge=0)
    """Users left out by the user filter."""
    items: int = Field(ge=0)
    """Items touched by the kept users."""
    pairs: int = Field(ge=0)
    """Neighbour rows written."""


class Training(_Part):
    """What training knows about a model; :func:`write_model` adds the rest of the manifest."""

    window: ModelWindow
    params: TrainParams
    engine: str
    counts: ModelCounts
    timings: dict[str, float] = Field(default_factory=dict)
    """Wall seconds per step."""
    tuned_by: str | None = None
    """The tune run (``tune-<version>``) whose applied choice the parameters came from; None
    when they came from the settings or the command line alone (and in manifests written
    before this field existed)."""


class FileEntry(_Part):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    rows: int = Field(ge=0)


class Manifest(Training):
    """``manifest.json``: what a model version is, what produced it, and its files' checksums."""

    format: int = Field(FORMAT, ge=1, le=FORMAT)
    version: str = Field(pattern=_VERSION.pattern)
    created_at: str
    code_version: str
    files: dict[str, FileEntry]

    @model_validator(mode="after")
    def _every_file(self) -> Manifest:
        missing = [name for name in (NEIGHBOURS, POPULARITY) if name not in self.files]
        if missing:
            raise ValueError(f"files lacks {', '.join(missing)}")
        return self

    def to_json(self) -> bytes:
        """The manifest as written: indented JSON with sorted keys."""
        data = self.model_dump(mode="json")
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def new_version(now: dt.datetime | None = None) -> str:
    """A version name that sorts in time order: ``YYYYMMDDTHHMMSSmmmZ`` (UTC)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"


def is_version(name: str) -> bool:
    return bool(_VERSION.match(name))


@dataclass(frozen=True)
class Model:
    """A complete model version on storage."""

    url: str
    manifest: Manifest

    @property
    def version(self) -> str:
        return self.manifest.version

    def neighbours(self) -> pa.Table:
        return self._read(NEIGHBOURS, NEIGHBOURS_SCHEMA)

    def popularity(self) -> pa.Table:
        return self._read(POPULARITY, POPULARITY_SCHEMA)

    def _read(self, name: str, schema: pa.Schema) -> pa.Table:
        fs, path = url_to_fs(join(self.url, name))
        return read_parquet(fs, path, schema=schema)

    def verify(self) -> None:
        """Check every file against the manifest's checksum and row count."""
        for name, expected in self.manifest.files.items():
            fs, path = url_to_fs(join(self.url, name))
            if not fs.exists(path):
                raise IntegrityError(f"model {self.version}: {name} is missing")
            data = fs.cat_file(path)
            digest = hashlib.sha256(data).hexdigest()
            if digest != expected.sha256:
                raise IntegrityError(
                    f"model {self.version}: {name} does not match its manifest checksum "
                    f"(sha256 {digest[:12]}…, expected {expected.sha256[:12]}…); retrain it"
                )


def popularity_table(items: Sequence[str] | pa.Array, score: Any, users: Any) -> pa.Table:
    """Build the popularity table sorted best first (score desc, then users desc, then id)."""
    table = pa.table(
        {
            "item": pa.array(items, pa.string()),
            "score": pa.array(np.asarray(score, dtype=np.float64)),
            "users": pa.array(np.asarray(users, dtype=np.int64)),
        },
        schema=POPULARITY_SCHEMA,
    )
    return table.sort_by([("score", "descending"), ("users", "descending"), ("item", "ascending")])


def write_model(
    models_url: str,
    *,
    neighbours: pa.Table,
    popularity: pa.Table,
    training: Training,
    version: str | None = None,
) -> Model:
    """Write a version folder; the manifest (with checksums and counts) goes last.

    ``training`` holds what the caller knows (window, params, counts, engine, timings);
    version, created_at, format, code version and file checksums are added here.
    """
    version = version or new_version()
    url = join(models_url, version)
    fs, root = url_to_fs(url)
    if fs.exists(join(root, MANIFEST)):
        raise IntegrityError(f"model version {version} already exists at {url}")
    files: dict[str, FileEntry] = {}
    for name, table, schema in (
        (NEIGHBOURS, neighbours, NEIGHBOURS_SCHEMA),
        (POPULARITY, popularity, POPULARITY_SCHEMA),
    ):
        table = table.select(schema.names).cast(schema)
        path = join(root, name)
        atomic_write_table(fs, path, table, compression="zstd", use_dictionary=True)
        data = fs.cat_file(path)
        files[name] = FileEntry(
            sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), rows=table.num_rows
        )
    manifest = Manifest(
        **dict(training),
        format=FORMAT,
        version=version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        code_version=__version__,
        files=files,
    )
    atomic_write_bytes(fs, join(root, MANIFEST), manifest.to_json())
    return Model(url=url, manifest=manifest)


def list_versions(models_url: str) -> list[str]:
    """Complete versions (with a manifest), oldest first."""
    fs, root = url_to_fs(models_url)
    if not fs.exists(root):
        return []
    names = [entry.rstrip("/").rpartition("/")[2] for entry in fs.ls(root, detail=False)]
    return sorted(n for n in names if is_version(n) and fs.exists(join(root, n, MANIFEST)))


def load_model(models_url: str, version: str | None = None, *, verify: bool = True) -> Model:
    """Open a version (default the newest complete one) and verify its files."""
    if version is None:
        versions = list_versions(models_url)
        if not versions:
            raise MissingDataError(f"no trained model under {models_url}; run `dimrec train`")
        version = versions[-1]
    if not is_version(version):
        raise MissingDataError(
            f"{version!r} is not a model version name (like 20261126T013000123Z)"
        )
    url = join(models_url, version)
    fs, root = url_to_fs(url)
    path = join(root, MANIFEST)
    if not fs.exists(path):
        raise MissingDataError(f"model version {version} not found (or incomplete) at {url}")
    try:
        manifest = Manifest.model_validate_json(fs.cat_file(path))
    except ValidationError as exc:
        raise IntegrityError(
            f"model {version}: manifest.json is not a valid manifest "
            f"({describe_validation(exc)}); retrain it"
        ) from None
    if manifest.version != version:
        raise IntegrityError(
            f"model {version}: its manifest names version {manifest.version}; retrain it"
        )
    model = Model(url=url, manifest=manifest)
    if verify:
        model.verify()
    return model
