"""The versions page: the store's versions and their manifests; rollback and hidden items
behind the jobs token (through :mod:`dimrec.publish.admin`, as ``dimrec rollback`` and
``dimrec hide`` do)."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import Response

from dimrec.errors import DimrecError
from dimrec.publish import admin
from dimrec.publish.base import VersionInfo
from dimrec.serve.console.common import console_of, page, served_state, token_problem
from dimrec.serve.problems import status_for

log = logging.getLogger(__name__)
router = APIRouter()

#: Manifest fields shown in their own columns; any other field (say, the tuning run that
#: chose the parameters) is listed as it is.
SHOWN = ("window", "params", "counts", "timings", "engine", "version", "created_at")
HIDDEN_FIELDS = ("files", "format", "code_version")


@router.get("/versions")
def versions(request: Request) -> Response:
    return _versions(request, "versions.html")


@router.post("/versions/current")
def make_current(request: Request, version: Annotated[str, Form()] = "") -> Response:
    """Make ``version`` current (default: the one before the current one)."""
    if (denied := token_problem(request)) is not None:  # the table stays, the message above
        return _versions(request, "_versions.html", message=denied[1], status=denied[0])
    try:
        with console_of(request).store() as store:
            current = admin.rollback(store, version.strip() or None)
    except DimrecError as exc:
        return _versions(request, "_versions.html", message=str(exc), status=status_for(exc))
    log.info("console: version %s made current", current)
    refresh = console_of(request).settings.serve.refresh_seconds
    said = f"version {current} is current; the API serves it within {refresh:g} s"
    return _versions(request, "_versions.html", message=said, kind="ok")


@router.post("/hidden")
def change_hidden(
    request: Request,
    items: Annotated[str, Form()],
    action: Annotated[Literal["hide", "unhide"], Form()],
) -> Response:
    """Hide or unhide items (whitespace- or comma-separated ids) in every version."""
    if (denied := token_problem(request)) is not None:
        return _versions(request, "_hidden.html", message=denied[1], status=denied[0])
    chosen = [item for item in re.split(r"[\s,]+", items) if item]
    try:
        with console_of(request).store() as store:
            change = (admin.hide if action == "hide" else admin.unhide)(store, chosen)
    except DimrecError as exc:
        return _versions(request, "_hidden.html", message=str(exc), status=status_for(exc))
    done = "newly hidden" if action == "hide" else "unhidden"
    log.info("console: %d item(s) %s", change.changed, done)
    said = f"{change.changed} item(s) {done}; {change.hidden} hidden in all"
    return _versions(request, "_hidden.html", message=said, kind="ok")


def _versions(
    request: Request, template: str, *, message: str = "", kind: str = "error", status: int = 200
) -> Response:
    with console_of(request).store() as store:
        infos = list(reversed(store.versions()))  # newest first
        hidden = sorted(store.hidden())
    state = served_state(request)
    return page(
        request,
        template,
        status,
        versions=[_shown(info) for info in infos],
        hidden=hidden,
        served=None if state is None else state.version,
        message=message,
        kind=kind,
    )


def _shown(info: VersionInfo) -> dict[str, Any]:
    """A version as the page shows it: its state and the manifest's parts."""
    manifest = info.manifest
    window = manifest.get("window") or {}
    days = window.get("days") or []
    return {
        "version": info.version,
        "item_count": info.items,
        "published_at": info.published_at,
        "current": info.current,
        "staged": info.staged,
        "algorithm": (manifest.get("params") or {}).get("algorithm", ""),
        "engine": manifest.get("engine", ""),
        "window": f"{days[0]} … {days[-1]} ({len(days)} days)" if days else "",
        "missing_days": window.get("missing_days") or [],
        "params": manifest.get("params") or {},
        "counts": manifest.get("counts") or {},
        "timings": manifest.get("timings") or {},
        "created_at": manifest.get("created_at", ""),
        "other": {
            key: value
            for key, value in sorted(manifest.items())
            if key not in SHOWN and key not in HIDDEN_FIELDS
        },
    }
