"""Files on fsspec URLs (local path, memory://, gs://, s3://), written atomically.

A write goes to a hidden temporary name beside the target and is then moved onto it, so a
reader sees the old file or the new one, never half of one; a crash leaves the old file.
On a local disk the data is fsynced before the rename. On object stores an upload becomes
visible whole, which gives the same guarantee.

A failing disk (full, read-only, no permission, a file where a folder should be) is a
:class:`~dimrec.errors.StorageError` naming the path; a file that is not Parquet is a
:class:`~dimrec.errors.DataError` naming it.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from dimrec.errors import DataError, StorageError


def url_to_fs(url: str) -> tuple[Any, str]:
    """Split a URL into its fsspec filesystem and the path within it."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _temporary_name(path: str) -> str:
    head, _, tail = path.rpartition("/")
    return f"{head}/.{tail}.tmp-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def storage_errors(doing: str, path: str) -> Iterator[None]:
    """Turn an OSError inside the block into a StorageError: ``doing`` ``path`` failed, why."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise StorageError(f"{doing} {path} failed: {reason}") from exc


def atomic_write_bytes(fs: Any, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` on ``fs`` so that readers never see a partial file."""
    with storage_errors("writing", path):
        _atomic_write_bytes(fs, path, data)


def _atomic_write_bytes(fs: Any, path: str, data: bytes) -> None:
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
    with storage_errors("reading", path):
        data = fs.cat_file(path)
    owned = pa.allocate_buffer(len(data))
    np.frombuffer(owned, dtype=np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
    try:
        return pq.read_table(pa.BufferReader(owned), **options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as exc:
        raise DataError(f"{path} is not a readable Parquet file ({_first_line(exc)})") from exc


def read_parquet_metadata(fs: Any, path: str) -> pq.FileMetaData:
    """The footer of one Parquet file (row count, schema, key-value metadata), read without
    the data; DataError when the file is not Parquet, StorageError when it cannot be read."""
    with storage_errors("reading", path):
        size = int(fs.size(path))
        with fs.open(path, "rb") as handle:
            tail = min(size, _FOOTER_GUESS)
            handle.seek(size - tail)
            data = handle.read(tail)
            if len(data) >= 8 and data[-4:] == b"PAR1":
                needed = int.from_bytes(data[-8:-4], "little") + 8
                if needed > len(data) and needed <= size:
                    handle.seek(size - needed)
                    data = handle.read(needed)
    try:
        return pq.read_metadata(pa.BufferReader(_footer_only(data)))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path} is not a readable Parquet file ({_first_line(exc)})") from exc


_FOOTER_GUESS = 64 * 1024


def _footer_only(tail: bytes) -> bytes:
    """A buffer that reads as a Parquet file to read_metadata: the magic, then the tail."""
    return b"PAR1" + tail if not tail.startswith(b"PAR1") else tail


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fsync_dir(path: str) -> None:
    if not path:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
