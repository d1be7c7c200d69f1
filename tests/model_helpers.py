"""A model's training description for tests that write model folders by hand."""

from __future__ import annotations

import datetime as dt

from dimrec.model import ModelCounts, ModelWindow, Training
from dimrec.params import TrainParams

DAY = dt.date(2026, 11, 20)


def training(*, items: int = 0, pairs: int = 0, **params: object) -> Training:
    """A one-day window, the given parameters and counts."""
    return Training(
        window=ModelWindow(as_of=DAY, days_init=0, days_end=0, days=(DAY,)),
        params=TrainParams.model_validate(params),
        engine="local",
        counts=ModelCounts(profiles=0, users=0, users_dropped=0, items=items, pairs=pairs),
    )
