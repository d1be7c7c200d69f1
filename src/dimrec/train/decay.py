"""Time decay of a window's profiles: each day's scores weighted by 0.5 ** (age / half-life),
its age the whole days between the day (``date=YYYY-MM-DD`` in the file's path) and the
window's newest day. Both engines take their factors from here."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from dimrec.errors import DataError

_DAY_IN_PATH = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


def file_days(urls: Sequence[str]) -> list[dt.date]:
    """The day of each daily file (``date=YYYY-MM-DD`` in its path), in ``urls`` order.

    Raises DataError when a path does not name its day.
    """
    days = []
    for url in urls:
        match = _DAY_IN_PATH.search(url)
        if match is None:
            raise DataError(
                f"time decay needs the day of each profile file in its path "
                f"(date=YYYY-MM-DD); {url} has none"
            )
        days.append(dt.date.fromisoformat(match.group(1)))
    return days


def file_decay_factors(urls: Sequence[str], half_life_days: float) -> list[float]:
    """Each profile file's factor, in ``urls`` order.

    Raises DataError when a path does not name its day.
    """
    days = file_days(urls)
    newest = max(days)
    return [0.5 ** ((newest - day).days / half_life_days) for day in days]
