"""How shoppers behave: one day of sessions simulated into the arrays of :mod:`dimrec.synth.day`.

A session belongs to a shopper (drawn by activity). Three in ten sessions never touch a
product (a bounce or a few content pages). The others view products — mostly from the
shopper's preferred category, else anything by popularity — often reaching them from a list
page full of impressions and a list click; a detail page may carry related-product
impressions. Some views end in the basket (more for items that sell well), a few baskets lose
a line, some baskets go through checkout, most completed checkouts are purchased (now and then
with an item not basketed in this session, and now and then with the receipt page sent twice).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from dimrec.synth.catalog import TRAFFIC, Catalog, Population, draw
from dimrec.synth.day import (
    ADD,
    CHECKOUT,
    CHECKOUT_PAGES,
    CONTENT_PAGES,
    DETAIL,
    LIST_CATEGORY,
    LIST_CLICK,
    LIST_RELATED,
    LIST_SEARCH,
    NONE,
    PAGE_BASKET,
    PAGE_RECEIPT,
    PAGE_SEARCH,
    PURCHASE,
    RELEVANT_ACTIONS,
    REMOVE,
    SKU_EMPTY,
    SKU_NULL,
    Day,
    Hits,
    Products,
    Sessions,
    VisitState,
    list_page,
    offsets,
    product_page,
    ranges,
    ranks,
)
from dimrec.synth.render import BoolArray, IntArray

P_NO_ECOMMERCE = 0.3
VIEWS_P = 0.35
"""Views per product session ~ geometric(VIEWS_P), at most MAX_VIEWS."""
MAX_VIEWS = 25
P_PREFERRED = 0.65
P_LIST = 0.5
P_SEARCH = 0.2
RELATED_P = (0.55, 0.25, 0.15, 0.05)
P_CART = 0.12
QUANTITY_P = (0.8, 0.15, 0.05)
P_DETAIL_VARIANT = 0.5
P_REMOVE = 0.1
P_CHECKOUT = 0.45
STEPS_P = (0.15, 0.15, 0.7)
P_PURCHASE = 0.8
P_EXTRA_LINE = 0.05
P_DUPLICATE_RECEIPT = 0.1
NULL_USER_SHARE = 0.003
NULL_SKU_SHARE = 0.001
MIN_FAULTY = 50
"""From this many candidates on, every day has at least one null user and one broken SKU."""
HOUR_WEIGHTS = np.array(
    [2, 1.5, 1, 1, 1, 1.5, 2, 3, 4, 5, 6, 6, 6, 5.5, 5, 5, 5, 5.5, 6, 7, 7.5, 7, 5, 3.5]
)


class _Groups:
    """Collects groups of hits (and their products) before they are put in session order."""

    def __init__(self) -> None:
        self.hits: dict[str, list[IntArray]] = {k: [] for k in _HIT_FIELDS}
        self.products: dict[str, list[IntArray]] = {k: [] for k in _PRODUCT_FIELDS}
        self.count = 0

    def add_hits(self, session: IntArray, **fields: IntArray | int) -> IntArray:
        n = len(session)
        self.hits["session"].append(session)
        for key in _HIT_FIELDS[1:]:
            self.hits[key].append(np.broadcast_to(np.asarray(fields[key], np.int64), n))
        ids = np.arange(self.count, self.count + n)
        self.count += n
        return ids

    def add_products(self, hit: IntArray, **fields: IntArray | int) -> None:
        n = len(hit)
        self.products["hit"].append(hit)
        for key in _PRODUCT_FIELDS[1:]:
            value = fields.get(key, 0)
            self.products[key].append(np.broadcast_to(np.asarray(value, np.int64), n))

    def arrays(self) -> tuple[dict[str, IntArray], dict[str, IntArray]]:
        hits = {k: np.concatenate(v).astype(np.int64) for k, v in self.hits.items()}
        products = {k: np.concatenate(v).astype(np.int64) for k, v in self.products.items()}
        return hits, products


_HIT_FIELDS = ("session", "phase", "order", "action", "step", "is_page", "page")
_PRODUCT_FIELDS = (
    "hit", "item", "sku", "impression", "click", "quantity", "list_name", "position", "revenue"
)  # fmt: skip


def simulate_day(
    catalog: Catalog,
    population: Population,
    visits: VisitState,
    day: dt.date,
    n_sessions: int,
    rng: np.random.Generator,
) -> Day:
    """Simulate ``n_sessions`` sessions of ``day`` and advance ``visits``."""
    n = n_sessions
    user = population.sample(rng, n)
    traffic = draw(rng, np.array([t[-1] for t in TRAFFIC]), n)
    engaged = rng.random(n) >= P_NO_ECOMMERCE
    n_views = np.where(engaged, np.minimum(rng.geometric(VIEWS_P, n), MAX_VIEWS), 0)
    groups = _Groups()

    # Landing page, and a few content pages in sessions that never see a product.
    groups.add_hits(np.arange(n), phase=0, order=0, action=NONE, step=0, is_page=1, page=0)
    n_content = np.where(engaged, 0, rng.integers(0, 4, n))
    content_session = np.repeat(np.arange(n), n_content)
    groups.add_hits(
        content_session,
        phase=0,
        order=ranks(n_content) + 1,
        action=NONE,
        step=0,
        is_page=1,
        page=rng.choice(CONTENT_PAGES, len(content_session)),
    )

    # Product views: list page with impressions + list click (sometimes), then the detail page.
    v_session = np.repeat(np.arange(n), n_views)
    n_v = len(v_session)
    preferred = rng.random(n_v) < P_PREFERRED
    v_item = np.where(
        preferred,
        catalog.sample_in(rng, population.preferred_category[user[v_session]]),
        catalog.sample(rng, n_v),
    )
    v_category = catalog.item_category[v_item]
    v_order = np.arange(n_v) * 4
    v_pick = catalog.sample_variant(rng, v_item)
    v_detail_sku = np.where(rng.random(n_v) < P_DETAIL_VARIANT, v_pick, v_item)
    v_cart = rng.random(n_v) < np.minimum(P_CART * catalog.item_conversion[v_item], 0.9)
    v_quantity = 1 + draw(rng, np.array(QUANTITY_P), n_v)

    listed = np.flatnonzero(rng.random(n_v) < P_LIST)
    searched = rng.random(len(listed)) < P_SEARCH
    list_kind = np.where(searched, LIST_SEARCH, LIST_CATEGORY)
    page = np.where(searched, PAGE_SEARCH, list_page(v_category[listed]))
    list_hit = groups.add_hits(
        v_session[listed], phase=1, order=v_order[listed], action=NONE, step=0, is_page=1, page=page
    )
    n_shown = rng.integers(2, 6, len(listed))
    shown_at = 1 + np.floor(rng.random(len(listed)) * n_shown).astype(np.int64)
    slot = ranks(n_shown) + 1
    owner = np.repeat(np.arange(len(listed)), n_shown)
    is_viewed = slot == shown_at[owner]
    others = catalog.sample_in(rng, v_category[listed][owner])
    shown = np.where(is_viewed, v_item[listed][owner], others)
    groups.add_products(
        list_hit[owner], item=shown, sku=shown, impression=1, list_name=list_kind[owner],
        position=slot,
    )  # fmt: skip
    click_hit = groups.add_hits(
        v_session[listed], phase=1, order=v_order[listed] + 1, action=LIST_CLICK, step=0,
        is_page=0, page=page,
    )  # fmt: skip
    groups.add_products(
        click_hit, item=v_item[listed], sku=v_item[listed], click=1, list_name=list_kind,
        position=shown_at,
    )  # fmt: skip

    detail_page = product_page(catalog, v_item)
    detail_hit = groups.add_hits(
        v_session, phase=1, order=v_order + 2, action=DETAIL, step=1, is_page=1, page=detail_page
    )
    groups.add_products(detail_hit, item=v_item, sku=v_detail_sku)
    n_related = draw(rng, np.array(RELATED_P), n_v)
    related_owner = np.repeat(np.arange(n_v), n_related)
    related = catalog.sample_in(rng, v_category[related_owner])
    groups.add_products(
        detail_hit[related_owner], item=related, sku=related, impression=1,
        list_name=LIST_RELATED, position=ranks(n_related) + 1,
    )  # fmt: skip

    carted = np.flatnonzero(v_cart)
    cart_hit = groups.add_hits(
        v_session[carted], phase=1, order=v_order[carted] + 3, action=ADD, step=1, is_page=0,
        page=detail_page[carted],
    )  # fmt: skip
    groups.add_products(
        cart_hit, item=v_item[carted], sku=v_pick[carted], quantity=v_quantity[carted]
    )

    # Basket lines: some removed, the rest (plus now and then an extra item) checked out.
    removed = rng.random(len(carted)) < P_REMOVE
    gone = carted[removed]
    remove_hit = groups.add_hits(
        v_session[gone], phase=2, order=gone, action=REMOVE, step=1, is_page=0, page=PAGE_BASKET
    )
    groups.add_products(remove_hit, item=v_item[gone], sku=v_pick[gone], quantity=v_quantity[gone])
    kept = carted[~removed]
    kept_lines = np.bincount(v_session[kept], minlength=n)
    checkout = (kept_lines > 0) & (rng.random(n) < P_CHECKOUT)
    steps = np.where(checkout, 1 + draw(rng, np.array(STEPS_P), n), 0)
    purchased = (steps == 3) & (rng.random(n) < P_PURCHASE)
    extra_session = np.flatnonzero(checkout & (rng.random(n) < P_EXTRA_LINE))
    extra_item = catalog.sample_in(rng, population.preferred_category[user[extra_session]])
    line_session = np.concatenate([v_session[kept], extra_session])
    line_order = np.argsort(line_session, kind="stable")
    line_session = line_session[line_order]
    line_item = np.concatenate([v_item[kept], extra_item])[line_order]
    line_sku = np.concatenate([v_pick[kept], catalog.sample_variant(rng, extra_item)])[line_order]
    line_quantity = np.concatenate([v_quantity[kept], np.ones(len(extra_session), np.int64)])
    line_quantity = line_quantity[line_order]
    line_offsets = offsets(np.bincount(line_session, minlength=n))

    checkout_session = np.repeat(np.arange(n), steps)
    checkout_step = ranks(steps) + 1
    checkout_hit = groups.add_hits(
        checkout_session, phase=3, order=checkout_step, action=CHECKOUT, step=checkout_step,
        is_page=1, page=CHECKOUT_PAGES[checkout_step - 1],
    )  # fmt: skip
    _add_lines(
        groups, checkout_hit, checkout_session, line_offsets, line_item, line_sku, line_quantity
    )
    receipts = np.where(purchased, 1 + (rng.random(n) < P_DUPLICATE_RECEIPT), 0)
    receipt_session = np.repeat(np.arange(n), receipts)
    receipt_hit = groups.add_hits(
        receipt_session, phase=4, order=ranks(receipts), action=PURCHASE, step=1, is_page=1,
        page=PAGE_RECEIPT,
    )  # fmt: skip
    price = catalog.item_price[catalog.sku_item[line_sku]]
    _add_lines(
        groups, receipt_hit, receipt_session, line_offsets, line_item, line_sku, line_quantity,
        revenue=price * line_quantity,
    )  # fmt: skip
    subtotal = np.bincount(line_session, price * line_quantity, minlength=n).astype(np.int64)
    revenue = np.where(purchased, subtotal + subtotal // 10 + 5_990_000, 0)

    hits, products = groups.arrays()
    null_user = _pick_null_users(rng, n, n_views)
    return _assemble(day, rng, visits, user, null_user, traffic, purchased, revenue, hits, products)


def _add_lines(
    groups: _Groups,
    hit: IntArray,
    session: IntArray,
    line_offsets: IntArray,
    line_item: IntArray,
    line_sku: IntArray,
    quantity: IntArray,
    revenue: IntArray | None = None,
) -> None:
    """Each hit lists every basket line of its session."""
    count = line_offsets[session + 1] - line_offsets[session]
    line = ranges(line_offsets[session], count)
    groups.add_products(
        np.repeat(hit, count),
        item=line_item[line],
        sku=line_sku[line],
        quantity=quantity[line],
        position=ranks(count) + 1,
        revenue=0 if revenue is None else revenue[line],
    )


def _assemble(
    day: dt.date,
    rng: np.random.Generator,
    visits: VisitState,
    user: IntArray,
    null_user: BoolArray,
    traffic: IntArray,
    purchased: BoolArray,
    revenue: IntArray,
    hits: dict[str, IntArray],
    products: dict[str, IntArray],
) -> Day:
    """Put hits in session order, time them, order sessions by start, number the visits."""
    n = len(user)
    order = np.lexsort((hits["order"], hits["phase"], hits["session"]))
    h = {k: v[order] for k, v in hits.items()}
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    counts = np.bincount(h["session"], minlength=n)
    first = offsets(counts)[:-1]
    is_page = h["is_page"].astype(bool)
    gap = np.where(
        is_page,
        np.minimum(rng.lognormal(np.log(25_000), 0.9, len(order)), 300_000),
        np.minimum(rng.lognormal(np.log(3_000), 0.6, len(order)), 60_000),
    ).astype(np.int64)
    gap[first] = 0
    elapsed = np.cumsum(gap)
    time = elapsed - np.repeat(elapsed[first], counts)
    duration = (time[first + counts - 1] + 999) // 1000
    midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    hour = draw(rng, HOUR_WEIGHTS, n)
    second = np.minimum(hour * 3600 + rng.integers(0, 3600, n), 86_399 - duration)
    start = midnight + np.maximum(second, 0)

    by_start = np.lexsort((np.arange(n), start))
    rank = np.empty(n, np.int64)
    rank[by_start] = np.arange(n)
    h_session = rank[h["session"]]
    session_order = np.argsort(h_session, kind="stable")
    h = {k: v[session_order] for k, v in h.items()}
    h["session"] = h_session[session_order]
    time = time[session_order]
    hit_position = np.empty_like(session_order)
    hit_position[session_order] = np.arange(len(session_order))
    new_hit = hit_position[position[products["hit"]]]
    p_order = np.lexsort((products["position"], new_hit))
    p = {k: v[p_order] for k, v in products.items()}
    p["hit"] = new_hit[p_order]

    user, null_user, traffic = user[by_start], null_user[by_start], traffic[by_start]
    start, duration = start[by_start], duration[by_start]
    purchased, revenue = purchased[by_start], revenue[by_start]
    counts = np.bincount(h["session"], minlength=n)
    hit_offsets = offsets(counts)
    pageviews = np.bincount(h["session"], h["is_page"], minlength=n).astype(np.int64)
    visit_number = _visit_numbers(visits, user, start)

    action = h["action"][p["hit"]]
    relevant = np.isin(action, RELEVANT_ACTIONS) & (p["impression"] == 0)
    relevant &= ~null_user[h["session"][p["hit"]]]
    sku_state = np.zeros(len(p["hit"]), np.int64)
    candidates = np.flatnonzero(relevant)
    k = _faults(NULL_SKU_SHARE, len(candidates))
    if k:
        chosen = np.sort(rng.choice(candidates, k, replace=False))
        sku_state[chosen] = np.where(np.arange(k) % 2 == 0, SKU_NULL, SKU_EMPTY)
    return Day(
        date=day,
        sessions=Sessions(
            user=user,
            null_user=null_user,
            start=start,
            visit_number=visit_number,
            first_seen=visits.first_seen[user].copy(),
            traffic=traffic,
            hit_offsets=hit_offsets,
            pageviews=pageviews,
            duration=duration,
            purchased=purchased,
            revenue=revenue,
        ),
        hits=Hits(
            session=h["session"],
            number=ranks(counts) + 1,
            time=time,
            action=h["action"],
            step=h["step"],
            is_page=h["is_page"].astype(bool),
            page=h["page"],
            product_offsets=offsets(np.bincount(p["hit"], minlength=len(h["session"]))),
        ),
        products=Products(
            hit=p["hit"],
            item=p["item"],
            sku=p["sku"],
            sku_state=sku_state,
            impression=p["impression"].astype(bool),
            click=p["click"].astype(bool),
            quantity=p["quantity"],
            list_name=p["list_name"],
            position=p["position"],
            revenue=p["revenue"],
        ),
    )


def _visit_numbers(visits: VisitState, user: IntArray, start: IntArray) -> IntArray:
    """visitNumber of each session (sessions in start order) and advance ``visits``."""
    n = len(user)
    by_user = np.lexsort((np.arange(n), user))
    sorted_user = user[by_user]
    new_group = np.ones(n, bool)
    new_group[1:] = sorted_user[1:] != sorted_user[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    rank = np.empty(n, np.int64)
    rank[by_user] = np.arange(n) - group_start
    number: IntArray = visits.visits[user] + rank + 1
    np.add.at(visits.visits, user, 1)
    unseen = visits.first_seen[user] < 0
    first_start = np.full(len(visits.first_seen), np.iinfo(np.int64).max)
    np.minimum.at(first_start, user[unseen], start[unseen])
    fresh = first_start < np.iinfo(np.int64).max
    visits.first_seen[fresh] = first_start[fresh]
    return number


def _pick_null_users(rng: np.random.Generator, n: int, n_views: IntArray) -> BoolArray:
    """A few sessions with product views lose their visitor id (a tracking fault)."""
    null_user = np.zeros(n, bool)
    with_views = np.flatnonzero(n_views > 0)
    k = _faults(NULL_USER_SHARE, len(with_views))
    if k:
        null_user[rng.choice(with_views, k, replace=False)] = True
    return null_user


def _faults(share: float, candidates: int) -> int:
    """How many of ``candidates`` get a tracking fault."""
    k = round(share * candidates)
    return max(k, 1) if candidates >= MIN_FAULTY else k
