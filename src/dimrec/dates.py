"""Dates and day windows, validated before they reach a query or a path."""

from __future__ import annotations

import datetime as dt
import re

from dimrec.errors import InvalidInputError

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


def window(days_init: int, days_end: int, as_of: dt.date | None = None) -> list[dt.date]:
    """The days from ``days_init`` days before ``as_of`` through ``days_end`` days before it.

    ``window(30, 1)`` is the 30 days that end yesterday; oldest first.
    """
    if days_init < 0 or days_end < 0:
        raise InvalidInputError(
            f"days_init and days_end must be >= 0 (got days_init={days_init}, days_end={days_end})"
        )
    if days_end > days_init:
        raise InvalidInputError(
            f"days_end ({days_end}) must not be greater than days_init ({days_init}): "
            "the window runs from days_init days ago through days_end days ago"
        )
    today = as_of or dt.date.today()
    return [today - dt.timedelta(days=back) for back in range(days_init, days_end - 1, -1)]


def compact(day: dt.date) -> str:
    """``2026-11-20`` → ``20261120``, the suffix of BigQuery's daily tables."""
    return day.strftime("%Y%m%d")
