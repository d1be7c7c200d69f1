"""Whole evaluations on a shop whose right answers are known."""

from __future__ import annotations

import math

import pytest
from evaluate_helpers import day, interactions, paired_shop

from dimrec.errors import InvalidInputError
from dimrec.evaluate.fit import Config, implicit_available
from dimrec.evaluate.runner import Candidate, evaluate
from dimrec.evaluate.split import TimeSplit
from dimrec.evaluate.systems import DEFAULT_SYSTEMS, parse_system, parse_systems
from dimrec.params import TrainParams

SYSTEMS = [
    Candidate("exact", "dimrec", Config(TrainParams(algorithm="exact"))),
    Candidate("rp3beta", "dimrec", Config(TrainParams(algorithm="rp3beta"))),
    Candidate("ease", "dimrec", Config(TrainParams(algorithm="ease", ease_lambda=1.0))),
    Candidate("tfidf", "dimrec", Config(TrainParams(algorithm="exact", weighting="tfidf"))),
    Candidate("popularity", "popularity"),
]


def test_neighbours_find_the_pair_and_popularity_does_not() -> None:
    ev = interactions(paired_shop(days=4))
    result = evaluate(ev, TimeSplit(day(2)), SYSTEMS, ks=(1, 10, 20))
    # The 10 shoppers of day 2 (they looked at a{k} on day 2, buy b{k} on day 3).
    assert result.shoppers == 10
    assert result.catalogue == 21  # a0..a9, b0..b9, pop
    for name in ("exact", "rp3beta", "ease", "tfidf"):
        s = result.system(name)
        assert s.mean("hr", 1) == 1.0, name
        assert s.mean("ndcg", 10) == pytest.approx(1.0), name
        assert s.mean("precision", 10) == pytest.approx(0.1), name
        assert s.mean("recall", 1) == 1.0, name
        assert s.mean("map", 10) == pytest.approx(1.0), name
        assert s.coverage[1] == pytest.approx(10 / 21), name
        assert s.fallback_share == 0.0, name
    pop = result.system("popularity")
    assert pop.fallback_share == 1.0
    # Popularity over days 0–2: pop (720), then every b (5 teachers × 3 days × 6 + two
    # shoppers' purchases = 102), then every a (90 + three looks × 0.5): b{k} is at rank 2 + k.
    assert pop.mean("hr", 1) == 0.0
    assert pop.mean("hr", 10) == pytest.approx(0.9)
    assert pop.mean("hr", 20) == 1.0
    expected = sum(1 / math.log2(2 + k + 1) for k in range(9)) / 10
    assert pop.mean("ndcg", 10) == pytest.approx(expected)
    assert pop.coverage[1] == pytest.approx(1 / 21)
    diff = result.difference("exact", "popularity")
    assert diff.mean == pytest.approx(1.0 - expected)
    assert 0 < diff.low < diff.mean < diff.high
    assert any("noise" in note for note in result.notes)


def test_window_and_user_filter_change_what_is_known() -> None:
    ev = interactions(paired_shop(days=4))
    # A window of one day still holds day 2's teachers; the query is day 2's look at a{k}.
    one_day = Candidate("1d", "dimrec", Config(TrainParams(), window_days=1))
    # With max_items = 1 every teacher is left out: no lists, so everyone falls back.
    nobody = Candidate("none", "dimrec", Config(TrainParams(min_items=1, max_items=1)))
    result = evaluate(ev, TimeSplit(day(2)), [one_day, nobody], ks=(10,))
    assert result.system("1d").mean("hr", 10) == 1.0
    assert result.system("none").fallback_share == 1.0


@pytest.mark.skipif(not implicit_available(), reason="implicit is not installed")
def test_implicit_baselines_run_on_the_same_matrix() -> None:
    ev = interactions(paired_shop(days=4))
    candidates = parse_systems(["implicit-cosine", "implicit-bm25"], Config(TrainParams()))
    result = evaluate(ev, TimeSplit(day(2)), candidates, ks=(1,))
    for s in result.systems:
        assert s.mean("hr", 1) == 1.0, s.name
        assert s.pairs == 20  # a{k} ↔ b{k}, both directions; the item itself left out


def test_parse_systems() -> None:
    base = Config(TrainParams(top_k=50))
    names = [c.name for c in parse_systems(DEFAULT_SYSTEMS, base)]
    assert names == [
        "blend",
        "exact",
        "dimsum:0.1",
        "dimsum:0.5",
        "rp3beta",
        "ease",
        "sequential",
        "popularity",
        "implicit cosine",
        "implicit BM25",
    ]
    rp3 = parse_system("rp3beta:alpha=0.8,beta=0.3,window=14,half_life=30", base)
    assert rp3.config.params.rp3_alpha == 0.8
    assert rp3.config.params.rp3_beta == 0.3
    assert rp3.config.params.top_k == 50
    assert rp3.config.window_days == 14
    assert rp3.config.params.half_life_days == 30.0
    assert parse_system("dimsum:0.3", base).config.params.threshold == 0.3
    assert parse_system("exact:bm25", base).config.params.weighting == "bm25"
    weighted = parse_system("exact:weights=1/4/8", base).config.params.weights
    assert weighted == {"browse": 1.0, "basket": 4.0, "purchase": 8.0}
    with pytest.raises(InvalidInputError, match="browse/basket/purchase"):
        parse_system("exact:weights=1/4", base)
    assert parse_system("cosine", base).config.params.algorithm == "cosine"
    with pytest.raises(InvalidInputError, match="unknown system 'cosinus'"):
        parse_system("cosinus", base)
    with pytest.raises(InvalidInputError, match="threshold"):
        parse_system("dimsum:1.5", base)
    with pytest.raises(InvalidInputError, match="unknown option 'gamma'"):
        parse_system("ease:gamma=3", base)
    with pytest.raises(InvalidInputError, match="listed twice"):
        parse_systems(["ease", "ease"], base)


def test_ease_above_its_catalogue_limit_is_skipped_with_a_note() -> None:
    ev = interactions(paired_shop(days=4))
    candidates = [
        Candidate("ease", "dimrec", Config(TrainParams(algorithm="ease", ease_max_items=5))),
        Candidate("exact", "dimrec", Config(TrainParams())),
    ]
    result = evaluate(ev, TimeSplit(day(2)), candidates, ks=(10,))
    assert [s.name for s in result.systems] == ["exact"]
    assert any("ease: skipped" in n and "ease_max_items = 5" in n for n in result.notes)


def test_a_system_takes_any_training_parameter_by_name() -> None:
    [candidate] = parse_systems(["rp3beta:rp3_beta=0.3,ease_max_items=10"], Config())
    assert candidate.config.params.rp3_beta == 0.3
    assert candidate.config.params.ease_max_items == 10
