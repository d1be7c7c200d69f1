"""The test of a split: who is asked (the shoppers), with what (their query), for what (targets).

Two modes:

- ``history``: a shopper is anyone with history before the test who, during the test, has
  a target action (by default basket or purchase) on an item they never touched in their
  history. The query is their history within the model's training window, each event
  scored by its action's weight, as the server weighs its ``browsed/basket/purchased``
  inputs. The targets are those new items. Shoppers and targets do not depend on the
  model's window, so every configuration is scored on the same shoppers (paired).
- ``session``: the first ``session_items`` distinct items a shopper touches on their first
  test day are the query; the items they go on to reach with a target action that day are
  the targets. History is not used, so new shoppers count too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from dimrec.errors import DataError, InvalidInputError
from dimrec.evaluate.interactions import ACTION_CODE, Interactions
from dimrec.evaluate.split import SplitData

Mode = Literal["history", "session"]
DEFAULT_TARGET_ACTIONS: tuple[str, ...] = ("basket", "purchase")


@dataclass(frozen=True)
class Task:
    mode: Mode
    shoppers: npt.NDArray[np.int32]
    """User codes of the shoppers asked, ascending."""
    targets: sp.csr_matrix
    """Shoppers × items, 1 where the item is a target."""
    session_query: Interactions | None
    """Session mode: the query events (history mode builds queries from the window)."""

    def __len__(self) -> int:
        return len(self.shoppers)

    def queries(
        self,
        window: Interactions,
        weights: dict[str, float],
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Shoppers × items: the query weights (Σ weight(action) over the query events) and
        the inputs (1 for every item in the query, whatever its weight)."""
        events = self.session_query if self.session_query is not None else window
        row_of = np.full(events.n_users, -1, dtype=np.int64)
        row_of[self.shoppers] = np.arange(len(self.shoppers))
        rows = row_of[events.user]
        mine = rows >= 0
        table = np.array([float(weights.get(a, 0.0)) for a in ACTION_CODE])
        shape = (len(self.shoppers), events.n_items)
        coords = (rows[mine], events.item[mine])
        query = sp.csr_matrix((table[events.action[mine]], coords), shape=shape)
        query.sum_duplicates()
        query.eliminate_zeros()
        inputs = sp.csr_matrix((np.ones(int(mine.sum())), coords), shape=shape)
        inputs.sum_duplicates()
        return query, inputs


def build_task(
    split: SplitData,
    *,
    mode: Mode = "history",
    target_actions: Sequence[str] = DEFAULT_TARGET_ACTIONS,
    session_items: int = 1,
) -> Task:
    """The shoppers, targets and (session mode) queries of ``split``'s test."""
    unknown = [a for a in target_actions if a not in ACTION_CODE]
    if unknown or not target_actions:
        raise InvalidInputError(
            f"target actions {list(target_actions)}: choose from {', '.join(ACTION_CODE)}"
        )
    codes = np.array([ACTION_CODE[a] for a in target_actions], dtype=np.int8)
    if mode == "history":
        task = _history_task(split, codes)
    elif mode == "session":
        if session_items < 1:
            raise InvalidInputError(f"session_items must be at least 1 (got {session_items})")
        task = _session_task(split.test, codes, session_items)
    else:
        raise InvalidInputError(f"unknown evaluation mode {mode!r}; use history or session")
    if not len(task):
        raise DataError(
            f"no test shopper: nobody in the test reached a new item with "
            f"{'/'.join(target_actions)} ({split.description}, {mode} mode)"
        )
    return task


def _keys(
    user: npt.NDArray[np.integer], item: npt.NDArray[np.integer], n_items: int
) -> npt.NDArray[np.int64]:
    return user.astype(np.int64) * n_items + item.astype(np.int64)


def _history_task(split: SplitData, codes: npt.NDArray[np.int8]) -> Task:
    history, test = split.history, split.test
    n_items = test.n_items
    wanted = np.isin(test.action, codes)
    known_users = np.zeros(test.n_users, dtype=bool)
    known_users[history.user] = True
    seen = np.unique(_keys(history.user, history.item, n_items))
    keys = np.unique(_keys(test.user[wanted], test.item[wanted], n_items))
    users = keys // n_items
    keep = known_users[users] & ~np.isin(keys, seen, assume_unique=True)
    return _task("history", keys[keep], n_items, None)


def _session_task(test: Interactions, codes: npt.NDArray[np.int8], session_items: int) -> Task:
    n_items = test.n_items
    order = np.lexsort((np.arange(len(test)), test.ts, test.day, test.user))
    user, item, day = test.user[order], test.item[order], test.day[order]
    starts = np.r_[0, np.flatnonzero(np.diff(user)) + 1]
    sizes = np.diff(np.r_[starts, len(user)])
    first_day = np.repeat(day[starts], sizes)
    on_first = day == first_day
    # The rank of each event's item among the distinct items of the user's first day.
    key = _keys(user, item, n_items)
    first_seen = np.zeros(len(key), dtype=bool)
    _, first_index = np.unique(np.where(on_first, key, -1), return_index=True)
    first_seen[first_index] = True
    first_seen &= on_first
    distinct_rank = np.cumsum(first_seen) - np.repeat(
        np.cumsum(first_seen)[starts] - first_seen[starts], sizes
    )
    # distinct_rank counts distinct items seen so far (1-based) within the user's events.
    in_query = on_first & (distinct_rank <= session_items)
    query_keys = np.unique(key[in_query])
    after = on_first & (distinct_rank > session_items) & np.isin(test.action[order], codes)
    target_keys = np.unique(key[after])
    target_keys = target_keys[~np.isin(target_keys, query_keys, assume_unique=True)]
    query_events = test.select(order[in_query])
    return _task("session", target_keys, n_items, query_events)


def _task(
    mode: Mode, target_keys: npt.NDArray[np.int64], n_items: int, query: Interactions | None
) -> Task:
    users = (target_keys // n_items).astype(np.int64)
    items = (target_keys % n_items).astype(np.int64)
    shoppers, rows = np.unique(users, return_inverse=True)
    targets = sp.csr_matrix(
        (np.ones(len(items)), (rows, items)), shape=(len(shoppers), n_items), dtype=np.float64
    )
    return Task(mode, shoppers.astype(np.int32), targets, query)
