"""Writing the generated text: deterministic gzip files, atomic, compressed off the main thread.

Each file is written to a hidden temporary name beside its target and moved onto it when
complete, so a reader never sees half a file. gzip headers carry no name and mtime 0, so the
same content gives the same bytes. Compression runs on one worker thread while the main thread
renders the next block (zlib and PyArrow both release the GIL); at most a few blocks wait.
"""

from __future__ import annotations

import contextlib
import gzip
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from dimrec.synth.render import text_block

COMPRESS_LEVEL = 1
"""zlib level: 1 is several times faster than the default and only ~20% larger here."""
MAX_PENDING = 3

_GARBAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class Compressor:
    """The worker thread that compresses and writes blocks, in submission order."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dimrec-synth-gzip")
        self._pending: deque[Future[None]] = deque()

    def submit(self, fn: Any, *args: Any) -> None:
        while len(self._pending) >= MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


class GzipSink:
    """One gzip file on an fsspec filesystem, written through a temporary name."""

    def __init__(self, fs: Any, path: str, compressor: Compressor) -> None:
        self.fs, self.path = fs, path
        parent, _, name = path.rpartition("/")
        if parent:
            fs.makedirs(parent, exist_ok=True)
        self._tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:12]}"
        self._handle = fs.open(self._tmp, "wb")
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._handle, compresslevel=COMPRESS_LEVEL, mtime=0
        )
        self._compressor = compressor
        self.lines = 0
        self.seconds = 0.0
        """Worker CPU time spent compressing and writing this file."""

    def write(self, block: bytes | pa.Buffer, lines: int) -> None:
        self.lines += lines
        self._compressor.submit(self._write, block)

    def _write(self, block: bytes | pa.Buffer) -> None:
        start = time.thread_time()
        self._gzip.write(block)
        self.seconds += time.thread_time() - start

    def commit(self) -> int:
        """Finish the file, move it onto its name and return its size in bytes."""
        self._compressor.drain()
        self._gzip.close()
        self._handle.close()
        self.fs.mv(self._tmp, self.path)
        return int(self.fs.size(self.path))

    def abort(self) -> None:
        """Drop the temporary file (after a failure); the target is left as it was."""
        for step in (self._compressor.drain, self._gzip.close, self._handle.close):
            with contextlib.suppress(Exception):
                step()
        if self.fs.exists(self._tmp):
            self.fs.rm(self._tmp)


def write_lines(
    sink: GzipSink,
    chunks: Iterable[pa.Array],
    n_lines: int,
    corrupt: int,
    rng: np.random.Generator,
) -> None:
    """Write chunks of rendered lines (each ending in a newline) and ``corrupt`` malformed
    lines spliced in at random places: truncated copies of a real line, an HTML error page,
    or a line with a broken quote. ``rng`` draws only the corruption."""
    before = np.sort(rng.integers(0, n_lines + 1, corrupt))
    kinds = rng.integers(0, 3, corrupt)
    cuts = rng.random(corrupt)
    done = 0
    k = 0
    for lines in chunks:
        stop = done + len(lines)
        if k >= corrupt or before[k] >= stop:
            sink.write(text_block(lines), len(lines))
            done = stop
            continue
        texts: list[str] = lines.to_pylist()
        out: list[str] = []
        for i, text in enumerate(texts):
            while k < corrupt and before[k] == done + i:
                out.append(_malformed(text, int(kinds[k]), float(cuts[k])))
                k += 1
            out.append(text)
        sink.write("".join(out).encode(), len(out))
        done = stop
    tail = [_malformed("", int(kinds[j]), float(cuts[j])) for j in range(k, corrupt)]
    if tail:
        sink.write("".join(tail).encode(), len(tail))


def _malformed(line: str, kind: int, cut: float) -> str:
    body = line.rstrip("\n")
    if len(body) < 20 or kind == 1:
        return _GARBAGE + "\n"
    if kind == 0:
        return body[: 1 + int(cut * (len(body) - 10))] + "\n"
    return body.replace('":"', '":""', 1) + "\n"
