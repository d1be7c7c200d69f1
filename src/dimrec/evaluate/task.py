"""The test of a split: who is asked (the shoppers), with what (their query), for what (targets).

Two modes:

- ``history``: a shopper is anyone with history before the test who, during the test, has
  a target action (by default basket or purchase) on an item they never touched in their
  history. The query is their history within the model's training window, each event
  scored by its action's weight, as the server weighs its ``browsed/basket/purchased``
  inputs. The targets are those new items. Shoppers and targets do not depend on the
  model's window, so every configuration is scored on the same shoppers (paired).
- ``session``: every session of the test (:mod:`dimrec.train.sessions`: a user's events of
  a day without a pause over 30 minutes) is asked once. Its first half — the events before
  its ⌊n/2⌋+1-th distinct item, n its distinct items (``session_items="half"``, the usual
  protocol) — or the events before its ``session_items``+1-th distinct item is the query,
  each event weighted by its action; the items it goes on to reach with a target action
  (by default any action: what the shopper looks at next) are the targets. History is not
  used, so new shoppers count too.
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
from dimrec.train.sessions import cut_sessions

Mode = Literal["history", "session"]
MODES: tuple[Mode, ...] = ("history", "session")
#: A mode, or "auto": :func:`choose_mode` picks one from the data.
ModeChoice = Literal["history", "session", "auto"]
#: Auto mode asks by history when at least this share of the test's users were seen before.
RETURNING_SHARE = 0.2
DEFAULT_TARGET_ACTIONS: tuple[str, ...] = ("basket", "purchase")
#: Targets of session mode when none are given: the next items touched, by any action.
SESSION_TARGET_ACTIONS: tuple[str, ...] = ("browse", "basket", "purchase")
#: The query of a session: its first half, or its first N distinct items.
SessionQuery = int | Literal["half"]


def default_targets(mode: Mode) -> tuple[str, ...]:
    """The target actions of ``mode`` when none are given."""
    return SESSION_TARGET_ACTIONS if mode == "session" else DEFAULT_TARGET_ACTIONS


def parse_session_query(text: str | int) -> SessionQuery:
    """``"half"`` or a whole number ≥ 1 (InvalidInputError otherwise)."""
    if isinstance(text, str) and text.strip().lower() == "half":
        return "half"
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise InvalidInputError(
            f"the session query is 'half' or a number of items of at least 1 (got {text!r})"
        )
    return number


@dataclass(frozen=True)
class Task:
    mode: Mode
    shoppers: npt.NDArray[np.int32]
    """User code of each row asked: history mode, each shopper once, ascending; session
    mode, a row per test session (a user may have several)."""
    targets: sp.csr_matrix
    """Rows × items, 1 where the item is a target."""
    session_query: Interactions | None = None
    """Session mode: the query events (history mode builds queries from the window)."""
    query_rows: npt.NDArray[np.int64] | None = None
    """Session mode: the row of each query event."""

    def __len__(self) -> int:
        return len(self.shoppers)

    def queries(
        self,
        window: Interactions,
        weights: dict[str, float],
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Shoppers × items: the query weights (Σ weight(action) over the query events) and
        the inputs (1 for every item in the query, whatever its weight)."""
        if self.session_query is not None and self.query_rows is not None:
            events, rows = self.session_query, self.query_rows
        else:
            events = window
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
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
) -> Task:
    """The shoppers, targets and (session mode) queries of ``split``'s test. Target actions
    default to :func:`default_targets` of the mode."""
    target_actions = default_targets(mode) if target_actions is None else target_actions
    unknown = [a for a in target_actions if a not in ACTION_CODE]
    if unknown or not target_actions:
        raise InvalidInputError(
            f"target actions {list(target_actions)}: choose from {', '.join(ACTION_CODE)}"
        )
    codes = np.array([ACTION_CODE[a] for a in target_actions], dtype=np.int8)
    if mode == "history":
        task = _history_task(split, codes)
    elif mode == "session":
        task = _session_task(split.test, codes, parse_session_query(session_items))
    else:
        raise InvalidInputError(f"unknown evaluation mode {mode!r}; use history or session")
    if not len(task):
        raise DataError(
            f"no test shopper: nobody in the test reached a new item with "
            f"{'/'.join(target_actions)} ({split.description}, {mode} mode){_hint(mode)}"
        )
    return task


def choose_mode(
    split: SplitData,
    mode: ModeChoice = "auto",
    *,
    target_actions: Sequence[str] | None = None,
    session_items: SessionQuery = "half",
) -> tuple[Mode, str]:
    """The mode to evaluate ``split`` in, and why. ``auto`` asks by history when at least
    :data:`RETURNING_SHARE` of the test's users were seen before it (a shop whose shoppers
    return), else by session (visitors who rarely return: session data) — unless that mode
    finds no shopper to ask and the other does."""
    if mode != "auto":
        return mode, f"{mode} mode (asked for)"
    test_users = np.unique(split.test.user)
    share = float(np.isin(test_users, split.history.user).mean()) if len(test_users) else 0.0
    seen = f"{share:.0%} of the test's {len(test_users)} users were seen before it"
    if share >= RETURNING_SHARE:
        preferred: Mode = "history"
        why = f"history mode ({seen}: shoppers return)"
    else:
        preferred, why = "session", f"session mode (only {seen}: session data)"
    other: Mode = "session" if preferred == "history" else "history"
    for candidate in (preferred, other):
        try:
            build_task(
                split, mode=candidate, target_actions=target_actions, session_items=session_items
            )
        except DataError:
            continue
        if candidate == other:
            return other, f"{other} mode ({seen}, but {preferred} mode finds no shopper)"
        return preferred, why
    return preferred, why


def _hint(mode: Mode) -> str:
    if mode == "history":
        return (
            "; history mode asks shoppers who were seen before the test: for session data "
            "(visitors who rarely return) use --mode session"
        )
    return "; session mode needs test sessions of two or more distinct items"


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
    keys = keys[keep]
    shoppers, rows = np.unique(keys // n_items, return_inverse=True)
    targets = _targets(rows, keys % n_items, len(shoppers), n_items)
    return Task("history", shoppers.astype(np.int32), targets)


def _session_task(test: Interactions, codes: npt.NDArray[np.int8], query: SessionQuery) -> Task:
    n_items = test.n_items
    sessions = cut_sessions(test.user, test.day, test.ts)
    order = sessions.order
    session = sessions.session_of()
    item = test.item[order].astype(np.int64)
    # Each session's distinct items in the order they are first touched.
    key = session * n_items + item
    first_seen = np.zeros(len(key), dtype=bool)
    first_seen[np.unique(key, return_index=True)[1]] = True
    seen_so_far = np.cumsum(first_seen)
    before = np.repeat(seen_so_far[sessions.starts] - 1, sessions.sizes)
    distinct_rank = seen_so_far - before  # distinct items touched up to this event (1-based)
    counted = first_seen.astype(np.int64)
    distinct = np.add.reduceat(counted, sessions.starts) if len(order) else counted
    size = np.maximum(distinct // 2, 1) if query == "half" else np.full(len(distinct), query)
    in_query = distinct_rank <= np.repeat(size, sessions.sizes)
    after = ~in_query & np.isin(test.action[order], codes)
    query_keys = np.unique(key[in_query])
    target_keys = np.unique(key[after])
    target_keys = target_keys[~np.isin(target_keys, query_keys, assume_unique=True)]
    asked, rows = np.unique(target_keys // n_items, return_inverse=True)
    targets = _targets(rows, target_keys % n_items, len(asked), n_items)
    row_of = np.full(len(sessions), -1, dtype=np.int64)
    row_of[asked] = np.arange(len(asked))
    query_events = in_query & (row_of[session] >= 0)
    shoppers = test.user[order[sessions.starts[asked]]].astype(np.int32)
    return Task(
        "session",
        shoppers,
        targets,
        session_query=test.select(order[query_events]),
        query_rows=row_of[session[query_events]],
    )


def _targets(
    rows: npt.NDArray[np.int64], items: npt.NDArray[np.int64], n_rows: int, n_items: int
) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.ones(len(items)), (rows, items)), shape=(n_rows, n_items), dtype=np.float64
    )
