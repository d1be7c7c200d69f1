"""Dates and day windows, validated before they reach a query or a path."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from dimrec.errors import InvalidInputError

#: The longest window a command, job or setting may ask for unless ``max_window_days`` says
#: otherwise: ten years of days.
MAX_WINDOW_DAYS = 3660
#: Days named one by one in a message before the rest are only counted.
NAMED_DAYS = 10
#: Day numbers count days since this date (UTC), as event times count seconds since it.
EPOCH = dt.date(1970, 1, 1)
SECONDS_PER_DAY = 86_400

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPACT_DATE = re.compile(r"^\d{8}$")


def parse_date(text: str | dt.date) -> dt.date:
    """Parse ``YYYY-MM-DD`` (or ``YYYYMMDD``) into a date, or raise a clear error."""
    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    value = text.strip()
    try:
        if _ISO_DATE.match(value):
            return dt.date.fromisoformat(value)
        if _COMPACT_DATE.match(value):
            return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidInputError(f"invalid date {text!r}: {exc}") from None
    raise InvalidInputError(f"invalid date {text!r}: expected YYYY-MM-DD, for example 2026-11-20")


def window(
    days_init: int,
    days_end: int,
    as_of: dt.date | None = None,
    *,
    max_days: int = MAX_WINDOW_DAYS,
) -> list[dt.date]:
    """The days from ``days_init`` days before ``as_of`` through ``days_end`` days before it.

    ``window(30, 1)`` is the 30 days that end yesterday; oldest first. InvalidInputError
    when the bounds are negative or reversed, the window is longer than ``max_days`` or it
    would reach before the year 1.
    """
    check_span(days_init, days_end, max_days)
    today = as_of or dt.date.today()
    try:
        first = today - dt.timedelta(days=days_init)
    except OverflowError:
        raise InvalidInputError(
            f"days_init={days_init} reaches back before the year 1 from {today.isoformat()}"
        ) from None
    return [first + dt.timedelta(days=n) for n in range(days_init - days_end + 1)]


def check_span(days_init: int, days_end: int, max_days: int = MAX_WINDOW_DAYS) -> None:
    """InvalidInputError unless ``0 <= days_end <= days_init`` and the window they bound
    holds at most ``max_days`` days."""
    if days_init < 0 or days_end < 0:
        raise InvalidInputError(
            f"days_init and days_end must be >= 0 (got days_init={days_init}, days_end={days_end})"
        )
    if days_end > days_init:
        raise InvalidInputError(
            f"days_end ({days_end}) must not be greater than days_init ({days_init}): "
            "the window runs from days_init days ago through days_end days ago"
        )
    if days_init - days_end + 1 > max_days:
        raise InvalidInputError(
            f"the window days_init={days_init}..days_end={days_end} holds "
            f"{days_init - days_end + 1:,} days; at most {max_days:,} are allowed "
            "(setting max_window_days)"
        )


def describe_days(days: Sequence[dt.date], limit: int = NAMED_DAYS) -> str:
    """Days for a message: the first ``limit`` by name, then how many more there are."""
    named = ", ".join(day.isoformat() for day in days[:limit])
    rest = len(days) - limit
    return f"{named} and {rest:,} more" if rest > 0 else named


def absolute_window(first: dt.date, last: dt.date) -> tuple[int, int, dt.date]:
    """The days ``first``..``last`` as ``(days_init, days_end, as_of)`` (as_of the day after
    ``last``), so that ``window(*absolute_window(a, b))`` is a..b."""
    if last < first:
        raise InvalidInputError(f"--to ({last}) is before --from ({first})")
    return (last - first).days + 1, 1, last + dt.timedelta(days=1)


def compact(day: dt.date) -> str:
    """``2026-11-20`` → ``20261120``, the suffix of BigQuery's daily tables."""
    return day.strftime("%Y%m%d")


def to_day(day: dt.date) -> int:
    """The day number of ``day``: days since :data:`EPOCH`."""
    return (day - EPOCH).days


def to_date(day: int) -> dt.date:
    """The date of day number ``day``."""
    return EPOCH + dt.timedelta(days=day)
