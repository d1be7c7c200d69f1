"""What the console's pages share: its context on the app, the templates, the jobs-token
guard of its actions and the store it acts on."""

from __future__ import annotations

import contextlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.publish.stores import open_store
from dimrec.schedule.queue import JobQueue
from dimrec.serve.deps import context_of
from dimrec.serve.scoring import ServingState

PREFIX = "/ui"
#: The vendored htmx (scripts/vendor-web.sh); the pages load it from /ui/static/vendor/.
VENDORED = Path(__file__).with_name("static") / "vendor" / "htmx.min.js"

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.PackageLoader("dimrec.serve.console", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


class ConsoleContext:
    """The console's part of one app (``app.state.console``)."""

    def __init__(self, settings: Settings, store: Store | None) -> None:
        self.settings = settings
        self._store = store
        self._queue: JobQueue | None = None
        self._lock = threading.Lock()
        self._sorted: tuple[str, list[str]] = ("", [])

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """The app's store, or one opened on ``store.url`` for the block."""
        if self._store is not None:
            yield self._store
            return
        opened = open_store(self.settings.store.url)
        try:
            yield opened
        finally:
            opened.close()

    def queue(self) -> JobQueue:
        with self._lock:
            if self._queue is None:
                self._queue = JobQueue(self.settings)
            return self._queue

    def sorted_ids(self, state: ServingState) -> list[str]:
        """The served version's item ids in sorted order (for the type-ahead), sorted once
        per version."""
        version, ids = self._sorted
        if version != state.version:
            ids = state.index.tables.ids_of(range(state.index.size))  # numbered in id order
            self._sorted = (state.version, ids)
        return ids


def console_of(request: Request) -> ConsoleContext:
    console: ConsoleContext = request.app.state.console
    return console


def served_state(request: Request) -> ServingState | None:
    """The state the API answers from now; None before a version is loaded."""
    return context_of(request).follower.state


def page(request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
    """Render template ``name`` with ``values`` (and what every page shows)."""
    console = console_of(request)
    values.setdefault("token_enabled", console.settings.queue.token is not None)
    return templates.TemplateResponse(request, name, values, status_code=status_code)


def refusal(request: Request) -> Response | None:
    """None when the request carries the jobs token (``Authorization: Bearer``); else the
    message fragment to answer with (see :func:`token_problem`)."""
    problem = token_problem(request)
    if problem is None:
        return None
    status, said = problem
    return page(request, "_message.html", status, kind="error", message=said)


def token_problem(request: Request) -> tuple[int, str] | None:
    """None when the request carries the jobs token (``Authorization: Bearer``); else the
    status and message of the refusal (403 when no token is set, 401 when it is missing or
    wrong)."""
    expected = console_of(request).settings.queue.token
    if expected is None:
        return 403, "actions need the jobs token: set queue.token in the settings"
    header = request.headers.get("authorization")
    if header is None:
        return 401, "enter the jobs token (queue.token) at the top of the page"
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return 401, "the jobs token is wrong: enter queue.token at the top of the page"
