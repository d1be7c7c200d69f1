"""Files on fsspec URLs (local path, memory://, gs://, s3://), written atomically.

A write goes to a hidden temporary name beside the target and is then moved onto it, so a
reader sees the old file or the new one, never half of one; a crash leaves the old file.
On a local disk the data is fsynced before the rename. On object stores an upload becomes
visible whole, which gives the same guarantee.
"""

from __future__ import annotations

import io
import os
import uuid
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem


def url_to_fs(url: str) -> tuple[Any, str]:
    """Split a URL into its fsspec filesystem and the path within it."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _temporary_name(path: str) -> str:
    head, _, tail = path.rpartition("/")
    return f"{head}/.{tail}.tmp-{uuid.uuid4().hex[:12]}"


def atomic_write_bytes(fs: Any, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` on ``fs`` so that readers never see a partial file."""
    parent = path.rpartition("/")[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = _temporary_name(path)
    if isinstance(fs, LocalFileSystem):
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            _fsync_dir(parent)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    try:
        with fs.open(tmp, "wb") as handle:
            handle.write(data)
        fs.mv(tmp, path)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)


def atomic_write_table(fs: Any, path: str, table: pa.Table, **parquet_options: Any) -> None:
    """Write ``table`` as one Parquet file at ``path``, atomically."""
    buffer = io.BytesIO()
    options = {"compression": "zstd", **parquet_options}
    pq.write_table(table, buffer, **options)
    atomic_write_bytes(fs, path, buffer.getvalue())


def read_parquet(fs: Any, path: str, **options: Any) -> pa.Table:
    """Read one Parquet file from ``fs``.

    The bytes are read whole and copied into Arrow-owned memory first: PyArrow reading from
    a Python file object, or from a buffer wrapping Python ``bytes``, on its thread pool can
    abort the interpreter at exit (a worker thread releasing a Python object too late).
    """
    data = fs.cat_file(path)
    owned = pa.allocate_buffer(len(data))
    np.frombuffer(owned, dtype=np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
    return pq.read_table(pa.BufferReader(owned), **options)


def _fsync_dir(path: str) -> None:
    if not path:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
