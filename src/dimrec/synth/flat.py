"""A flat event log in the Retailrocket style: ``timestamp,visitorid,event,itemid``.

One row per product of the interesting hits — ``view`` (detail view), ``addtocart``,
``transaction`` (purchase) — plus ``removefromcart`` and ``checkout`` rows that an exporter
must ignore. ``timestamp`` is milliseconds since the epoch; visitors and items are integer ids
(items have no variants here); a field is empty where the shopper or the SKU was lost.
Rows are in time order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dimrec.synth import render as r
from dimrec.synth.catalog import Catalog, Population
from dimrec.synth.day import ADD, CHECKOUT, DETAIL, PURCHASE, REMOVE, SKU_OK, Day
from dimrec.synth.render import IntArray

HEADER = "timestamp,visitorid,event,itemid\n"
EVENT_NAMES = ("view", "addtocart", "transaction", "removefromcart", "checkout")
_EVENT_OF_ACTION = np.full(7, -1)
_EVENT_OF_ACTION[[DETAIL, ADD, PURCHASE, REMOVE, CHECKOUT]] = np.arange(5)
"""Flat event of each GA360 action type (checkout only for step 1)."""


@dataclass(frozen=True)
class FlatRows:
    product: IntArray
    """Row of ``day.products`` behind each log row."""
    event: IntArray
    timestamp: IntArray
    """Milliseconds since the epoch."""


def derive_rows(day: Day) -> FlatRows:
    """The flat log rows of ``day``, in time order."""
    h, p = day.hits, day.products
    action = h.action[p.hit]
    event = _EVENT_OF_ACTION[action]
    keep = (event >= 0) & ~p.impression & ((action != CHECKOUT) | (h.step[p.hit] == 1))
    product = np.flatnonzero(keep)
    timestamp = day.ms()[p.hit[product]]
    order = np.argsort(timestamp, kind="stable")
    return FlatRows(product[order], event[product][order], timestamp[order])


class FlatRenderer:
    """Renders flat log lines."""

    def __init__(self, catalog: Catalog, population: Population) -> None:
        self.catalog = catalog
        self.population = population
        self.events = r.fragments([f",{name}," for name in EVENT_NAMES])

    def lines(self, day: Day, rows: FlatRows, first: int, stop: int) -> pa.Array:
        """CSV lines of rows ``first`` to ``stop - 1``."""
        p, s = day.products, day.sessions
        product = rows.product[first:stop]
        session = day.hits.session[p.hit[product]]
        visitor = self.population.flat_ids[s.user[session]]
        item = self.catalog.item_flat_id[p.item[product]]
        return r.concat(
            r.ints(rows.timestamp[first:stop]),
            ",",
            r.when(~s.null_user[session], r.ints(visitor), ""),
            r.pick(self.events, rows.event[first:stop]),
            r.when(p.sku_state[product] == SKU_OK, r.ints(item), ""),
            "\n",
        )
