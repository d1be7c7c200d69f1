"""``truth.json``: exactly what an exporter must find in the generated files.

Counted from the simulation's own arrays — never by reading the files back or running SQL —
so export tests can compare exact numbers. The rules (which the exporter implements in SQL):

- GA360: one row per (hit, product). Rows whose ``hits.eCommerceAction.action_type`` is not
  '2', '3' or '6' are ignored (counted per action type); of the rest, impressions
  (``isImpression`` true) are ignored (counted); of the rest, a null ``fullVisitorId`` rejects
  the row (``null_user``), else a null or empty ``productSKU`` (``null_item``). Accepted rows:
  '2' browse, '3' basket, '6' purchase; user = fullVisitorId; item = productSKU normalised by
  :data:`SKU_REGEX` (a match is replaced by group 1); ts = visitStartTime s + hits.time ms.
- GA4: one row per ``items[]`` entry. Events other than view_item (browse), add_to_cart
  (basket) and purchase (purchase) are ignored (counted per event name, as events and as item
  rows); then null ``user_pseudo_id`` → null_user, null or empty ``item_id`` → null_item. item =
  item_id normalised by the same regex; ts = event_timestamp µs.
- Flat: one row per line. Events other than view (browse), addtocart (basket) and transaction
  (purchase) are ignored (counted per name); then empty visitorid → null_user, empty itemid →
  null_item. item = itemid as is (integers, no variants); ts = timestamp ms.

Null users and broken SKUs are only injected on rows that would otherwise be accepted, so the
order of those two checks does not change any count. Malformed lines carry no rows.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dimrec.synth.catalog import Catalog
from dimrec.synth.day import ADD, DETAIL, PURCHASE, SKU_OK, Day
from dimrec.synth.flat import EVENT_NAMES as FLAT_EVENTS
from dimrec.synth.flat import FlatRows
from dimrec.synth.ga4 import EVENT_NAMES as GA4_EVENTS
from dimrec.synth.ga4 import Ga4Events
from dimrec.synth.render import BoolArray, IntArray

SKU_REGEX = r"^([^-]+|[^-]+-[^-]+-[^-]+)-[^-]+$"
"""Variant normalisation (the default of ``export.sku_regex``): strip the last ``-SUFFIX``
when a SKU has one or three hyphens."""
ACTIONS = ("browse", "basket", "purchase")
GA360_ACTION = {DETAIL: 0, ADD: 1, PURCHASE: 2}
GA4_ACTION = {"view_item": 0, "add_to_cart": 1, "purchase": 2}
FLAT_ACTION = {"view": 0, "addtocart": 1, "transaction": 2}
RULES = {
    "ga360": "one row per (hit, product); action_type '2' browse, '3' basket, '6' purchase, "
    "other action types ignored; then isImpression true ignored; then null fullVisitorId "
    "rejected (null_user), then null or empty productSKU rejected (null_item); item = "
    "productSKU normalised by sku_regex; ts = visitStartTime s + hits.time ms",
    "ga4": "one row per items[] entry; view_item browse, add_to_cart basket, purchase purchase, "
    "other events ignored; then null user_pseudo_id rejected (null_user), then null or empty "
    "item_id rejected (null_item); item = item_id normalised by the same sku_regex; "
    "ts = event_timestamp µs",
    "flat": "one row per line; view browse, addtocart basket, transaction purchase, other "
    "events ignored; then empty visitorid rejected (null_user), then empty itemid rejected "
    "(null_item); item = itemid (no normalisation); ts = timestamp ms",
}


def normalised_items(catalog: Catalog, regex: str = SKU_REGEX) -> IntArray:
    """Id of every SKU after variant normalisation (SKUs that normalise alike share an id)."""
    pattern = re.compile(regex)
    ids: dict[str, int] = {}
    out = np.empty(len(catalog.skus), np.int64)
    for k, sku in enumerate(catalog.skus):
        match = pattern.match(sku)
        out[k] = ids.setdefault(match.group(1) if match else sku, len(ids))
    return out


@dataclass(frozen=True)
class Counted:
    """One format's counts for one day, and the distinct users and items behind them."""

    counts: dict[str, Any]
    users: IntArray
    items: IntArray


def _accepted(
    action: IntArray,
    user: IntArray,
    user_missing: BoolArray,
    item: IntArray,
    item_missing: BoolArray,
    ts_us: IntArray,
) -> Counted:
    """Counts of candidate rows (already mapped to an action and not ignored)."""
    null_user = user_missing
    null_item = ~user_missing & item_missing
    ok = ~user_missing & ~item_missing
    rows = np.bincount(action[ok], minlength=3)
    counts: dict[str, Any] = {
        "rows": {name: int(rows[k]) for k, name in enumerate(ACTIONS)},
        "accepted": int(ok.sum()),
        "rejected": {"null_user": int(null_user.sum()), "null_item": int(null_item.sum())},
        "ts_min_us": int(ts_us[ok].min()) if ok.any() else None,
        "ts_max_us": int(ts_us[ok].max()) if ok.any() else None,
    }
    return Counted(counts, np.unique(user[ok]), np.unique(item[ok]))


def count_ga360(day: Day, item_ids: IntArray) -> Counted:
    s, h, p = day.sessions, day.hits, day.products
    action_type = h.action[p.hit]
    action = np.full(len(p.hit), -1)
    for code, value in GA360_ACTION.items():
        action[action_type == code] = value
    mapped = action >= 0
    candidate = mapped & ~p.impression
    session = h.session[p.hit]
    ts_us = (s.start[session] * 1000 + h.time[p.hit]) * 1000
    counted = _accepted(
        action[candidate],
        s.user[session][candidate],
        s.null_user[session][candidate],
        item_ids[p.sku][candidate],
        (p.sku_state != SKU_OK)[candidate],
        ts_us[candidate],
    )
    ignored = Counter(action_type[~mapped].tolist())
    counted.counts.update(
        sessions=len(s.user),
        hits=len(h.session),
        product_rows=len(p.hit),
        ignored={
            "action_types": {str(a): ignored[a] for a in sorted(ignored)},
            "impressions": int((mapped & p.impression).sum()),
        },
        impressions_all=int(p.impression.sum()),
    )
    return counted


def count_ga4(day: Day, events: Ga4Events, item_ids: IntArray) -> Counted:
    s, p = day.sessions, day.products
    event_of_item = np.repeat(np.arange(len(events.name)), np.diff(events.item_offsets))
    item_event_name = events.name[event_of_item]
    name_action = np.full(len(GA4_EVENTS), -1)
    for name, value in GA4_ACTION.items():
        name_action[GA4_EVENTS.index(name)] = value
    action = name_action[item_event_name]
    candidate = action >= 0
    product = events.item_product
    session = events.session[event_of_item]
    counted = _accepted(
        action[candidate],
        s.user[session][candidate],
        s.null_user[session][candidate],
        item_ids[p.sku[product]][candidate],
        (p.sku_state[product] != SKU_OK)[candidate],
        events.timestamp[event_of_item][candidate],
    )
    ignored_events = Counter(events.name[name_action[events.name] < 0].tolist())
    ignored_items = Counter(item_event_name[~candidate].tolist())
    counted.counts.update(
        sessions=len(s.user),
        events=len(events.name),
        item_rows=len(product),
        ignored={
            "events": {GA4_EVENTS[k]: ignored_events[k] for k in sorted(ignored_events)},
            "item_rows": {GA4_EVENTS[k]: ignored_items[k] for k in sorted(ignored_items)},
        },
    )
    return counted


def count_flat(day: Day, rows: FlatRows) -> Counted:
    s, h, p = day.sessions, day.hits, day.products
    name_action = np.array([FLAT_ACTION.get(name, -1) for name in FLAT_EVENTS])
    action = name_action[rows.event]
    candidate = action >= 0
    session = h.session[p.hit[rows.product]]
    counted = _accepted(
        action[candidate],
        s.user[session][candidate],
        s.null_user[session][candidate],
        p.item[rows.product][candidate],
        (p.sku_state[rows.product] != SKU_OK)[candidate],
        rows.timestamp[candidate] * 1000,
    )
    ignored = Counter(rows.event[~candidate].tolist())
    counted.counts.update(
        sessions=len(s.user),
        lines=len(rows.event),
        ignored={"events": {FLAT_EVENTS[k]: ignored[k] for k in sorted(ignored)}},
    )
    return counted


@dataclass
class TruthBook:
    """Collects each format's daily counts and sums them up."""

    days: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, list[IntArray]] = field(default_factory=dict)
    items: dict[str, list[IntArray]] = field(default_factory=dict)

    def add(self, fmt: str, date: str, counted: Counted, **extra: Any) -> None:
        counts = {**extra, **counted.counts}
        counts["users"] = len(counted.users)
        counts["items"] = len(counted.items)
        self.days.setdefault(fmt, {})[date] = counts
        self.users.setdefault(fmt, []).append(counted.users)
        self.items.setdefault(fmt, []).append(counted.items)

    def totals(self, fmt: str) -> dict[str, Any]:
        days = list(self.days[fmt].values())
        total = _sum_counts(days)
        total["users"] = len(np.unique(np.concatenate(self.users[fmt])))
        total["items"] = len(np.unique(np.concatenate(self.items[fmt])))
        lows = [d["ts_min_us"] for d in days if d["ts_min_us"] is not None]
        highs = [d["ts_max_us"] for d in days if d["ts_max_us"] is not None]
        total["ts_min_us"] = min(lows) if lows else None
        total["ts_max_us"] = max(highs) if highs else None
        return total

    def document(self, generator: dict[str, Any]) -> dict[str, Any]:
        return {
            "generator": generator,
            "sku_regex": SKU_REGEX,
            "rules": {fmt: RULES[fmt] for fmt in self.days},
            "formats": {
                fmt: {"totals": self.totals(fmt), "days": self.days[fmt]} for fmt in self.days
            },
        }


def _sum_counts(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum integer counts key by key (nested dicts too); text and ts keys are left out."""
    total: dict[str, Any] = {}
    for day in days:
        for key, value in day.items():
            if key.startswith("ts_") or key in ("users", "items"):
                continue
            if isinstance(value, dict):
                total[key] = _sum_counts([total.get(key, {}), value])
            elif isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total
