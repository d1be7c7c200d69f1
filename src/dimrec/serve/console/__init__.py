"""The web console at ``/ui``: what an operator looks at and does, beside the API.

- **Status** (``/ui``): the last export, prepare, train and publish of each day with the
  reason of a failure (:mod:`dimrec.runs`), the version being served, and — with the jobs
  token — the jobs queue: run a job and watch it go queued → running → succeeded.
- **Versions** (``/ui/versions``): the store's versions with their manifests (window,
  algorithm and parameters, counts, timings, and any further field such as the tuning run
  that chose them), the current one marked; with the token, make another current (rollback)
  and hide or unhide items.
- **Try it** (``/ui/try``): pick items by id (type-ahead over the served version's items) as
  browsed, basket or purchased and see the recommendations with their scores, computed by the
  same scoring code as ``/make_recommendation``; and an item's similar items.
- **Reports** (``/ui/reports``): the evaluation and tuning reports under
  ``models/evaluations/``, with their plots.

Server-rendered Jinja2 pages; htmx (vendored from the npm registry at build time by
``scripts/vendor-web.sh``, served from ``/ui/static``) swaps the parts that change. Nothing
is fetched from anywhere else. The console is off the hot path: plain FastAPI routes behind
the fast lane, reading the served state, the store and the run records. It reaches the
pipeline's store operations through :mod:`dimrec.publish.admin` and jobs through the queue,
never the stages. ``serve.console = false`` turns it off (``/ui`` is then a 404).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.serve.console import reports, status, tryit, versions
from dimrec.serve.console.common import PREFIX, VENDORED, ConsoleContext

log = logging.getLogger(__name__)


def install(app: FastAPI, settings: Settings, store: Store | None = None) -> None:
    """Serve the console under ``/ui`` on ``app`` (``store``: the app's store when it was
    given one; else the console opens ``settings.store.url`` for each action)."""
    if not VENDORED.is_file():
        log.warning(
            "the web console's htmx is missing (%s): its pages load but do not update; "
            "run `make setup` (scripts/vendor-web.sh)",
            VENDORED,
        )
    app.state.console = ConsoleContext(settings, store)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(packages=[("dimrec.serve.console", "static")]),
        name="console-static",
    )
    for pages in (status, versions, tryit, reports):
        app.include_router(pages.router, prefix=PREFIX, include_in_schema=False)
