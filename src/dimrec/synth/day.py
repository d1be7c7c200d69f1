"""One simulated day as flat arrays: sessions, their hits, the hits' products.

Hits are named by their GA360 ``action_type`` code throughout (0 none, 1 list click, 2 detail
view, 3 add to cart, 4 remove from cart, 5 checkout, 6 purchase); the GA4 and flat shapes are
derived from these same arrays, so the three formats hold the same interactions. Pages are ids
into :func:`page_table`: fixed pages, then one list page per category, then one product page
per item.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from dimrec.synth.catalog import Catalog
from dimrec.synth.render import BoolArray, IntArray

NONE, LIST_CLICK, DETAIL, ADD, REMOVE, CHECKOUT, PURCHASE = range(7)
RELEVANT_ACTIONS = (DETAIL, ADD, PURCHASE)

FIXED_PAGES = (
    ("/home", "Home"),
    ("/google+redesign/shop+by+brand/youtube", "YouTube | Shop by Brand"),
    ("/store-policies/frequently-asked-questions", "Frequently Asked Questions"),
    ("/signin.html", "The Google Merchandise Store - Log In"),
    ("/basket.html", "Shopping Cart"),
    ("/yourinfo.html", "Checkout Your Information"),
    ("/payment.html", "Payment Method"),
    ("/revieworder.html", "Checkout Review"),
    ("/ordercompleted.html", "Checkout Confirmation"),
    ("/asearch.html", "Store search results"),
)
PAGE_HOME, PAGE_BASKET, PAGE_RECEIPT, PAGE_SEARCH = 0, 4, 8, 9
CONTENT_PAGES = np.array([1, 2, 3])
CHECKOUT_PAGES = np.array([5, 6, 7])  # steps 1, 2, 3

LIST_NAMES = ("(not set)", "Category", "Search Results", "Related Products")
LIST_NONE, LIST_CATEGORY, LIST_SEARCH, LIST_RELATED = range(4)
SKU_OK, SKU_NULL, SKU_EMPTY = range(3)


def list_page(category: IntArray) -> IntArray:
    page: IntArray = len(FIXED_PAGES) + category
    return page


def product_page(catalog: Catalog, item: IntArray) -> IntArray:
    page: IntArray = len(FIXED_PAGES) + len(catalog.categories) + item
    return page


def page_table(catalog: Catalog) -> list[tuple[str, str]]:
    """(path, title) of every page id: fixed pages, category lists, product pages."""
    pages = list(FIXED_PAGES)
    for spec in catalog.categories:
        pages.append((f"/google+redesign/{spec.path}", f"{spec.name} | Google Merchandise Store"))
    for item, name in enumerate(catalog.item_names):
        spec = catalog.categories[catalog.item_category[item]]
        slug = "+".join(name.lower().replace('"', "").split())
        pages.append((f"/google+redesign/{spec.path}/{slug}", name))
    return pages


@dataclass
class VisitState:
    """What carries over from day to day: visits so far and first visit per shopper."""

    visits: IntArray
    first_seen: IntArray
    """Unix seconds of the first session, -1 before it."""

    @classmethod
    def empty(cls, n_users: int) -> VisitState:
        return cls(np.zeros(n_users, np.int64), np.full(n_users, -1, np.int64))


@dataclass(frozen=True)
class Sessions:
    user: IntArray
    null_user: BoolArray
    start: IntArray
    """visitStartTime, unix seconds (UTC); every hit falls on the same day."""
    visit_number: IntArray
    first_seen: IntArray
    traffic: IntArray
    hit_offsets: IntArray
    pageviews: IntArray
    duration: IntArray
    purchased: BoolArray
    revenue: IntArray
    """Micros, with tax and shipping included; 0 without a purchase."""


@dataclass(frozen=True)
class Hits:
    session: IntArray
    number: IntArray
    time: IntArray
    """Milliseconds since the session start."""
    action: IntArray
    step: IntArray
    is_page: BoolArray
    page: IntArray
    product_offsets: IntArray


@dataclass(frozen=True)
class Products:
    hit: IntArray
    item: IntArray
    sku: IntArray
    sku_state: IntArray
    impression: BoolArray
    click: BoolArray
    quantity: IntArray
    """0 where GA360 leaves productQuantity null."""
    list_name: IntArray
    position: IntArray
    revenue: IntArray
    """productRevenue in micros on purchase hits, else 0 (null)."""


@dataclass(frozen=True)
class Day:
    date: dt.date
    sessions: Sessions
    hits: Hits
    products: Products

    def ms(self) -> IntArray:
        """Every hit's moment in milliseconds since the epoch."""
        start: IntArray = self.sessions.start[self.hits.session] * 1000 + self.hits.time
        return start


def offsets(counts: IntArray) -> IntArray:
    """Start of every group of the given sizes, and the total at the end."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def ranks(counts: IntArray) -> IntArray:
    """0, 1, ..., c-1 for every count c, concatenated."""
    total = int(np.sum(counts))
    starts = np.repeat(offsets(np.asarray(counts, np.int64))[:-1], counts)
    ranks: IntArray = np.arange(total, dtype=np.int64) - starts
    return ranks


def ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """starts[k], ..., starts[k] + counts[k] - 1 for every k, concatenated."""
    ranges: IntArray = np.repeat(starts, counts) + ranks(counts)
    return ranges
