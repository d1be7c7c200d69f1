"""Tuning on several validation folds: each carved from the one before, every trial scored
on each, the choice by their mean; the test never among them."""

from __future__ import annotations

import pytest
from evaluate_helpers import SMALL_GRID, day, interactions, paired_shop

from dimrec.errors import InvalidInputError
from dimrec.evaluate.fit import Config
from dimrec.evaluate.split import TimeSplit
from dimrec.evaluate.tune import search, tune, validation_folds

GRID = SMALL_GRID.model_copy(update={"blend_weights": [], "blend_max_weights": []})


def test_each_fold_moves_the_cut_off_back_by_the_test_length() -> None:
    ev = interactions(paired_shop(days=8))
    folds = validation_folds(ev, TimeSplit(day(5), test_days=2), 2)
    assert [rule for rule, _ in folds] == [TimeSplit(day(3), 2), TimeSplit(day(1), 2)]
    # each fold's events end at the cut-off before it: never the test's days
    assert [int(events.day.max()) for _, events in folds] == [
        int(ev.day.min()) + 5,
        int(ev.day.min()) + 3,
    ]


def test_a_trial_scores_on_every_fold_and_weighs_them_the_same() -> None:
    ev = interactions(paired_shop(days=8))
    split = TimeSplit(day(5), test_days=1)
    one = [search([fold], base=Config(), grid=GRID) for fold in validation_folds(ev, split, 2)]
    both = search(validation_folds(ev, split, 2), base=Config(), grid=GRID)
    for trial in both.trials:
        alone = [next(t for t in s.trials if t.config.key() == trial.config.key()) for s in one]
        assert trial.folds == pytest.approx([a.ndcg for a in alone])
        assert trial.ndcg == pytest.approx(sum(trial.folds) / 2)
        assert len(trial.values) == sum(len(a.values) for a in alone)


def test_tune_on_two_folds_names_both_validation_splits() -> None:
    ev = interactions(paired_shop(days=8))
    result = tune(ev, TimeSplit(day(5), test_days=1), base=Config(), grid=GRID, folds=2)
    assert result.validation.count("time split") == 2
    assert all(len(t.folds) == 2 for t in result.trials)


def test_at_least_one_fold() -> None:
    ev = interactions(paired_shop(days=8))
    with pytest.raises(InvalidInputError, match="at least 1 validation fold"):
        validation_folds(ev, TimeSplit(day(5)), 0)
