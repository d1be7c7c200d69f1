"""Sessions: a shopper's events cut where they pause, the unit of order-aware models.

Events are put in order by user, day and time (ties: the order given). A session is a run of
one user's events on one day in which no two consecutive events are more than
:data:`SESSION_GAP_SECONDS` apart — the usual 30-minute rule of web analytics. Events
without a time (the day's start stands for it) make one session per user and day.

Both the sequential-rules kernel (training) and the session mode of evaluation cut sessions
here, so a model learns from the same unit it is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: A pause longer than this (seconds) between two events of a user starts a new session.
SESSION_GAP_SECONDS = 30 * 60


@dataclass(frozen=True)
class Sessions:
    """Events in session order, with where each session starts."""

    order: npt.NDArray[np.int64]
    """Positions of the events (in the arrays given) in session order."""
    starts: npt.NDArray[np.int64]
    """Index into ``order`` of each session's first event; ascending."""

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        """Events in each session."""
        sizes: npt.NDArray[np.int64] = np.diff(np.r_[self.starts, len(self.order)])
        return sizes

    def session_of(self) -> npt.NDArray[np.int64]:
        """Each ordered event's session number (0-based, aligned with ``order``)."""
        return np.repeat(np.arange(len(self.starts), dtype=np.int64), self.sizes)


def cut_sessions(
    user: npt.NDArray[np.integer],
    day: npt.NDArray[np.integer],
    ts: npt.NDArray[np.integer],
    *,
    gap_seconds: int = SESSION_GAP_SECONDS,
) -> Sessions:
    """The sessions of events given as aligned arrays (user code, day number, seconds)."""
    n = len(user)
    order = np.lexsort((np.arange(n), ts, day, user)).astype(np.int64)
    u, d, t = user[order], day[order], ts[order]
    new = np.ones(n, dtype=bool)
    if n > 1:
        new[1:] = (u[1:] != u[:-1]) | (d[1:] != d[:-1]) | (np.diff(t) > gap_seconds)
    return Sessions(order, np.flatnonzero(new).astype(np.int64))


@dataclass(frozen=True)
class SessionItems:
    """The items of sessions in time order: what an order-aware kernel learns from."""

    items: npt.NDArray[np.int32]
    """Item index (a column of the window matrix) of each event, in session order."""
    starts: npt.NDArray[np.int64]
    """Index into ``items`` of each session's first event; ascending."""
    weights: npt.NDArray[np.float64]
    """Each event's weight (its day's time-decay factor; 1 without decay)."""
    ts: npt.NDArray[np.int64]
    """Each event's time in whole seconds: events of one second happened together."""

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        sizes: npt.NDArray[np.int64] = np.diff(np.r_[self.starts, len(self.items)])
        return sizes

    @classmethod
    def of(
        cls,
        user: npt.NDArray[np.integer],
        item: npt.NDArray[np.integer],
        day: npt.NDArray[np.integer],
        ts: npt.NDArray[np.integer],
        weights: npt.NDArray[np.float64] | None = None,
    ) -> SessionItems:
        """Cut events (aligned arrays: user, item index, day, seconds) into sessions."""
        sessions = cut_sessions(user, day, ts)
        weight = np.ones(len(item)) if weights is None else np.asarray(weights, np.float64)
        return cls(
            np.asarray(item)[sessions.order].astype(np.int32),
            sessions.starts,
            weight[sessions.order],
            np.asarray(ts)[sessions.order].astype(np.int64),
        )
