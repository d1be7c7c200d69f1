"""What only the Spark engine does, beyond the engine contract (test_engine_spark.py): its
results equal the local engine's bit for bit (exact, either way of summing; DIMSUM on any
partitioning), its top-K and fixed-point sums are right, and parameters it does not
compute are refused before a session starts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from dimrec.errors import EngineError
from dimrec.params import TrainParams
from dimrec.train.base import TrainResult
from dimrec.train.dimsum import dimsum_gamma
from dimrec.train.local.engine import LocalEngine
from train.engine_helpers import Shop, count_twin_ties, shop

pytestmark = pytest.mark.spark

FILTER = {"min_items": 2, "max_items": 10}


@pytest.fixture(scope="module")
def parity_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Shop, list[str]]:
    """1,500 shoppers, 200 items (+5 twins: exact ties) over 3 days, ids in many scripts."""
    data = shop(1500, 200, seed=11, twins=5)
    return data, data.write(str(tmp_path_factory.mktemp("parity") / "profiles"))


def assert_same_result(spark: TrainResult, local: TrainResult) -> None:
    assert spark.counts == local.counts
    assert spark.neighbours.schema == local.neighbours.schema
    assert spark.neighbours.equals(local.neighbours)
    assert spark.popularity.equals(local.popularity)


@pytest.mark.parametrize("top_k", [3, 1000])
def test_exact_equals_the_local_engine_bit_for_bit(
    spark_engine: Any, parity_shop: tuple[Shop, list[str]], top_k: int
) -> None:
    """Same tables, same order, same bits: both engines add the same rounded products as
    integers (and round to 12 decimals), so even exact ties (the twins) and their tie-break
    by id come out the same; near-ties cannot flip."""
    data, urls = parity_shop
    params = TrainParams(algorithm="exact", top_k=top_k, **FILTER)
    spark = spark_engine.train(urls, params)
    local = LocalEngine(threads=2).train(urls, params)
    assert_same_result(spark, local)
    assert spark.counts["users_dropped"] > 0  # the filter matters on this data
    assert spark.counts["profiles"] == sum(t.num_rows for t in data.days.values())
    assert count_twin_ties(spark.neighbours) >= (50 if top_k == 1000 else 1)


@pytest.mark.parametrize("combine", [True, False])
def test_exact_sums_before_or_after_the_shuffle_equal_the_local_engine(
    spark_engine: Any,
    parity_shop: tuple[Shop, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    combine: bool,
) -> None:
    """Both ways of adding a pair's products (combined in each map task for dense data,
    sorted by pair after the shuffle for sparse data) give the local engine's bits."""
    from dimrec.train.spark import similarity

    monkeypatch.setattr(similarity, "COMBINE_DENSITY", 0.0 if combine else math.inf)
    _, urls = parity_shop
    params = TrainParams(algorithm="exact", top_k=1000, seed=5, **FILTER)
    assert_same_result(spark_engine.train(urls, params), LocalEngine().train(urls, params))


@pytest.mark.parametrize(
    ("user_pairs", "n_items", "partitions", "expected"),
    [
        (10_000_000, 1682, 16, True),  # ml-100k-like: each task holds ~0.4 of all pairs
        (66_000_000, 200_000, 16, False),  # 1M × 200k shop: 2·10⁻⁴
        (100, 1, 4, False),  # one item: no pairs
        (0, 0, 4, False),
    ],
)
def test_pair_sums_combine_only_dense_data(
    user_pairs: int, n_items: int, partitions: int, expected: bool
) -> None:
    from dimrec.train.spark.similarity import combines

    assert combines(user_pairs, n_items, partitions) is expected


def test_dimsum_is_reproducible_on_any_partitioning(
    spark: Any, spark_engine: Any, parity_shop: tuple[Shop, list[str]]
) -> None:
    """The draws hash (seed, user, item) and sampled sums add integers: the same seed gives
    the same model whatever the number of partitions (the contract checks the seed)."""
    _, urls = parity_shop
    params = TrainParams(top_k=3, algorithm="dimsum", threshold=0.5, seed=7, **FILTER)
    assert dimsum_gamma(0.5, 205) < 20  # popular items are sampled
    before = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        spark.conf.set("spark.sql.shuffle.partitions", "3")
        first = spark_engine.train(urls, params)
        spark.conf.set("spark.sql.shuffle.partitions", "7")
        second = spark_engine.train(urls, params)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    assert_same_result(second, first)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"algorithm": "rp3beta"}, "not supported on the spark engine.*--engine local"),
        ({"algorithm": "ease"}, "not supported on the spark engine.*--engine local"),
        ({"weighting": "bm25"}, "weighting 'bm25' is not supported on the spark engine"),
    ],
)
def test_unsupported_parameters_are_refused(update: dict[str, Any], message: str) -> None:
    from dimrec.train.spark import SparkEngine

    engine = SparkEngine()  # refused before any session starts
    with pytest.raises(EngineError, match=message):
        engine.train(["unused.parquet"], TrainParams(**{"algorithm": "exact", **update}))
    assert engine._session is None


@pytest.mark.parametrize(("n_items", "at_most_one"), [(10, True), (1 << 23, True), (10, False)])
def test_top_k_keeps_the_canonical_best(spark: Any, n_items: int, at_most_one: bool) -> None:
    """Both ways of cutting lists (one packed long per candidate for cosines of fewer than
    2**23 items, structs otherwise) keep each item's best K by (similarity desc, neighbour
    asc), ties included."""
    from dimrec.train.spark.similarity import top_k

    pairs = [(0, 1, 0.5), (0, 2, 0.5), (0, 3, 0.75), (1, 2, 1.0), (2, 3, 0.25), (1, 3, 0.5)]
    frame = spark.createDataFrame(pairs, "i int, j int, similarity double")
    got = sorted(top_k(frame, 2, n_items, at_most_one=at_most_one).collect())
    expected = {
        0: [(3, 0.75), (1, 0.5)],
        1: [(2, 1.0), (0, 0.5)],
        2: [(1, 1.0), (0, 0.5)],
        3: [(0, 0.75), (1, 0.5)],
    }
    assert got == sorted((i, n, s) for i, best in expected.items() for n, s in best)


@pytest.mark.parametrize("combine", [True, False])
@pytest.mark.parametrize(("gamma", "outlier"), [(5.0, None), (3.0, 1e6), (0.2, None)])
def test_sampled_sums_equal_the_sums_of_the_kept_products(
    spark: Any, gamma: float, outlier: float | None, combine: bool
) -> None:
    """The fixed-point sums of a sampled DIMSUM run equal the float sums of the very entries
    it kept (collected and added with NumPy), within the rounding the bits allow — also when
    a small γ leaves fewer fraction bits; kept entries are worth max(score/‖c‖, 1/γ)."""
    from dimrec.train.spark.matrix import SparkWindow
    from dimrec.train.spark.similarity import pair_sums, scaled_entries

    rng = np.random.default_rng(5)
    n_users, n_items = 300, 12
    dense = rng.integers(0, 4, (n_users, n_items)) * rng.uniform(0.5, 5, (n_users, n_items))
    if outlier is not None:
        dense[:, -1] = 0.0
        dense[0, -1] = outlier
    users, items = np.nonzero(dense)
    entries = spark.createDataFrame(
        pa.table(
            {
                "user": pa.array([f"u{u:04d}" for u in users]),
                "item": pa.array([f"i{i:02d}" for i in items]),
                "score": pa.array(dense[users, items]),
            }
        )
    )
    norms = np.sqrt((dense**2).sum(axis=0))
    window = SparkWindow(
        entries=entries,
        items=pa.array([f"i{i:02d}" for i in range(n_items)]),
        norms=norms,
        smallest=np.where(dense > 0, dense, np.inf).min(axis=0),
        most_entries=int((dense > 0).sum(axis=0).max()),
        popularity=pa.table({}),
        counts={},
        persisted=(),
        user_pairs=0,  # pair_sums is called directly below
    )
    scaled, sampled, bits = scaled_entries(spark, window, gamma, seed=1)
    assert sampled >= n_items - 1
    # Sums are ≤ ‖b_i‖·‖b_j‖ ≤ 1 + entries/γ²: a small γ leaves fewer fraction bits.
    assert bits == 52 if gamma > 1 else bits < 52
    kept = scaled.toArrow()
    assert 10 < kept.num_rows < len(users) / 2  # sampled: most entries dropped
    rows = [int(u[1:]) for u in kept.column("user").to_pylist()]
    columns = kept.column("idx").to_numpy()
    values = kept.column("v").to_numpy()
    np.testing.assert_array_equal(values, np.maximum((dense / norms)[rows, columns], 1 / gamma))
    kept_matrix = np.zeros((n_users, n_items))
    kept_matrix[rows, columns] = values
    expected = kept_matrix.T @ kept_matrix
    got = pair_sums(scaled, n_items, bits, partitions=3, combine=combine).toArrow()
    i, j = got.column("i").to_numpy(), got.column("j").to_numpy()
    tolerance = n_users * 2.0 ** -(bits + 1) + 5e-13  # each product's rounding, then 12 decimals
    similarity = got.column("similarity").to_numpy()
    np.testing.assert_allclose(similarity, expected[i, j], atol=tolerance, rtol=0)
    upper = np.triu(np.abs(expected) > tolerance, k=1)
    assert upper.sum() == len(i)
    assert np.all(upper[i, j])
