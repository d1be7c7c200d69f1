"""GA360 rows, one JSON object per session, shaped like BigQuery's export of
``bigquery-public-data.google_analytics_sample.ga_sessions_YYYYMMDD``.

Every key is written on every row (null where GA leaves it empty), so a reader that infers the
schema from a sample sees the same nested ``hits`` → ``product`` structs on every day.
Times are UTC: ``visitStartTime`` in seconds, ``hits.time`` in milliseconds since it.
"""

from __future__ import annotations

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
from dimrec.synth.day import LIST_NAMES, PURCHASE, Day, page_table

_IMPRESSION = r.fragments(["null", "true", "false"])
"""isImpression: true on list and related-product impressions, false on list clicks."""


class Ga360Renderer:
    """Renders a day's sessions as GA360 JSON lines; fragments are built once per shop."""

    def __init__(self, catalog: Catalog, population: Population) -> None:
        self.catalog = catalog
        self.population = population
        self.sku = sku_literals(catalog)
        product_rest = []
        for item in catalog.sku_item.tolist():
            spec_label = catalog.category_labels[catalog.item_category[item]]
            price = int(catalog.item_price[item])
            product_rest.append(
                f',"v2ProductName":{r.json_string(catalog.item_names[item])}'
                f',"v2ProductCategory":{r.json_string(f"Home/{spec_label}/")}'
                f',"productPrice":{price}'
            )
        self.product_rest = r.fragments(product_rest)
        self.list_names = r.fragments([r.json_string(n) for n in LIST_NAMES])
        self.pages = r.fragments(
            [
                f'{{"pagePath":{r.json_string(path)},"pageTitle":{r.json_string(title)}}}'
                for path, title in page_table(catalog)
            ]
        )
        self.actions = r.fragments(
            [
                f'{{"action_type":"{action}","step":{step}}},"type":"{kind}"'
                for action in range(7)
                for step in range(4)
                for kind in ("EVENT", "PAGE")
            ]
        )
        self.visitors = r.fragments([*(r.json_string(v) for v in population.visitor_ids), "null"])
        self.devices = r.fragments(
            [
                f'{{"browser":"{browser}","operatingSystem":"{system}",'
                f'"isMobile":{str(mobile).lower()},"deviceCategory":"{category}"}}'
                for category, browser, system, mobile, _ in DEVICES
            ]
        )
        self.geo = r.fragments(
            [
                f'{{"continent":"{continent}","subContinent":"{sub}","country":"{country}"}}'
                for country, continent, sub in COUNTRIES
            ]
        )
        self.traffic = r.fragments(
            [
                f'{{"referralPath":null,"campaign":"(not set)","source":"{source}",'
                f'"medium":"{medium}","keyword":null,"adContent":null}}'
                for source, medium, _, _ in TRAFFIC
            ]
        )
        self.channels = r.fragments([r.json_string(t[2]) for t in TRAFFIC])

    def lines(self, day: Day, first: int, stop: int) -> pa.Array:
        """The JSON lines of sessions ``first`` to ``stop - 1`` of ``day``."""
        s, h = day.sessions, day.hits
        hit_lo, hit_hi = int(s.hit_offsets[first]), int(s.hit_offsets[stop])
        prod_lo, prod_hi = int(h.product_offsets[hit_lo]), int(h.product_offsets[hit_hi])
        products = self._products(day, slice(prod_lo, prod_hi))
        per_hit = r.join_groups(products, h.product_offsets[hit_lo : hit_hi + 1] - prod_lo, ",")
        hits = self._hits(day, slice(hit_lo, hit_hi), per_hit)
        per_session = r.join_groups(hits, s.hit_offsets[first : stop + 1] - hit_lo, ",")
        return self._sessions(day, slice(first, stop), per_session)

    def _products(self, day: Day, rows: slice) -> pa.Array:
        p = day.products
        sku, state = p.sku[rows], p.sku_state[rows]
        quantity, revenue = p.quantity[rows], p.revenue[rows]
        impression, click = p.impression[rows], p.click[rows]
        return r.concat(
            '{"productSKU":',
            r.pick(self.sku, sku_literal_index(self.catalog, sku, state)),
            r.pick(self.product_rest, sku),
            ',"productQuantity":',
            r.ints_or_null(quantity, quantity > 0),
            ',"productRevenue":',
            r.ints_or_null(revenue, revenue > 0),
            ',"isImpression":',
            r.pick(_IMPRESSION, impression + 2 * click),
            ',"productListName":',
            r.pick(self.list_names, p.list_name[rows]),
            ',"productListPosition":',
            r.ints(p.position[rows]),
            "}",
        )

    def _hits(self, day: Day, rows: slice, products: pa.Array) -> pa.Array:
        s, h = day.sessions, day.hits
        session = h.session[rows]
        number = h.number[rows]
        last = np.append(session[1:] != session[:-1], True)
        if rows.stop < len(h.session):
            last[-1] = h.session[rows.stop] != session[-1]
        second = s.start[session] + h.time[rows] // 1000
        action = h.action[rows]
        return r.concat(
            '{"hitNumber":',
            r.ints(number),
            ',"time":',
            r.ints(h.time[rows]),
            ',"hour":',
            r.ints(second // 3600 % 24),
            ',"minute":',
            r.ints(second // 60 % 60),
            ',"isInteraction":true,"isEntrance":',
            r.choose(number == 1, "true", "null"),
            ',"isExit":',
            r.choose(last, "true", "null"),
            ',"page":',
            r.pick(self.pages, h.page[rows]),
            ',"transaction":',
            self._transactions(day, rows, action == PURCHASE),
            ',"eCommerceAction":',
            r.pick(self.actions, action * 8 + h.step[rows] * 2 + h.is_page[rows]),
            ',"product":[',
            products,
            "]}",
        )

    def _transactions(self, day: Day, rows: slice, purchase: np.ndarray) -> pa.Array:
        """The transaction struct on purchase hits, null on the others."""
        index = np.flatnonzero(purchase)
        session = day.hits.session[rows][index]
        revenue = day.sessions.revenue[session]
        date = day.date.strftime("%Y%m%d")
        filled = r.concat(
            f'{{"transactionId":"ORD{date}',
            r.ints(session + 10_000),
            '","transactionRevenue":',
            r.ints(revenue),
            ',"transactionTax":',
            r.ints(revenue // 11),
            ',"transactionShipping":5990000,"affiliation":"Google Merchandise Store",'
            '"currencyCode":"USD"}',
        )
        table = pa.concat_arrays([pa.array(["null"], pa.string()), filled])
        pick_index = np.zeros(len(purchase), np.int64)
        pick_index[index] = np.arange(1, len(index) + 1)
        return r.pick(table, pick_index)

    def _sessions(self, day: Day, rows: slice, hits: pa.Array) -> pa.Array:
        s = day.sessions
        user = s.user[rows]
        null_user = s.null_user[rows]
        start = s.start[rows]
        n_hits = np.diff(s.hit_offsets[rows.start : rows.stop + 1])
        revenue = s.revenue[rows]
        duration = s.duration[rows]
        visit_number = s.visit_number[rows]
        return r.concat(
            '{"visitorId":null,"visitNumber":',
            r.ints(visit_number),
            ',"visitId":',
            r.ints(start),
            ',"visitStartTime":',
            r.ints(start),
            f',"date":"{day.date.strftime("%Y%m%d")}","totals":{{"visits":1,"hits":',
            r.ints(n_hits),
            ',"pageviews":',
            r.ints(s.pageviews[rows]),
            ',"timeOnSite":',
            r.ints_or_null(duration, n_hits > 1),
            ',"bounces":',
            r.choose(n_hits == 1, "1", "null"),
            ',"transactions":',
            r.choose(s.purchased[rows], "1", "null"),
            ',"transactionRevenue":',
            r.ints_or_null(revenue, revenue > 0),
            ',"newVisits":',
            r.choose(visit_number == 1, "1", "null"),
            '},"trafficSource":',
            r.pick(self.traffic, s.traffic[rows]),
            ',"device":',
            r.pick(self.devices, self.population.device[user]),
            ',"geoNetwork":',
            r.pick(self.geo, self.population.country[user]),
            ',"hits":[',
            hits,
            '],"fullVisitorId":',
            r.pick(self.visitors, np.where(null_user, len(self.population.visitor_ids), user)),
            ',"userId":null,"channelGrouping":',
            r.pick(self.channels, s.traffic[rows]),
            "}\n",
        )
