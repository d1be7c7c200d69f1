"""The reports page: the evaluation and tuning reports that ``dimrec evaluate`` and
``dimrec tune`` write under ``models/evaluations/<kind>-<version>/`` (``report.html``, with
its SVG plots inline, and ``report.json``), listed and shown as written."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dimrec.fsio import join, url_to_fs
from dimrec.serve.console.common import console_of, page

log = logging.getLogger(__name__)
router = APIRouter()

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: A report is our own HTML, self-contained: it may style itself and nothing more.
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


@router.get("/reports")
def reports(request: Request) -> Response:
    return page(request, "reports.html", reports=_listed(request))


@router.get("/reports/{name}")
def report_page(request: Request, name: str) -> Response:
    if _read(request, name, "report.html") is None:
        return _missing(request, name)
    summary = _summary(name, _read(request, name, "report.json"))
    return page(request, "report.html", report=summary)


@router.get("/reports/{name}/report.html")
def report_html(request: Request, name: str) -> Response:
    html = _read(request, name, "report.html")
    if html is None:
        return _missing(request, name)
    policy = {"Content-Security-Policy": REPORT_POLICY}
    return Response(html, media_type="text/html; charset=utf-8", headers=policy)


def _root(request: Request) -> str:
    return join(console_of(request).settings.paths.models_url(), "evaluations")


def _read(request: Request, name: str, file: str) -> bytes | None:
    if not _NAME.match(name):
        return None
    fs, root = url_to_fs(_root(request))
    try:
        data: bytes = fs.cat_file(join(root, name, file))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return data


def _listed(request: Request) -> list[dict[str, Any]]:
    """The reports, newest first."""
    fs, root = url_to_fs(_root(request))
    if not fs.isdir(root):
        return []
    found = []
    for path in fs.ls(root, detail=False):
        name = path.rstrip("/").rpartition("/")[2]
        if _NAME.match(name) and fs.isfile(join(root, name, "report.html")):
            found.append(_summary(name, _read(request, name, "report.json")))
    return sorted(found, key=lambda r: r["created"], reverse=True)


def _summary(name: str, data: bytes | None) -> dict[str, Any]:
    """What the list says of a report: its kind, when, on what, and its headline."""
    kind, _, version = name.partition("-")
    try:
        document: dict[str, Any] = json.loads(data) if data else {}
    except ValueError:
        log.warning("report %s has an unreadable report.json", name)
        document = {}
    test = document.get("test", document)
    systems = test.get("systems") or []
    best = max(systems, key=lambda s: s.get("metrics", {}).get("ndcg@10", -1.0), default=None)
    return {
        "name": name,
        "kind": kind if kind in ("evaluate", "tune") else "report",
        "created": version,
        "dataset": test.get("dataset", ""),
        "shoppers": test.get("shoppers"),
        "systems": [s.get("name", "") for s in systems],
        "chosen": document.get("best", ""),
        "best": None if best is None else best.get("name", ""),
    }


def _missing(request: Request, name: str) -> Response:
    said = f"no report {name!r} under evaluations/"
    return page(request, "_message.html", 404, kind="error", message=said)
