"""The engine contract (dimrec.train.base), one suite for every engine.

A subclass only says how to make its engine (the ``engine`` fixture); every test compares
what the engine returns with an answer computed here without dimrec: the brute-force cosine
of the summed profiles, the popularity and counts by hand. Runs shared by several tests are
class-scoped fixtures (one training per engine and configuration).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from dimrec import partitions
from dimrec.errors import DataError, EngineError
from dimrec.params import ALGORITHMS, WEIGHTINGS, TrainParams
from dimrec.train.base import Engine, TrainResult
from dimrec.train.dimsum import dimsum_gamma
from train.engine_helpers import (
    AS_OF,
    Shop,
    count_twin_ties,
    decayed,
    lists,
    reference_cosine,
    reference_popularity,
    shop,
)

FILTER = {"min_items": 2, "max_items": 10}

Shopped = tuple[Shop, list[str]]


def assert_cosine_lists(
    result: TrainResult, scores: dict[tuple[str, str], float], k: int, atol: float = 1e-9
) -> None:
    """Every listed similarity equals dense NumPy cosine to ``atol``; each list holds the K
    best by (similarity desc, id asc), up to ties that the reference's own rounding splits;
    every item with a nonzero similarity has a list."""
    ref = reference_cosine(scores, **FILTER)
    index = {item: n for n, item in enumerate(ref.items)}
    got = lists(result.neighbours)
    assert sorted(got, key=str.encode) == [
        item for item in ref.items if (ref.cosine[index[item]] > 0).any()
    ]
    for item, listed in got.items():
        row = ref.cosine[index[item]]
        sims = np.array([s for _, s in listed])
        np.testing.assert_allclose(sims, row[[index[n] for n, _ in listed]], rtol=0, atol=atol)
        assert np.all(np.diff(sims) <= 0)
        expected = np.sort(row[row > 0])[::-1][:k]
        np.testing.assert_allclose(sims, expected, rtol=0, atol=atol)


def write_profiles(folder: Path, rows: list[tuple[str, str, float]]) -> list[str]:
    store = partitions.profiles(str(folder / "profiles"))
    day = AS_OF - dt.timedelta(days=1)
    columns = {
        "user": [r[0] for r in rows],
        "item": [r[1] for r in rows],
        "score": [r[2] for r in rows],
    }
    store.write(day, pa.table(columns, schema=partitions.PROFILES_SCHEMA))
    return [str(store.fs.unstrip_protocol(store.path(day)))]


class EngineContract:
    """Subclasses define the fixture ``engine`` (class-scoped or wider)."""

    @pytest.fixture(scope="class")
    @classmethod
    def shopped(cls, tmp_path_factory: pytest.TempPathFactory) -> Shopped:
        """1,500 shoppers, 200 items (+5 twins: exact ties) over 3 days, ids in many scripts."""
        data = shop(1500, 200, seed=11, twins=5)
        return data, data.write(str(tmp_path_factory.mktemp("engine") / "profiles"))

    @pytest.fixture(scope="class")
    @classmethod
    def exact(cls, engine: Engine, shopped: Shopped) -> TrainResult:
        return engine.train(shopped[1], TrainParams(algorithm="exact", top_k=1000, **FILTER))

    # ── 1–4: the window ────────────────────────────────────────────────────────────────
    def test_counts_are_the_window_by_hand(self, exact: TrainResult, shopped: Shopped) -> None:
        data, _ = shopped
        summed = data.summed()
        items_of: dict[str, set[str]] = defaultdict(set)
        for user, item in summed:
            items_of[user].add(item)
        kept = [u for u, items in items_of.items() if 2 <= len(items) <= 10]
        assert exact.counts == {
            "profiles": sum(t.num_rows for t in data.days.values()),
            "users": len(kept),
            "users_dropped": len(items_of) - len(kept),
            "items": len(set().union(*(items_of[u] for u in kept))),
            "pairs": exact.neighbours.num_rows,
        }
        assert exact.counts["users_dropped"] > 0  # the filter matters on this data

    def test_popularity_is_over_all_users_best_first(
        self, exact: TrainResult, shopped: Shopped
    ) -> None:
        rows = exact.popularity.to_pylist()
        expected = reference_popularity(shopped[0].summed())
        assert [(r["item"], r["score"], r["users"]) for r in rows] == expected

    # ── 5–6: exact cosine, canonical lists ─────────────────────────────────────────────
    @pytest.mark.parametrize("top_k", [3, 1000])
    def test_exact_cosine_matches_a_brute_force_reference(
        self, engine: Engine, exact: TrainResult, shopped: Shopped, top_k: int
    ) -> None:
        result = (
            exact
            if top_k == 1000
            else engine.train(shopped[1], TrainParams(algorithm="exact", top_k=top_k, **FILTER))
        )
        assert_cosine_lists(result, shopped[0].summed(), top_k)

    def test_exact_ties_break_by_id(self, exact: TrainResult) -> None:
        assert count_twin_ties(exact.neighbours) >= 50

    def test_cosine_lists_are_symmetric(self, exact: TrainResult) -> None:
        pairs = {(r["item"], r["neighbour"]): r["similarity"] for r in exact.neighbours.to_pylist()}
        assert all(pairs[(b, a)] == s for (a, b), s in pairs.items())

    # ── DIMSUM ─────────────────────────────────────────────────────────────────────────
    @pytest.mark.parametrize("threshold", [0.0, 1e-6])
    def test_dimsum_with_infinite_gamma_equals_exact(
        self, engine: Engine, exact: TrainResult, shopped: Shopped, threshold: float
    ) -> None:
        assert math.isinf(dimsum_gamma(threshold, 205))
        params = TrainParams(top_k=1000, algorithm="dimsum", threshold=threshold, seed=3, **FILTER)
        dimsum = engine.train(shopped[1], params)
        assert dimsum.neighbours.equals(exact.neighbours)
        assert dimsum.popularity.equals(exact.popularity)
        assert dimsum.counts == exact.counts

    def test_dimsum_is_seeded(self, engine: Engine, exact: TrainResult, shopped: Shopped) -> None:
        """The same seed gives the same model; another seed another sample."""
        params = TrainParams(top_k=1000, algorithm="dimsum", threshold=0.5, seed=7, **FILTER)
        assert dimsum_gamma(0.5, 205) < 20  # popular items are sampled
        first = engine.train(shopped[1], params)
        assert engine.train(shopped[1], params).neighbours.equals(first.neighbours)
        assert not first.neighbours.equals(exact.neighbours)
        other = engine.train(shopped[1], params.model_copy(update={"seed": 8}))
        assert not other.neighbours.equals(first.neighbours)

    def test_cosine_is_exact_unless_dimsum_pays(
        self,
        engine: Engine,
        exact: TrainResult,
        shopped: Shopped,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``cosine`` computes exact cosine on data this small; DIMSUM — the very model of
        ``dimsum`` with the same threshold and seed — once exact cosine counts as large
        and sampling saves enough; and says which it computed."""
        from dimrec.train import dimsum

        params = TrainParams(top_k=1000, algorithm="cosine", threshold=0.5, seed=7, **FILTER)
        small = engine.train(shopped[1], params)
        assert small.algorithm == "exact"
        assert small.neighbours.equals(exact.neighbours)
        monkeypatch.setattr(dimsum, "DIMSUM_FROM_PRODUCTS", 1.0)
        large = engine.train(shopped[1], params)
        assert large.algorithm == "dimsum"
        sampled = engine.train(shopped[1], params.model_copy(update={"algorithm": "dimsum"}))
        assert sampled.algorithm is None  # nothing was left to choose
        assert large.neighbours.equals(sampled.neighbours)
        assert not large.neighbours.equals(exact.neighbours)
        monkeypatch.setattr(dimsum, "DIMSUM_MAX_SHARE", 0.01)  # sampling does not save enough
        assert engine.train(shopped[1], params).algorithm == "exact"

    @pytest.mark.parametrize("factor", [6.0, 1 / 6])
    def test_dimsum_scores_times_c_give_the_same_sample(
        self, engine: Engine, shopped: Shopped, tmp_path: Path, factor: float
    ) -> None:
        """Every score × c: the same entries are kept with the same values, so the same
        pairs come out with the same similarities (to the rounding of the norms)."""
        data, urls = shopped
        scaled = Shop(
            {
                day: table.set_column(
                    2, "score", pa.array(np.asarray(table["score"]) * factor, pa.float64())
                )
                for day, table in data.days.items()
            }
        )
        params = TrainParams(top_k=1000, algorithm="dimsum", threshold=0.5, seed=7, **FILTER)
        first = engine.train(urls, params).neighbours.to_pydict()
        again = engine.train(scaled.write(str(tmp_path / "profiles")), params)
        second = again.neighbours.to_pydict()
        assert len(first["item"]) > 1000
        pairs = list(zip(first["item"], first["neighbour"], strict=True))
        assert sorted(pairs) == sorted(zip(second["item"], second["neighbour"], strict=True))
        sims = dict(zip(pairs, first["similarity"], strict=True))
        for item, neighbour, similarity in zip(*second.values(), strict=True):
            assert abs(similarity - sims[(item, neighbour)]) <= 2e-12

    @pytest.mark.slow
    def test_dimsum_at_threshold_01_is_within_20_percent(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        """DIMSUM's guarantee: similarities ≥ threshold estimated within 20% relative error
        for (here) ≥ 95% of those pairs, over all of them and over those where sampling
        happens (an item with an entry kept with probability γ·score/‖c‖ < 1); pairs of two
        unsampled items are exact. Weighted scores (0.5 / 2 / 6, summed over days)."""
        data = shop(20_000, 500, seed=4, themes=25, n_days=2)
        urls = data.write(str(tmp_path / "profiles"))
        ref = reference_cosine(data.summed(), min_items=2, max_items=100)
        n = len(ref.items)
        params = TrainParams(algorithm="dimsum", threshold=0.1, top_k=n, seed=0, max_items=100)
        table = engine.train(urls, params).neighbours.to_pydict()
        index = {item: i for i, item in enumerate(ref.items)}
        estimate = np.zeros((n, n))
        rows = [index[i] for i in table["item"]]
        estimate[rows, [index[j] for j in table["neighbour"]]] = table["similarity"]
        summed = data.summed()
        distinct: dict[str, int] = defaultdict(int)
        for user, _ in summed:
            distinct[user] += 1
        squares: dict[str, float] = defaultdict(float)
        smallest: dict[str, float] = defaultdict(lambda: math.inf)
        for (user, item), score in summed.items():
            if 2 <= distinct[user] <= 100:
                squares[item] += score * score
                smallest[item] = min(smallest[item], score)
        gamma = dimsum_gamma(0.1, n)
        sampled = np.array(
            [gamma * smallest[item] / math.sqrt(squares[item]) < 1 for item in ref.items]
        )
        assert sampled.sum() >= 20
        above = ref.cosine >= 0.1
        involved = above & (sampled[:, None] | sampled[None, :])
        assert involved.sum() // 2 >= 300
        within = np.abs(estimate - ref.cosine) <= 0.2 * ref.cosine
        assert within[above].mean() >= 0.95
        assert within[involved].mean() >= 0.95
        plain = ~(sampled[:, None] | sampled[None, :])
        assert plain.sum() > 100
        np.testing.assert_allclose(estimate[plain], ref.cosine[plain], rtol=0, atol=1e-11)

    # ── time decay ─────────────────────────────────────────────────────────────────────
    def test_time_decay_weighs_each_day_by_its_age(
        self, engine: Engine, exact: TrainResult, shopped: Shopped
    ) -> None:
        data, urls = shopped
        result = engine.train(
            urls, TrainParams(algorithm="exact", top_k=1000, half_life_days=2.0, **FILTER)
        )
        assert_cosine_lists(result, decayed(data, 2.0), 1000)
        assert not result.neighbours.equals(exact.neighbours)
        scores = {r["item"]: r["score"] for r in result.popularity.to_pylist()}
        expected = {item: score for item, score, _ in reference_popularity(decayed(data, 2.0))}
        assert scores.keys() == expected.keys()
        np.testing.assert_allclose(
            [scores[i] for i in expected], list(expected.values()), rtol=1e-12
        )
        with pytest.raises(DataError, match="needs the day of each profile file"):
            engine.train(
                ["/tmp/profiles.parquet"], TrainParams(algorithm="exact", half_life_days=2.0)
            )

    # ── what it computes, and what not ─────────────────────────────────────────────────
    def test_declared_algorithms_train_and_others_are_refused(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        data = shop(200, 30, seed=5)
        urls = data.write(str(tmp_path / "profiles"))
        events = data.write_events(str(tmp_path / "events"))
        for algorithm in ALGORITHMS:
            params = TrainParams(algorithm=algorithm, top_k=4, **FILTER)
            ordered = events if params.ordered else None
            if algorithm in engine.algorithms:
                result = engine.train(urls, params, event_urls=ordered)
                assert result.neighbours.num_rows > 0
            else:
                with pytest.raises(EngineError, match=f"algorithm '{algorithm}'"):
                    engine.train(urls, params, event_urls=ordered)
        for weighting in WEIGHTINGS:
            params = TrainParams(algorithm="exact", weighting=weighting, top_k=4, **FILTER)
            if weighting in engine.weightings:
                assert engine.train(urls, params).neighbours.num_rows > 0
            else:
                with pytest.raises(EngineError, match=f"weighting '{weighting}'"):
                    engine.train(urls, params)
        assert "exact" in engine.algorithms
        assert "none" in engine.weightings

    def test_bad_input_is_a_clear_error(self, engine: Engine, tmp_path: Path) -> None:
        with pytest.raises(DataError, match="no profile files"):
            engine.train([], TrainParams(algorithm="exact"))
        with pytest.raises(DataError, match="hold no profiles"):
            engine.train(write_profiles(tmp_path / "empty", []), TrainParams(algorithm="exact"))
        lonely = write_profiles(tmp_path / "lonely", [("u1", "A", 1.0), ("u2", "B", 1.0)])
        with pytest.raises(DataError, match=r"min_items=2 and max_items=100.*2 users were all"):
            engine.train(lonely, TrainParams(algorithm="exact"))
        negative = write_profiles(tmp_path / "negative", [("u1", "A", 1.0), ("u1", "B", -2.0)])
        with pytest.raises(DataError, match="negative"):
            engine.train(negative, TrainParams(algorithm="exact"))

    def test_reads_profiles_from_any_fsspec_url(self, engine: Engine, request: Any) -> None:
        data = shop(300, 40, seed=5)
        urls = data.write(f"memory://engine-contract-{request.node.name}/profiles")
        result = engine.train(urls, TrainParams(algorithm="exact", top_k=4, **FILTER))
        assert_cosine_lists(result, data.summed(), 4)
