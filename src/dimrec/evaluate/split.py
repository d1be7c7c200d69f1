"""Splitting interactions into what a model may learn from and what it is tested on.

Two rules, each able to carve a *validation* split out of its own training period by the
same rule (tuning never sees the test):

- :class:`TimeSplit`: everything up to a cut-off day is history, the following
  ``test_days`` days are the test. A model trains on the last ``window_days`` days of the
  history (all of it by default). Validation puts its own cut-off ``test_days`` before the
  history's last day with events, so that its test days hold events (a shop closed on
  Saturdays has no events to test on then).
- :class:`UserSplit`: each user's last ``test_fraction`` of events by time (ties by item) is
  the test, the rest is history (the ml-100k protocol). Validation applies the same rule to
  the history.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dimrec.dates import to_date, to_day
from dimrec.errors import DataError, InvalidInputError
from dimrec.evaluate.interactions import Interactions


@dataclass(frozen=True)
class SplitData:
    """History (the training period) and test events, in one vocabulary."""

    history: Interactions
    test: Interactions
    description: str
    as_of_day: int
    """Last day of the training period (days since the epoch): time decay counts ages in
    whole days back from it."""

    def window(self, days: int | None) -> Interactions:
        """The history's last ``days`` days (all of it for None): what a model trains on."""
        if days is None or not len(self.history):
            return self.history
        last = int(self.history.day.max())
        return self.history.select(self.history.day > last - days)


class Split(Protocol):
    def apply(self, events: Interactions) -> SplitData:
        """Split ``events``; raises DataError when a side is empty."""

    def validation(self, events: Interactions) -> tuple[Split, Interactions]:
        """The same rule carved out of the training period: (rule, the events it splits)."""

    def describe(self) -> str: ...


#: The default test (no split asked for) holds at least this many events ...
TEST_EVENTS = 1000
#: ... or this share of all events, whichever is fewer.
TEST_SHARE = 0.1


@dataclass(frozen=True)
class TimeSplit:
    cutoff: dt.date
    """Last day of the history; the test starts the day after."""
    test_days: int = 1

    def __post_init__(self) -> None:
        if self.test_days < 1:
            raise InvalidInputError(f"test_days must be at least 1 (got {self.test_days})")

    @classmethod
    def at_fraction(cls, events: Interactions, fraction: float) -> TimeSplit:
        """Cut-off at ``fraction`` of the events' date range; the test is everything after."""
        if not 0 < fraction < 1:
            raise InvalidInputError(f"the cut-off fraction must be in (0, 1), got {fraction}")
        first, last = int(events.day.min()), int(events.day.max())
        cutoff = first + math.floor(fraction * (last - first))
        return cls(to_date(cutoff), test_days=max(1, last - cutoff))

    @classmethod
    def latest(cls, events: Interactions, test_days: int | None = None) -> TimeSplit:
        """The last ``test_days`` days (up to the last day with events) as the test; by
        default as few days as hold :data:`TEST_EVENTS` events or :data:`TEST_SHARE` of all
        events, whichever is fewer (one day of a busy shop, weeks of a small log)."""
        last = int(events.day.max())
        if test_days is None:
            wanted = min(TEST_EVENTS, math.ceil(TEST_SHARE * len(events)))
            days_back = last - np.sort(events.day)[::-1][max(wanted, 1) - 1]
            test_days = int(days_back) + 1
        return cls(to_date(last - test_days), test_days)

    def apply(self, events: Interactions) -> SplitData:
        cut = to_day(self.cutoff)
        history = events.select(events.day <= cut)
        test = events.select((events.day > cut) & (events.day <= cut + self.test_days))
        if not len(history):
            raise DataError(
                f"no events on or before the cut-off {self.cutoff} to train on; choose a "
                "later --cutoff"
            )
        if not len(test):
            raise DataError(
                f"no events in the {self.test_days} test day(s) after the cut-off "
                f"{self.cutoff}; choose another --cutoff or more --test-days"
            )
        return SplitData(history, test, self.describe(), cut)

    def validation(self, events: Interactions) -> tuple[Split, Interactions]:
        period = events.select(events.day <= to_day(self.cutoff))
        if not len(period):
            raise DataError(f"no events on or before the cut-off {self.cutoff} to train on")
        earlier = to_date(int(period.day.max()) - self.test_days)
        if to_day(earlier) < int(period.day.min()):
            raise DataError(
                f"the training period {to_date(int(period.day.min()))}…{self.cutoff} is too "
                f"short to carve a {self.test_days}-day validation split from it; export more "
                "days, or choose a later --cutoff or fewer --test-days"
            )
        return TimeSplit(earlier, self.test_days), period

    def describe(self) -> str:
        end = self.cutoff + dt.timedelta(days=self.test_days)
        return f"time split: history ≤ {self.cutoff}, test {self.cutoff + dt.timedelta(1)}…{end}"


@dataclass(frozen=True)
class UserSplit:
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise InvalidInputError(f"test_fraction must be in (0, 1), got {self.test_fraction}")

    def apply(self, events: Interactions) -> SplitData:
        """Each user's last ``round(test_fraction · n)`` events (at least one when the user
        has two or more) are the test."""
        order = np.lexsort((events.item, events.ts, events.user))
        users = events.user[order]
        starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
        sizes = np.diff(np.r_[starts, len(users)])
        n_test = np.floor(self.test_fraction * sizes + 0.5).astype(np.int64)
        n_test = np.where(sizes >= 2, np.maximum(n_test, 1), 0)
        rank = np.arange(len(users)) - np.repeat(starts, sizes)
        is_test_sorted = rank >= np.repeat(sizes - n_test, sizes)
        is_test = np.zeros(len(events), dtype=bool)
        is_test[order] = is_test_sorted
        history, test = events.select(~is_test), events.select(is_test)
        if not len(test) or not len(history):
            raise DataError("the per-user split left nothing to train on or to test")
        return SplitData(history, test, self.describe(), int(history.day.max()))

    def validation(self, events: Interactions) -> tuple[Split, Interactions]:
        return self, self.apply(events).history

    def describe(self) -> str:
        return f"per-user split: each user's last {self.test_fraction:.0%} of events by time"


@dataclass(frozen=True)
class SplitSpec:
    """The split asked for: per user, at a cut-off day (then ``test_days`` days, default 1,
    are the test), at a fraction of the date range, or by default the last ``test_days`` days
    of the events (default: as many as :meth:`TimeSplit.latest` needs) as the test."""

    cutoff: dt.date | None = None
    test_days: int | None = None
    cutoff_fraction: float | None = None
    per_user_fraction: float | None = None

    def __post_init__(self) -> None:
        chosen = [
            x is not None for x in (self.cutoff, self.cutoff_fraction, self.per_user_fraction)
        ]
        if sum(chosen) > 1:
            raise InvalidInputError(
                "give at most one of a cut-off day, a cut-off fraction and a per-user fraction"
            )
        if self.test_days is not None and self.test_days < 1:
            raise InvalidInputError(f"test_days must be at least 1 (got {self.test_days})")

    def make(self, events: Interactions) -> Split:
        if self.per_user_fraction is not None:
            return UserSplit(self.per_user_fraction)
        if self.cutoff_fraction is not None:
            return TimeSplit.at_fraction(events, self.cutoff_fraction)
        if self.cutoff is not None:
            return TimeSplit(self.cutoff, self.test_days or 1)
        return TimeSplit.latest(events, self.test_days)
