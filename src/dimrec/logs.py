"""Logging through the standard logger, with context, always on stderr.

``setup_logging`` is called once by an entry point. Log records go to stderr only — stdout
holds what a command prints (summaries, tables), so ``dimrec publish > out.txt`` gets no log
line. A command logs at WARNING unless asked for more (``-v``, ``--log-level``, ``log_level``);
a service (``dimrec serve``, ``dimrec worker``) at INFO. On a terminal the records are Rich
lines; elsewhere plain lines for a command and one JSON object per line for a service, which
log collectors read as they are.

``log_context`` adds key=value context (date, version, engine, ...) to every record emitted
inside it, so a line in a log says what it was about without each call repeating it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

#: Default level of a command (quiet: warnings and errors only) and of a service.
COMMAND_LEVEL = "WARNING"
SERVICE_LEVEL = "INFO"
#: Libraries that say too much at INFO.
_NOISY = ("py4j", "numba", "urllib3", "httpx", "fsspec")

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("dimrec_log_context")


class _ContextFilter(logging.Filter):
    """Puts the current :func:`log_context` on each record: ``context`` as ``k=v`` text and
    ``context_values`` as a dict (for JSON lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = _context.get({})
        record.context_values = values
        record.context = " ".join(f"{k}={v}" for k, v in values.items())
        return True


class _StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted.

    A handler that kept the stream it was created with would go on writing to it after it
    is replaced and closed (pytest's capture, a redirected command run in-process), which
    ends in "--- Logging error ---"."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current ``sys.stderr``."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the
    :func:`log_context` values and, for an exception, its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in getattr(record, "context_values", {}).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str | int | None = None, *, service: bool = False) -> None:
    """Configure the root logger once, on stderr: Rich lines on a terminal; elsewhere plain
    lines, or JSON lines for a ``service``. ``level`` None means the default of the kind
    (:data:`COMMAND_LEVEL` or :data:`SERVICE_LEVEL`)."""
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        # Console(stderr=True) looks sys.stderr up at each write, as _StderrHandler does
        handler = RichHandler(
            console=Console(stderr=True), rich_tracebacks=False, show_path=False, markup=False
        )
        handler.setFormatter(logging.Formatter("%(message)s %(context)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(
            JsonFormatter()
            if service
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s %(context)s")
        )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level if level is not None else SERVICE_LEVEL if service else COMMAND_LEVEL)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def set_level(level: str | int) -> None:
    """Change the root logger's level (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``)."""
    logging.getLogger().setLevel(level.upper() if isinstance(level, str) else level)


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
    """Time a step: store its wall seconds in ``timings[step]`` and log it at DEBUG."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        timings[step] = round(seconds, 4)
        logger.debug("%s took %.3fs", step, seconds)
