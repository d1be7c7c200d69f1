"""The Spark engine against the local engine and a brute-force reference: exact cosine bit for
bit, DIMSUM at γ = ∞ equal to exact, DIMSUM at threshold 0.1 within its error bound,
reproducible on any partitioning; unsupported parameters and empty input refused."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from spark_helpers import AS_OF, Shop, lists, reference_cosine, shop

from dimrec import partitions
from dimrec.errors import DataError, EngineError
from dimrec.params import TrainParams
from dimrec.train.base import TrainResult
from dimrec.train.dimsum import dimsum_gamma
from dimrec.train.local.engine import LocalEngine

pytestmark = pytest.mark.spark

FILTER = {"min_items": 2, "max_items": 10}


@pytest.fixture(scope="module")
def parity_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Shop, list[str]]:
    """1,500 shoppers, 200 items (+5 twins: exact ties) over 3 days, ids in many scripts."""
    data = shop(1500, 200, seed=11, twins=5)
    return data, data.write(str(tmp_path_factory.mktemp("parity") / "profiles"))


_RESULTS: dict[tuple[tuple[str, ...], str], TrainResult] = {}


def train(engine: Any, urls: list[str], params: TrainParams) -> TrainResult:
    """``engine.train``, remembered per (files, parameters): tests share runs."""
    key = (tuple(urls), params.model_dump_json())
    if key not in _RESULTS:
        _RESULTS[key] = engine.train(urls, params)
    return _RESULTS[key]


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
    params = TrainParams(top_k=top_k, **FILTER)
    spark = train(spark_engine, urls, params)
    local = LocalEngine(threads=2).train(urls, params)
    assert_same_result(spark, local)
    assert spark.counts["users_dropped"] > 0  # the filter matters on this data
    assert spark.counts["profiles"] == sum(t.num_rows for t in data.days.values())
    # Each twin ties its original in every list holding both: the lower id comes first.
    tied = 0
    for listed in lists(spark.neighbours).values():
        position = {n: p for p, (n, _) in enumerate(listed)}
        for name, p in position.items():
            twin = position.get(f"{name}-twin")
            if twin is not None:
                assert twin == p + 1 and listed[p][1] == listed[twin][1]
                tied += 1
    assert tied >= (50 if top_k == 1000 else 1)


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
    params = TrainParams(top_k=1000, seed=5, **FILTER)
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


def test_exact_matches_a_brute_force_reference(
    spark_engine: Any, parity_shop: tuple[Shop, list[str]]
) -> None:
    """Every listed similarity equals dense NumPy cosine to 1e-9; each list holds the K
    best by (similarity desc, id asc), up to ties that the reference's own rounding splits."""
    data, urls = parity_shop
    k = 3
    result = train(spark_engine, urls, TrainParams(top_k=k, **FILTER))
    ref = reference_cosine(data.summed(), **FILTER)
    index = {item: n for n, item in enumerate(ref.items)}
    got = lists(result.neighbours)
    assert sorted(got, key=str.encode) == [
        item for item in ref.items if (ref.cosine[index[item]] > 0).any()
    ]
    for item, listed in got.items():
        row = ref.cosine[index[item]]
        sims = np.array([s for _, s in listed])
        np.testing.assert_allclose(sims, row[[index[n] for n, _ in listed]], rtol=0, atol=1e-9)
        assert np.all(np.diff(sims) <= 0)
        expected = np.sort(row[row > 0])[::-1][:k]
        np.testing.assert_allclose(sims, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("threshold", [0.0, 1e-6])
def test_dimsum_with_infinite_gamma_equals_exact(
    spark_engine: Any, parity_shop: tuple[Shop, list[str]], threshold: float
) -> None:
    _, urls = parity_shop
    assert math.isinf(dimsum_gamma(threshold, 205))
    exact = train(spark_engine, urls, TrainParams(top_k=3, **FILTER))
    dimsum = spark_engine.train(
        urls, TrainParams(top_k=3, algorithm="dimsum", threshold=threshold, seed=3, **FILTER)
    )
    assert_same_result(dimsum, exact)


def test_dimsum_at_threshold_01_is_within_20_percent(spark_engine: Any, tmp_path: Path) -> None:
    """DIMSUM's guarantee: similarities ≥ threshold estimated within 20% relative error for
    (here) ≥ 95% of those pairs — over all of them and over those where sampling happens
    (an item with ‖c‖ > γ); pairs of two unsampled items are exact. 0/1 scores, as in the
    local engine's test: with 0.5/2/6 scores a row's contribution varies 12-fold and the
    scheme's γ no longer gives 20% (see tests/train/test_similarity_dimsum.py)."""
    data = shop(20_000, 500, seed=4, themes=25, binary=True, n_days=2)
    urls = data.write(str(tmp_path / "profiles"))
    ref = reference_cosine(data.summed(), min_items=2, max_items=100)
    n = len(ref.items)
    result = spark_engine.train(
        urls, TrainParams(algorithm="dimsum", threshold=0.1, top_k=n, seed=0, max_items=100)
    )
    index = {item: i for i, item in enumerate(ref.items)}
    table = result.neighbours.to_pydict()
    estimate = np.zeros((n, n))
    estimate[[index[i] for i in table["item"]], [index[j] for j in table["neighbour"]]] = table[
        "similarity"
    ]
    squares: dict[str, float] = defaultdict(float)
    for (_, item), score in data.summed().items():
        squares[item] += score * score
    sampled = np.array([math.sqrt(squares[item]) > dimsum_gamma(0.1, n) for item in ref.items])
    assert sampled.sum() >= 20
    above = ref.cosine >= 0.1
    involved = above & (sampled[:, None] | sampled[None, :])
    assert involved.sum() // 2 >= 300
    within = np.abs(estimate - ref.cosine) <= 0.2 * ref.cosine
    assert within[above].mean() >= 0.95
    assert within[involved].mean() >= 0.95  # 0.977 for this seed; 0.967–0.981 for seeds 0–3
    plain = ~(sampled[:, None] | sampled[None, :])
    np.testing.assert_allclose(estimate[plain], ref.cosine[plain], rtol=0, atol=1e-11)


def test_dimsum_is_reproducible_on_any_partitioning(
    spark: Any, spark_engine: Any, parity_shop: tuple[Shop, list[str]]
) -> None:
    """The draws hash (seed, user, item) and sampled sums add integers: the same seed gives
    the same model whatever the number of partitions; another seed another sample."""
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
    exact = train(spark_engine, urls, TrainParams(top_k=3, **FILTER))
    assert not first.neighbours.equals(exact.neighbours)
    other = spark_engine.train(urls, params.model_copy(update={"seed": 8}))
    assert not other.neighbours.equals(first.neighbours)


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
        engine.train(["unused.parquet"], TrainParams(**update))
    assert engine._session is None


def _profiles(tmp_path: Path, rows: list[tuple[str, str, float]]) -> list[str]:
    store = partitions.profiles(str(tmp_path / "profiles"))
    day = AS_OF - dt.timedelta(days=1)
    store.write(
        day,
        pa.table(
            {
                "user": [r[0] for r in rows],
                "item": [r[1] for r in rows],
                "score": [r[2] for r in rows],
            }
        ),
    )
    return [str(store.fs.unstrip_protocol(store.path(day)))]


def test_bad_input_is_a_clear_error(spark_engine: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no profile files"):
        spark_engine.train([], TrainParams())
    empty = _profiles(tmp_path / "empty", [])
    with pytest.raises(DataError, match="hold no profiles"):
        spark_engine.train(empty, TrainParams())
    lonely = _profiles(tmp_path / "lonely", [("u1", "A", 1.0), ("u2", "B", 1.0)])
    with pytest.raises(DataError, match=r"min_items=2 and max_items=100.*2 users were all left"):
        spark_engine.train(lonely, TrainParams())
    negative = _profiles(tmp_path / "negative", [("u1", "A", 1.0), ("u1", "B", -2.0)])
    with pytest.raises(DataError, match="1 of the window's summed scores are negative"):
        spark_engine.train(negative, TrainParams())


def test_reads_profiles_that_only_fsspec_can_open(spark_engine: Any) -> None:
    """memory:// files are read on the driver and handed to Spark through Arrow."""
    data = shop(300, 40, seed=5)
    urls = data.write("memory://spark-test/profiles")
    params = TrainParams(top_k=4, **FILTER)
    assert_same_result(spark_engine.train(urls, params), LocalEngine().train(urls, params))


def assert_lists_close(a: pa.Table, b: pa.Table, tol: float = 1e-9) -> None:
    """The same lists up to floating point: equal similarities within ``tol``, and a
    neighbour only in one list ties (within ``tol``) that list's last similarity."""
    la, lb = lists(a), lists(b)
    assert la.keys() == lb.keys()
    for item, first in la.items():
        one, other = dict(first), dict(lb[item])
        for n in one.keys() & other.keys():
            assert abs(one[n] - other[n]) <= tol
        for extra, listed in (
            (one.keys() - other.keys(), first),
            (other.keys() - one.keys(), lb[item]),
        ):
            for n in extra:
                assert abs(dict(listed)[n] - listed[-1][1]) <= tol


def test_time_decay_equals_the_local_engine(
    spark_engine: Any, parity_shop: tuple[Shop, list[str]]
) -> None:
    """Each day's scores × 0.5^(age/half-life) before the sum: the same factors as locally;
    the decayed sums are no longer exact in binary, so equal to rounding (and the lists up
    to near-ties)."""
    _, urls = parity_shop
    params = TrainParams(top_k=5, half_life_days=2.0, **FILTER)
    spark = spark_engine.train(urls, params)
    local = LocalEngine(threads=2).train(urls, params)
    assert spark.counts == local.counts
    assert_lists_close(spark.neighbours, local.neighbours)
    plain = train(spark_engine, urls, TrainParams(top_k=5, **FILTER))
    assert not plain.neighbours.equals(spark.neighbours)
    np.testing.assert_allclose(
        spark.popularity.sort_by("item")["score"].to_numpy(),
        local.popularity.sort_by("item")["score"].to_numpy(),
        rtol=1e-12,
    )
    with pytest.raises(DataError, match="needs the day of each profile file"):
        spark_engine.train(["/tmp/profiles.parquet"], params)


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
@pytest.mark.parametrize(("gamma", "outlier"), [(5.0, None), (3.0, 1e6)])
def test_sampled_sums_equal_the_sums_of_the_kept_products(
    spark: Any, gamma: float, outlier: float | None, combine: bool
) -> None:
    """The fixed-point sums of a sampled DIMSUM run equal the float sums of the very entries
    it kept (collected and added with NumPy), within the rounding the bits allow — also when
    one huge score leaves few fraction bits."""
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
    window = SparkWindow(
        entries=entries,
        items=pa.array([f"i{i:02d}" for i in range(n_items)]),
        norms=np.sqrt((dense**2).sum(axis=0)),
        popularity=pa.table({}),
        counts={},
        persisted=(),
        user_pairs=0,  # pair_sums is called directly below
    )
    scaled, sampled, bits = scaled_entries(spark, window, gamma, seed=1)
    assert sampled >= n_items - 1
    assert bits == 52 if outlier is None else bits <= 30  # the outlier's ratio costs bits
    kept = scaled.toArrow()
    assert 50 < kept.num_rows < len(users) / 2  # sampled: most entries dropped
    kept_matrix = np.zeros((n_users, n_items))
    kept_matrix[
        [int(u[1:]) for u in kept.column("user").to_pylist()], kept.column("idx").to_numpy()
    ] = kept.column("v").to_numpy()
    expected = kept_matrix.T @ kept_matrix
    got = pair_sums(scaled, n_items, bits, partitions=3, combine=combine).toArrow()
    i, j = got.column("i").to_numpy(), got.column("j").to_numpy()
    tolerance = n_users * 2.0 ** -(bits + 1) + 5e-13  # each product's rounding, then 12 decimals
    similarity = got.column("similarity").to_numpy()
    np.testing.assert_allclose(similarity, expected[i, j], atol=tolerance, rtol=0)
    upper = np.triu(np.abs(expected) > tolerance, k=1)
    assert upper.sum() == len(i) and np.all(upper[i, j])  # every nonzero pair, none other
