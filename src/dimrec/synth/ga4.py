"""GA4 events, one JSON object per event, shaped like BigQuery's ``events_YYYYMMDD`` export
(``bigquery-public-data.ga4_obfuscated_sample_ecommerce``).

The events are derived from the same simulated hits as the GA360 rows: a session starts with
``session_start`` (and ``first_visit`` on a shopper's first visit), every page hit is a
``page_view``, and each e-commerce hit becomes its GA4 event with the hit's products in
``items[]`` — ``view_item_list`` (the list's impressions), ``select_item``, ``view_item``
(the viewed product only), ``add_to_cart``, ``remove_from_cart``, ``begin_checkout`` /
``add_shipping_info`` / ``add_payment_info`` (checkout steps 1-3) and ``purchase``. ``scroll``
and ``user_engagement`` events are noise without items. ``event_timestamp`` is the hit's
moment in microseconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dimrec.synth import render as r
from dimrec.synth.catalog import (
    COUNTRIES,
    DEVICES,
    TRAFFIC,
    Catalog,
    Population,
    sku_literal_index,
    sku_literals,
)
from dimrec.synth.day import CHECKOUT, LIST_NAMES, NONE, Day, offsets, page_table
from dimrec.synth.render import IntArray

EVENT_NAMES = (
    "session_start",
    "first_visit",
    "page_view",
    "view_item_list",
    "select_item",
    "view_item",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "add_shipping_info",
    "add_payment_info",
    "purchase",
    "scroll",
    "user_engagement",
)
_CODE = {name: code for code, name in enumerate(EVENT_NAMES)}
_ITEM_EVENT = np.array([_CODE[n] for n in EVENT_NAMES[3:8]] + [-1, _CODE["purchase"]])
"""The items event of each GA360 action type; checkout (5) depends on the step."""
_CHECKOUT_EVENT = np.array([-1, _CODE["begin_checkout"], _CODE["add_shipping_info"],
                            _CODE["add_payment_info"]])  # fmt: skip
P_SCROLL = 0.15
P_ENGAGEMENT = 0.4


@dataclass(frozen=True)
class Ga4Events:
    """One day's GA4 events in session order, and the products listed in their items[]."""

    session: IntArray
    hit: IntArray
    name: IntArray
    timestamp: IntArray
    """Microseconds since the epoch."""
    session_offsets: IntArray
    item_offsets: IntArray
    item_product: IntArray
    """Row of ``day.products`` behind each items[] entry."""


def derive_events(day: Day, rng: np.random.Generator) -> Ga4Events:
    """The GA4 events of ``day``'s hits (``rng`` draws only the noise events)."""
    s, h, p = day.sessions, day.hits, day.products
    n_hits = len(h.session)
    impressions = np.bincount(p.hit, p.impression, minlength=n_hits)
    item_event = np.where(h.action == CHECKOUT, _CHECKOUT_EVENT[np.minimum(h.step, 3)],
                          _ITEM_EVENT[h.action])  # fmt: skip
    item_event[(h.action == NONE) & (impressions == 0)] = -1
    first = h.number == 1
    last = np.append(h.session[1:] != h.session[:-1], True)
    kinds = [
        (np.flatnonzero(first), _CODE["session_start"], 0),
        (np.flatnonzero(first & (s.visit_number[h.session] == 1)), _CODE["first_visit"], 1),
        (np.flatnonzero(h.is_page), _CODE["page_view"], 2),
        (np.flatnonzero(item_event >= 0), -1, 3),
        (np.flatnonzero(h.is_page & (rng.random(n_hits) < P_SCROLL)), _CODE["scroll"], 4),
        (np.flatnonzero(last & (rng.random(n_hits) < P_ENGAGEMENT)), _CODE["user_engagement"], 5),
    ]
    hit = np.concatenate([k[0] for k in kinds])
    sub = np.concatenate([np.full(len(k[0]), k[2]) for k in kinds])
    name = np.concatenate([np.full(len(k[0]), k[1]) for k in kinds])
    order = np.lexsort((sub, hit))
    hit, sub, name = hit[order], sub[order], name[order]
    is_item_event = sub == 3
    name[is_item_event] = item_event[hit[is_item_event]]
    timestamp = day.ms()[hit] * 1000 + sub * 100 + rng.integers(0, 100, len(hit))

    event_of_hit = np.full(n_hits, -1)
    event_of_hit[hit[is_item_event]] = np.flatnonzero(is_item_event)
    listed = (event_of_hit[p.hit] >= 0) & (p.impression == (h.action[p.hit] == NONE))
    item_product = np.flatnonzero(listed)
    item_event_index = event_of_hit[p.hit[item_product]]
    session = h.session[hit]
    return Ga4Events(
        session=session,
        hit=hit,
        name=name,
        timestamp=timestamp,
        session_offsets=offsets(np.bincount(session, minlength=len(s.user))),
        item_offsets=offsets(np.bincount(item_event_index, minlength=len(hit))),
        item_product=item_product,
    )


class Ga4Renderer:
    """Renders GA4 event lines; fragments are built once per shop."""

    def __init__(self, catalog: Catalog, population: Population) -> None:
        self.catalog = catalog
        self.population = population
        self.sku = sku_literals(catalog)
        rest = []
        for sku, item in enumerate(catalog.sku_item.tolist()):
            label = catalog.category_labels[catalog.item_category[item]]
            rest.append(
                f',"item_name":{r.json_string(catalog.item_names[item])}'
                f',"item_variant":{r.json_string(catalog.sku_variant[sku])}'
                f',"item_category":{r.json_string(f"Home/{label}/")}'
                f',"price":{int(catalog.item_price[item]) / 1e6}'
            )
        self.item_rest = r.fragments(rest)
        self.list_names = r.fragments([r.json_string(n) for n in LIST_NAMES])
        self.names = r.fragments([f'"{n}"' for n in EVENT_NAMES])
        self.locations = r.fragments(
            [
                r.json_string(f"https://shop.googlemerchandisestore.com{path}")
                for path, _ in page_table(catalog)
            ]
        )
        self.pseudo_ids = r.fragments([*(r.json_string(v) for v in population.pseudo_ids), "null"])
        self.devices = r.fragments(
            [
                f'{{"category":"{category}","operating_system":"{system}"}}'
                for category, _, system, _, _ in DEVICES
            ]
        )
        self.geo = r.fragments(
            [
                f'{{"continent":"{continent}","country":"{country}"}}'
                for country, continent, _ in COUNTRIES
            ]
        )
        self.traffic = r.fragments(
            [
                f'{{"medium":"{medium}","name":"{source if medium != "organic" else "(organic)"}",'
                f'"source":"{source}"}}'
                for source, medium, _, _ in TRAFFIC
            ]
        )

    def lines(self, day: Day, events: Ga4Events, first: int, stop: int) -> pa.Array:
        """The JSON lines of the events of sessions ``first`` to ``stop - 1``."""
        lo, hi = int(events.session_offsets[first]), int(events.session_offsets[stop])
        item_lo, item_hi = int(events.item_offsets[lo]), int(events.item_offsets[hi])
        items = self._items(day, events.item_product[item_lo:item_hi])
        per_event = r.join_groups(items, events.item_offsets[lo : hi + 1] - item_lo, ",")
        return self._events(day, events, slice(lo, hi), slice(item_lo, item_hi), per_event)

    def _items(self, day: Day, product: IntArray) -> pa.Array:
        p = day.products
        sku, state = p.sku[product], p.sku_state[product]
        quantity, revenue = p.quantity[product], p.revenue[product]
        return r.concat(
            '{"item_id":',
            r.pick(self.sku, sku_literal_index(self.catalog, sku, state)),
            r.pick(self.item_rest, sku),
            ',"quantity":',
            r.ints_or_null(quantity, quantity > 0),
            ',"item_revenue":',
            r.dollars_or_null(revenue),
            ',"item_list_name":',
            r.pick(self.list_names, p.list_name[product]),
            ',"item_list_index":"',
            r.ints(p.position[product]),
            '"}',
        )

    def _events(
        self, day: Day, events: Ga4Events, rows: slice, item_rows: slice, items: pa.Array
    ) -> pa.Array:
        s, p = day.sessions, day.products
        session = events.session[rows]
        user = s.user[session]
        null_user = s.null_user[session]
        name = events.name[rows]
        purchase = name == _CODE["purchase"]
        revenue = np.where(purchase, s.revenue[session], 0)
        n_items = np.diff(events.item_offsets[rows.start : rows.stop + 1])
        product = events.item_product[item_rows]
        quantity = np.bincount(
            np.repeat(np.arange(len(n_items)), n_items),
            np.maximum(p.quantity[product], 1),
            minlength=len(n_items),
        ).astype(np.int64)
        ecommerce = r.concat(
            '{"total_item_quantity":',
            r.ints(quantity),
            ',"purchase_revenue":',
            r.dollars_or_null(revenue),
            ',"unique_items":',
            r.ints(n_items),
            ',"transaction_id":',
            r.when(
                purchase,
                r.concat(f'"ORD{day.date.strftime("%Y%m%d")}', r.ints(session + 10_000), '"'),
                '"(not set)"',
            ),
            "}",
        )
        first_seen = s.first_seen[session] * 1_000_000
        return r.concat(
            f'{{"event_date":"{day.date.strftime("%Y%m%d")}","event_timestamp":',
            r.ints(events.timestamp[rows]),
            ',"event_name":',
            r.pick(self.names, name),
            ',"event_params":[{"key":"ga_session_id","value":{"int_value":',
            r.ints(s.start[session]),
            '}},{"key":"ga_session_number","value":{"int_value":',
            r.ints(s.visit_number[session]),
            '}},{"key":"page_location","value":{"string_value":',
            r.pick(self.locations, day.hits.page[events.hit[rows]]),
            '}}],"event_value_in_usd":',
            r.dollars_or_null(revenue),
            ',"user_pseudo_id":',
            r.pick(self.pseudo_ids, np.where(null_user, len(self.population.pseudo_ids), user)),
            ',"user_first_touch_timestamp":',
            r.ints_or_null(first_seen, ~null_user),
            ',"device":',
            r.pick(self.devices, self.population.device[user]),
            ',"geo":',
            r.pick(self.geo, self.population.country[user]),
            ',"traffic_source":',
            r.pick(self.traffic, s.traffic[session]),
            ',"platform":"WEB","ecommerce":',
            r.when(n_items > 0, ecommerce, "null"),
            ',"items":[',
            items,
            "]}\n",
        )
