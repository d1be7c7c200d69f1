"""Logging through the standard logger, with context.

``setup_logging`` is called once by an entry point. ``log_context`` adds key=value context
(date, version, engine, ...) to every record emitted inside it, so a line in a log says what
it was about without each call repeating it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from typing import Any

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("dimrec_log_context")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get({})
        record.context = " ".join(f"{k}={v}" for k, v in ctx.items()) if ctx else ""
        return True


def setup_logging(level: str | int = "INFO", *, rich: bool = True) -> None:
    """Configure the root logger once: Rich in a terminal, plain lines elsewhere."""
    handler: logging.Handler
    if rich:
        from rich.logging import RichHandler

        handler = RichHandler(rich_tracebacks=False, show_path=False, markup=False)
        fmt = "%(message)s %(context)s"
    else:
        handler = logging.StreamHandler()
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s %(context)s"
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("py4j", "numba", "urllib3", "httpx", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Add ``values`` to the context of every log record emitted inside the block."""
    token = _context.set({**_context.get({}), **values})
    try:
        yield
    finally:
        _context.reset(token)


@contextlib.contextmanager
def timed(timings: dict[str, float], step: str, logger: logging.Logger) -> Iterator[None]:
    """Time a step: store its wall seconds in ``timings[step]`` and log it."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        timings[step] = round(seconds, 4)
        logger.info("%s took %.3fs", step, seconds)
