"""Interactions: the events an evaluation splits, as aligned integer-coded arrays.

One row per event (user, item, action, day, ts, and its weight when the source has one),
with users and items coded against
vocabularies sorted by id (binary UTF-8 order, like the training engines), so that item
code order is item id order and ties broken by code are ties broken by id. Subsets made with
:meth:`Interactions.select` share the vocabularies, so matrices built from a training part
and a test part line up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from dimrec.dates import SECONDS_PER_DAY, to_date
from dimrec.errors import DataError, SchemaError

ACTIONS = ("browse", "basket", "purchase")
ACTION_CODE = {name: code for code, name in enumerate(ACTIONS)}


@dataclass(frozen=True)
class Interactions:
    user: npt.NDArray[np.int32]
    item: npt.NDArray[np.int32]
    action: npt.NDArray[np.int8]
    """Codes of ACTIONS: 0 browse, 1 basket, 2 purchase."""
    day: npt.NDArray[np.int32]
    """Days since 1970-01-01: the day partition of the event (or the UTC day of its ts)."""
    ts: npt.NDArray[np.int64]
    """Seconds since the epoch (UTC); the day's start when the source had no time."""
    users: npt.NDArray[np.object_]
    items: npt.NDArray[np.object_]
    weight: npt.NDArray[np.float64] | None = None
    """Each event's own weight (a quantity), multiplying its action's; None: all 1."""

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def select(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The events where ``mask`` holds, with the same vocabularies."""
        return Interactions(
            self.user[mask],
            self.item[mask],
            self.action[mask],
            self.day[mask],
            self.ts[mask],
            self.users,
            self.items,
            None if self.weight is None else self.weight[mask],
        )

    def first_day(self) -> dt.date:
        return to_date(int(self.day.min()))

    def last_day(self) -> dt.date:
        return to_date(int(self.day.max()))

    def scores(
        self,
        weights: dict[str, float],
        *,
        half_life_days: float | None = None,
        as_of_day: int | None = None,
    ) -> npt.NDArray[np.float64]:
        """Each event's score: its action's weight times its own weight, halved every
        ``half_life_days`` of age when a half-life is given. Age counts whole days back from
        ``as_of_day`` (default the newest day): the last day's events count fully — as the
        train stage decays whole daily profiles."""
        table = np.array([float(weights.get(name, 0.0)) for name in ACTIONS])
        score = table[self.action]
        if self.weight is not None:
            score = score * self.weight
        if half_life_days is not None and len(self):
            reference = int(self.day.max()) if as_of_day is None else as_of_day
            age_days = np.maximum(reference - self.day, 0).astype(np.float64)
            score = score * np.exp2(-age_days / half_life_days)
        return score

    def matrix(self, score: npt.NDArray[np.float64]) -> sp.csr_matrix:
        """All users × all items, summing ``score`` per (user, item); zero scores dropped."""
        m = sp.csr_matrix(
            (score, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=np.float64
        )
        m.sum_duplicates()
        m.eliminate_zeros()
        return m

    @classmethod
    def from_table(cls, table: pa.Table, *, day: pa.Array | None = None) -> Interactions:
        """From a table with columns ``user, item, action, ts`` (the events schema).

        ``day`` gives each row's day (a date32 array, e.g. its partition); by default the
        UTC day of ``ts``. Rows with an action other than browse/basket/purchase, or without
        a time or day, are a DataError: an evaluation must not silently lose events.
        """
        missing = [c for c in ("user", "item", "action", "ts") if c not in table.column_names]
        if missing:
            raise SchemaError(f"interactions lack column(s) {', '.join(missing)}")
        if table.num_rows == 0:
            raise DataError("no interactions to evaluate on")
        for name in ("user", "item", "action"):
            if table.column(name).null_count:
                raise DataError(f"{table.column(name).null_count} interaction(s) have no {name}")
        actions = table.column("action").cast(pa.string())
        known = pc.is_in(actions, value_set=pa.array(ACTIONS))
        if not pc.all(known).as_py():
            bad = pc.unique(pc.filter(actions, pc.invert(known))).to_pylist()[:5]
            raise DataError(f"unknown action(s) {bad}; expected one of {', '.join(ACTIONS)}")
        ts = table.column("ts").cast(pa.timestamp("s", tz="UTC"), safe=False)
        if day is None:
            if ts.null_count:
                raise DataError(f"{ts.null_count} interaction(s) have neither a time nor a day")
            day_arr = pc.cast(ts, pa.int64()).to_numpy() // SECONDS_PER_DAY
        else:
            day_arr = pc.cast(day.cast(pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)
        day_arr = np.asarray(day_arr, dtype=np.int64)
        ts_int = pc.cast(ts, pa.int64())
        no_time = pc.is_null(ts_int).to_numpy(zero_copy_only=False)
        ts_arr = pc.fill_null(ts_int, 0).to_numpy(zero_copy_only=False)
        ts_arr = np.where(no_time, day_arr * SECONDS_PER_DAY, ts_arr)
        users, user_codes = _encode(table.column("user"))
        items, item_codes = _encode(table.column("item"))
        action_codes = np.zeros(table.num_rows, dtype=np.int8)
        for name, code in ACTION_CODE.items():
            action_codes[pc.equal(actions, name).to_numpy(zero_copy_only=False)] = code
        weight = None
        if "weight" in table.column_names and table.column("weight").null_count < table.num_rows:
            own = pc.fill_null(table.column("weight").cast(pa.float64()), 1.0)
            weight = np.asarray(own.to_numpy(), dtype=np.float64)
        return cls(
            user_codes,
            item_codes,
            action_codes,
            day_arr.astype(np.int32),
            ts_arr.astype(np.int64),
            users,
            items,
            weight,
        )


def _encode(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int32]]:
    """Vocabulary sorted by id (binary order) and each row's code in it."""
    values = column.cast(pa.string()).combine_chunks()
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    vocab = np.asarray(dictionary.take(pa.array(order)).to_pylist(), dtype=object)
    return vocab, codes
