"""The evaluation fits its systems on the very matrix training builds: same users kept, same
items in the same column order, same scores, same popularity order — with and without time
decay, for any user filter (as test_scoring does for the serving rule)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from dimrec import partitions, pipeline
from dimrec.config import Settings
from dimrec.dates import to_day
from dimrec.evaluate.datasets import DataSpec
from dimrec.evaluate.fit import Config, window_matrix
from dimrec.params import TrainParams
from dimrec.train.local.matrix import build_matrix
from train.train_helpers import write_events

AS_OF = dt.date(2026, 5, 10)
DAYS = [AS_OF - dt.timedelta(days=n) for n in range(6, 0, -1)]
ACTIONS = ("browse", "basket", "purchase")


def _shop(seed: int) -> dict[dt.date, list[tuple[str, str, str]]]:
    """Shoppers with 1..12 events a day over 80 items (some repeat an item on several days)."""
    rng = np.random.default_rng(seed)
    days: dict[dt.date, list[tuple[str, str, str]]] = {}
    for day in DAYS:
        rows = []
        for user in rng.choice(400, 150, replace=False):
            for item in rng.choice(80, rng.integers(1, 13), replace=False):
                rows.append((f"u{user:03d}", f"i{item:02d}", ACTIONS[rng.integers(0, 3)]))
        days[day] = rows
    return days


@pytest.mark.parametrize(
    ("min_items", "max_items", "half_life"), [(2, 100, None), (3, 20, None), (2, 100, 2.0)]
)
def test_evaluation_window_matrix_equals_training(
    settings: Settings, min_items: int, max_items: int, half_life: float | None
) -> None:
    write_events(settings, _shop(5))
    pipeline.prepare_days(settings, DAYS)
    profiles = partitions.profiles(settings.paths.profiles_url())
    urls = [str(profiles.fs.unstrip_protocol(profiles.path(day))) for day in DAYS]
    trained = build_matrix(urls, min_items=min_items, max_items=max_items, half_life_days=half_life)

    events = DataSpec(first=DAYS[0], last=DAYS[-1]).load(settings.paths.events_url())
    params = TrainParams(min_items=min_items, max_items=max_items, half_life_days=half_life)
    evaluated = window_matrix(events, Config(params), as_of_day=to_day(DAYS[-1]))

    assert list(events.items[evaluated.items]) == trained.items.to_pylist()
    assert evaluated.matrix.shape == trained.matrix.shape
    assert np.array_equal(evaluated.matrix.indptr, trained.matrix.indptr)
    assert np.array_equal(evaluated.matrix.indices, trained.matrix.indices)
    if half_life is None:  # sums of the action weights: exact in both
        assert np.array_equal(evaluated.matrix.data, trained.matrix.data)
    else:
        np.testing.assert_allclose(evaluated.matrix.data, trained.matrix.data, rtol=1e-12)
    popular = list(events.items[evaluated.popular])
    assert popular == trained.popularity.column("item").to_pylist()
