"""What an export run did, day by day: the figures the CLI prints and the jobs API returns."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from dimrec import dates
from dimrec.config import ACTIONS
from dimrec.errors import MissingDataError


@dataclass(frozen=True)
class DayExport:
    """One day written to ``events/date=YYYY-MM-DD/``."""

    day: dt.date
    actions: Mapping[str, int]
    """Events per action (browse, basket, purchase), zeros included."""
    users: int
    """Distinct users among the day's events."""
    items: int
    """Distinct items among the day's events."""
    rejected: Mapping[str, int]
    """Rows that could not become events, by reason."""
    ignored: Mapping[str, int]
    """Rows of other kinds (action types, event names), by what they were."""
    path: str
    seconds: float
    empty_day: bool = False
    """No row at all on a day inside the log's dates (a closed shop): written empty."""

    @property
    def events(self) -> int:
        return sum(self.actions.values())


@dataclass(frozen=True)
class MissingDay:
    """A day the warehouse had no data for, and why (the path or table looked at)."""

    day: dt.date
    reason: str


@dataclass(frozen=True)
class ExportSummary:
    """The days exported, the days missing, and the run's totals."""

    source: str
    warehouse: str
    input: str
    days: tuple[DayExport, ...]
    missing: tuple[MissingDay, ...] = ()
    users: int = 0
    """Distinct users over all exported days."""
    items: int = 0
    """Distinct items over all exported days."""
    undated_rejected: Mapping[str, int] = field(default_factory=dict)
    """Rows rejected that belong to no day: malformed lines or undated rows of an input that
    holds many days (a daily table's own malformed lines count in its day)."""

    @property
    def events(self) -> int:
        return sum(d.events for d in self.days)

    @property
    def actions(self) -> dict[str, int]:
        total: Counter[str] = Counter(dict.fromkeys(ACTIONS, 0))
        for day in self.days:
            total.update(day.actions)
        return {action: total[action] for action in ACTIONS}

    @property
    def rejected(self) -> dict[str, int]:
        """Rejected rows by reason, over the days and the undated rows."""
        total: Counter[str] = Counter(self.undated_rejected)
        for day in self.days:
            total.update(day.rejected)
        return dict(sorted(total.items()))

    @property
    def ignored(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for day in self.days:
            total.update(day.ignored)
        return dict(sorted(total.items()))

    @property
    def seconds(self) -> float:
        return sum(d.seconds for d in self.days)

    @property
    def empty(self) -> list[dt.date]:
        """Days written without events: empty days inside a log's dates, or empty tables."""
        return [d.day for d in self.days if d.events == 0]

    def raise_for_missing(self) -> None:
        """Raise MissingDataError naming every missing day (and where it was looked for)."""
        if not self.missing:
            return
        if len(self.missing) == 1:
            raise MissingDataError(self.missing[0].reason)
        named = dates.describe_days([m.day for m in self.missing])
        exported = len(self.days)
        raise MissingDataError(
            f"no {self.source} data for {len(self.missing)} day(s): {named} "
            f"({exported} other day(s) exported); first: {self.missing[0].reason}"
        )
