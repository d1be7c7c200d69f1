"""The "try it" page: a shopper made of items picked by id, and what the API recommends them.

The shopper is the page's state, carried in its form (``browsed``, ``basket``, ``purchased``,
each repeated); every change re-renders the panel on the server. Weights are the settings'
action weights summed per item, and the answer comes from
:func:`dimrec.serve.scoring.recommend` on the served state — exactly what
``GET /make_recommendation`` answers for the same lists.
"""

from __future__ import annotations

import bisect
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from dimrec.items import ITEM_ID_RULE, is_item_id
from dimrec.serve.console.common import console_of, page, served_state
from dimrec.serve.scoring import recommend, similar

router = APIRouter()

#: The shopper's lists (the API's parameter names) and the action each one weighs as.
LISTS = {"browsed": "browse", "basket": "basket", "purchased": "purchase"}
#: Suggestions the type-ahead offers.
SUGGESTIONS = 20


@router.get("/try")
def try_page(request: Request) -> Response:
    return page(request, "try.html", **_panel(request))


@router.get("/try/panel")
def panel(request: Request) -> Response:
    return page(request, "_try_panel.html", **_panel(request))


@router.get("/items")
def suggestions(request: Request, item: str = "") -> Response:
    """Item ids of the served version that start with ``item``: ``<option>``s of a datalist."""
    state = served_state(request)
    found: list[str] = []
    if state is not None and item:
        ids = console_of(request).sorted_ids(state)
        start = bisect.bisect_left(ids, item)
        for candidate in ids[start : start + SUGGESTIONS]:
            if not candidate.startswith(item):
                break
            found.append(candidate)
    return page(request, "_suggestions.html", items=found)


@router.get("/try/similar")
def similar_items(request: Request, item: str = "") -> Response:
    """The item's neighbours, as ``GET /items/{item}/similar`` answers them."""
    state = served_state(request)
    n = _n(request.query_params, request)
    found = None if state is None or not is_item_id(item) else similar(state, item, n)
    return page(
        request,
        "_similar.html",
        item=item,
        results=_scored(found or []),
        known=found is not None,
        version=None if state is None else state.version,
    )


def _panel(request: Request) -> dict[str, Any]:
    query = request.query_params
    settings = console_of(request).settings
    shopper: dict[str, list[str]] = {name: [] for name in LISTS}
    problems: list[str] = []
    for name in LISTS:
        for item in query.getlist(name):
            if is_item_id(item) and item not in shopper[name]:
                shopper[name].append(item)
    added, into = query.get("item", "").strip(), query.get("action", "browsed")
    if added:
        if not is_item_id(added):
            problems.append(f"{added!r} is not an item id: {ITEM_ID_RULE}")
        elif into in LISTS and added not in shopper[into]:
            shopper[into].append(added)
    list_name, _, removed = query.get("remove", "").partition(":")
    if removed in shopper.get(list_name, []):
        shopper[list_name].remove(removed)
    n = _n(query, request)
    state = served_state(request)
    result: dict[str, Any] = {
        "shopper": shopper,
        "lists": LISTS,
        "n": n,
        "action": into if into in LISTS else "browsed",
        "problems": problems,
        "state": state,
        "results": [],
        "fallback": False,
        "unknown": [],
    }
    if state is None:
        return result
    weights = _weights(shopper, settings.weights.as_dict())
    found = recommend(state, weights, n)
    result["results"] = _scored(found.results)
    result["fallback"] = found.fallback
    numbers = state.index.tables.lookup(list(weights))
    result["unknown"] = [item for item, p in zip(weights, numbers, strict=True) if p < 0]
    return result


def _weights(shopper: dict[str, list[str]], action_weights: dict[str, float]) -> dict[str, float]:
    """Each listed item weighs its action's weight, summed over the lists it is in (the
    rule of ``/make_recommendation``)."""
    weights: dict[str, float] = {}
    for name, action in LISTS.items():
        for item in shopper[name]:
            weights[item] = weights.get(item, 0.0) + action_weights[action]
    return weights


def _n(query: QueryParams, request: Request) -> int:
    serve = console_of(request).settings.serve
    try:
        n = int(query.get("n", serve.default_n))
    except ValueError:
        n = serve.default_n
    return max(1, min(n, serve.max_n))


def _scored(results: list[Any]) -> list[dict[str, str]]:
    """Item and score; ``exact`` is the score as the API's JSON writes it (float32's
    shortest form)."""
    return [{"item": item, "exact": str(score), "score": f"{score:.4f}"} for item, score in results]
