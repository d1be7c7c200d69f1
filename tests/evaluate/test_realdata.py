"""The loaders and an evaluation on the real public data (small slices; full runs are in
bench/evaluate_quality.py). Skipped when ../shared/data is absent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from dimrec.evaluate.datasets import DataSpec, load_dataset
from dimrec.evaluate.fit import Config
from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.runner import evaluate
from dimrec.evaluate.split import SplitSpec
from dimrec.evaluate.systems import parse_systems
from dimrec.params import TrainParams

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_loaders_match_the_published_counts(shared_data: Path) -> None:
    # ml-100k: 34,174 ratings of 4 and 21,201 of 5 (u.info / README distribution).
    ml100k = load_dataset("movielens-100k", shared_data)
    assert ml100k.num_rows == 34_174 + 21_201
    # ml-latest-small: 26,818 of 4.0, 8,551 of 4.5 and 13,211 of 5.0.
    assert load_dataset("movielens-small", shared_data).num_rows == 26_818 + 8_551 + 13_211
    # UCI Online Retail cleaned the usual way: 397,924 lines, 4,339 customers, 3,665 codes.
    retail = Interactions.from_table(load_dataset("online-retail", shared_data))
    assert (len(retail), retail.n_users, retail.n_items) == (397_924, 4_339, 3_665)
    assert retail.first_day() == dt.date(2010, 12, 1)
    assert retail.last_day() == dt.date(2011, 12, 9)
    ga = Interactions.from_table(load_dataset("ga360-sample", shared_data))
    assert set(np.unique(ga.action).tolist()) == {0, 1, 2}
    assert ga.first_day() == dt.date(2016, 8, 1)


def test_ml100k_per_user_split_slice(shared_data: Path) -> None:
    # The first 300 users of ml-100k: personalised lists beat popularity.
    events = DataSpec("movielens-100k", str(shared_data)).load("unused")
    events = events.select(np.isin(events.users[events.user].astype(int), np.arange(1, 301)))
    systems = parse_systems(
        ["exact:tfidf", "rp3beta:beta=0.5", "popularity"], Config(TrainParams(max_items=1000))
    )
    result = evaluate(events, SplitSpec(per_user_fraction=0.2).make(events), systems, ks=(10,))
    assert result.shoppers == 300  # every one of them has two or more positives
    for name in ("exact:tfidf", "rp3beta:beta=0.5"):
        assert result.difference(name, "popularity").low > 0, name
    assert any("noise" in note for note in result.notes)


def test_online_retail_slice(shared_data: Path) -> None:
    # Three months, cut-off at 80% of them; purchases are the targets.
    spec = DataSpec(
        "online-retail", str(shared_data), first=dt.date(2010, 12, 1), last=dt.date(2011, 2, 28)
    )
    events = spec.load("unused")
    systems = parse_systems(["exact:tfidf", "popularity"], Config(TrainParams()))
    split = SplitSpec(cutoff_fraction=0.8).make(events)
    result = evaluate(events, split, systems, ks=(10,), target_actions=["purchase"])
    assert result.shoppers > 100
    exact = result.system("exact:tfidf")
    assert exact.fallback_share < 0.1
    assert result.difference("exact:tfidf", "popularity").low > 0
