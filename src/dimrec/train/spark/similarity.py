"""Step 5 of the engine contract on Spark: exact or DIMSUM cosine, then each item's top K.

The plan, all in DataFrame operations and JVM-side expressions (no Python UDF):

1. *scale*: a small item table (index, column norm) is broadcast to the kept entries:
   ``x = score / ‖c_i‖`` (γ = ∞ for exact: every entry is kept as ``x``, a unit-norm
   column); for DIMSUM an entry is kept when its draw is below ``γ·x`` and becomes
   ``v = max(x, 1/γ)`` (:mod:`dimrec.train.dimsum`: the same operations as the local engine);
2. *pairs*: a self-join of the entries on user emits every unordered pair of a user's
   items once (``i < j``) with the product ``v_i·v_j`` — one row per (pair, user);
3. *sum*: each product is rounded to a multiple of 2⁻ᴮ and a pair's products are added
   as longs, then rounded like the local kernel (12 decimals) and dropped when that is 0.
   Where pairs repeat within a map task (dense data: :func:`combines`), the products are
   summed there before the shuffle (a partial hash aggregate, as MLlib does in its
   per-partition maps); where they hardly repeat (sparse data), that hash map only costs,
   and the products are shuffled by pair, sorted and summed by a sort-based aggregate;
4. *top K*: each pair is mirrored (both directions at once, no second scan) and each item
   keeps its best K by (similarity desc, neighbour id asc), sorting one long per candidate
   that packs both.

**Why integers.** Floating-point addition is not associative: summing the same products
in another order can change the last bit, and a last-bit change can move a similarity
across a 12-decimal rounding boundary (about one pair in 10⁴), which changes the model
file. Spark adds in whatever order the shuffle delivers. Integer addition is exact in any
order, and the local kernel adds the very same rounded products (``dimrec.train.local.kernels``,
B from :func:`~dimrec.train.dimsum.fixed_point_bits`: 52 for cosines), so both engines
produce the same bits — the same files — and Spark's result does not depend on the
partitioning: a model is reproducible run to run. Rounding a product costs ≤ 2⁻⁵³ for a
cosine, below the 12 decimals kept.

**DIMSUM draws.** An entry's draw is ``xxhash64(seed, user, item)`` mapped to [0, 1): a
built-in JVM expression, independent of partitioning and task order, so a seed gives the
same sample on any cluster (``rand(seed)`` would depend on how rows fall into partitions).
The draw is made once per (user, item) entry, like the local engine and unlike MLlib
(which draws the second item of a pair afresh for each pair), with the local engine's
probabilities ``min(1, γ·x)``: the same scheme, hence the same distribution of every
estimate and the same error bound, from other draws. Dropping entries before pairing is
what makes DIMSUM cheap here: an unkept entry never emits its pairs.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from dimrec.params import TrainParams
from dimrec.train.dimsum import (
    choose_cosine,
    dimsum_gamma,
    expected_dimsum_products,
    fixed_point_bits,
    sampled_items,
)
from dimrec.train.neighbours import Neighbours
from dimrec.train.spark.matrix import SparkWindow

log = logging.getLogger(__name__)

#: Similarities are rounded to 12 decimals, like the local kernel (``kernels.SIMILARITY_SCALE``).
SIMILARITY_SCALE = 1e12


def uniform_draw(seed: int, *columns: str) -> Column:
    """A reproducible draw in [0, 1) per row: the top 53 bits of ``xxhash64(seed, columns)``."""
    seed64 = (seed + 2**63) % 2**64 - 2**63  # any int as a signed 64-bit literal
    bits = F.shiftrightunsigned(F.xxhash64(F.lit(seed64), *columns), 11)
    return bits.cast("double") * F.lit(2.0**-53)


def scaled_entries(
    session: SparkSession, window: SparkWindow, gamma: float, seed: int
) -> tuple[DataFrame, int, int]:
    """``user, idx, v``: the kept entries scaled (and for finite γ sampled) the DIMSUM way
    of :mod:`dimrec.train.dimsum` — ``x = score/‖c‖``, kept with probability ``min(1, γ·x)``
    as ``v = max(x, 1/γ)`` —; the number of items with sampled entries; and the fraction bits
    of their sums (:func:`~dimrec.train.dimsum.fixed_point_bits`), as the local engine."""
    table = pa.table(
        {
            "item": window.items,
            "idx": pa.array(np.arange(len(window.norms), dtype=np.int32)),
            "norm": pa.array(window.norms),
        }
    )
    items = F.broadcast(session.createDataFrame(table))
    entries = window.entries.join(items, "item")
    unit = F.col("score") / F.col("norm")
    sampled = sampled_items(window.norms, window.smallest, gamma)
    if sampled:
        expected = F.lit(gamma) * unit  # γ·x: kept for sure from 1 on
        entries = entries.where((expected >= 1.0) | (uniform_draw(seed, "user", "item") < expected))
        value = F.greatest(unit, F.lit(1.0 / gamma))
    else:
        value = unit
    scaled = entries.select("user", "idx", value.alias("v"))
    return scaled, sampled, fixed_point_bits(window.most_entries, gamma)


def resolve_cosine(session: SparkSession, window: SparkWindow, params: TrainParams) -> TrainParams:
    """``params`` with algorithm ``cosine`` replaced by what
    :func:`~dimrec.train.dimsum.choose_cosine` picks, as the local engine does: from the
    window's pair products (known) and, only when those are many, DIMSUM's expected ones
    (one aggregation of ``min(1, γ·x)`` by user)."""
    if params.algorithm != "cosine":
        return params
    expected: list[float] = []

    def sampled() -> float:
        gamma = dimsum_gamma(params.threshold, len(window.items))
        if math.isinf(gamma):
            expected.append(float(window.user_pairs))
            return expected[0]
        table = pa.table({"item": window.items, "norm": pa.array(window.norms)})
        norms = F.broadcast(session.createDataFrame(table))
        p = F.least(F.lit(1.0), F.lit(gamma) * (F.col("score") / F.col("norm")))
        rows = window.entries.join(norms, "item").groupBy("user")
        sums = rows.agg(F.sum(p).alias("s1"), F.sum(p * p).alias("s2")).toArrow()
        expected.append(
            expected_dimsum_products(sums.column("s1").to_numpy(), sums.column("s2").to_numpy())
        )
        return expected[0]

    chosen = choose_cosine(float(window.user_pairs), sampled)
    log.info(
        "algorithm cosine: %s (exact cosine adds %.3g pair products%s)",
        chosen,
        float(window.user_pairs),
        f", DIMSUM at {params.threshold:g} about {expected[0]:.3g}" if expected else "",
    )
    return params.model_copy(update={"algorithm": chosen})


def _pair_terms(scaled: DataFrame, n_items: int) -> DataFrame:
    """``key, x``: one row per (pair i < j, user of both) with the product v_i·v_j;
    ``key`` packs the pair as ``i·n_items + j``."""
    # A self-join on user (the entries are partitioned by user: no shuffle) streams each
    # user's pairs; building them as one array per user was 4× slower and holds L² terms.
    a, b = scaled.alias("a"), scaled.alias("b")
    terms = a.join(b, (F.col("a.user") == F.col("b.user")) & (F.col("a.idx") < F.col("b.idx")))
    return terms.select(
        (F.col("a.idx").cast("bigint") * F.lit(n_items) + F.col("b.idx")).alias("key"),
        (F.col("a.v") * F.col("b.v")).alias("x"),
    )


#: Combine before the shuffle when a map task's products are expected to name at least
#: this share of all possible pairs (measured on bench/train_spark.py's sets: the dense real
#: sets are at 0.1–0.6 and gain; the 1M × 200k shop is at 2·10⁻⁴ and loses ≈ 20%).
COMBINE_DENSITY = 0.01


def combines(user_pairs: int, n_items: int, partitions: int) -> bool:
    """Whether :func:`pair_sums` should add products before the shuffle: the products of a
    map task (``user_pairs / partitions``) against the ``n_items·(n_items−1)/2`` pairs."""
    possible = n_items * (n_items - 1) / 2
    return possible > 0 and user_pairs / max(partitions, 1) >= COMBINE_DENSITY * possible


def pair_sums(
    scaled: DataFrame, n_items: int, bits: int, *, partitions: int, combine: bool
) -> DataFrame:
    """``i, j, similarity`` for every pair i < j with a nonzero (rounded) similarity: the
    products added as longs of ``bits`` fraction bits, in any order — the same sums on any
    partitioning, whether ``combine``-d before the shuffle or not."""
    unit = float(2**bits)
    terms = _pair_terms(scaled, n_items).select(
        "key", F.rint(F.col("x") * F.lit(unit)).cast("bigint").alias("q")
    )
    if not combine:  # sorted by pair: a sort-based aggregate, no hash map
        terms = terms.repartition(partitions, "key").sortWithinPartitions("key")
    sums = terms.groupBy("key").agg((F.sum("q").cast("double") / F.lit(unit)).alias("s"))
    return _rounded_pairs(sums, n_items)


def _rounded_pairs(sums: DataFrame, n_items: int) -> DataFrame:
    """``key, s`` → ``i, j, similarity``: rounded to 12 decimals, zeros dropped."""
    rounded = F.rint(F.col("s") * F.lit(SIMILARITY_SCALE))
    return sums.where(rounded > 0).select(
        F.expr(f"CAST(key DIV {n_items} AS INT)").alias("i"),
        F.expr(f"CAST(key % {n_items} AS INT)").alias("j"),
        (rounded / F.lit(SIMILARITY_SCALE)).alias("similarity"),
    )


#: Below 2**23 items, a candidate (cosine, neighbour) packs into one long: its rounded
#: similarity key (≤ 1e12 < 2**40) and its neighbour.
_NEIGHBOUR_BITS = 23
_KEY_LIMIT = 1 << 40


def top_k(pairs: DataFrame, k: int, n_items: int, *, at_most_one: bool) -> DataFrame:
    """``item, neighbour, similarity``: each item's best ``k`` of the mirrored pairs by
    (similarity desc, neighbour asc), in no particular order. ``at_most_one``: the
    similarities are cosines (≤ 1, not DIMSUM estimates, which can exceed 1)."""
    both = pairs.select(
        F.inline(
            F.array(
                F.struct(F.col("i").alias("item"), F.col("j").alias("neighbour"), "similarity"),
                F.struct(F.col("j").alias("item"), F.col("i").alias("neighbour"), "similarity"),
            )
        )
    )
    if at_most_one and n_items < 1 << _NEIGHBOUR_BITS:
        # (2**40 − similarity key) · 2**23 + neighbour sorts ascending in the canonical order;
        # sorting longs is ~1.5× faster than sorting (−similarity, neighbour) structs.
        key = F.rint(F.col("similarity") * F.lit(SIMILARITY_SCALE)).cast("bigint")
        packed = F.shiftleft(F.lit(_KEY_LIMIT) - key, _NEIGHBOUR_BITS) + F.col("neighbour")
        best = both.groupBy("item").agg(
            F.slice(F.sort_array(F.collect_list(packed)), 1, k).alias("best")
        )
        rows = best.select("item", F.explode("best").alias("p"))
        return rows.select(
            "item",
            (F.col("p") % F.lit(1 << _NEIGHBOUR_BITS)).cast("int").alias("neighbour"),
            (
                (F.lit(_KEY_LIMIT) - F.shiftright("p", _NEIGHBOUR_BITS)).cast("double")
                / F.lit(SIMILARITY_SCALE)
            ).alias("similarity"),
        )
    # Structs compare field by field: (−similarity, neighbour) ascending is canonical.
    candidates = F.collect_list(F.struct((-F.col("similarity")).alias("neg"), "neighbour"))
    best = both.groupBy("item").agg(F.slice(F.sort_array(candidates), 1, k).alias("best"))
    return best.select("item", F.inline("best")).select(
        "item", "neighbour", (-F.col("neg")).alias("similarity")
    )


def collect_neighbours(top: DataFrame, top_k_: int) -> Neighbours:
    """Bring the top-K rows to the driver (Arrow) in the canonical order."""
    table = top.toArrow()
    if table.num_rows == 0:
        empty = np.empty(0, dtype=np.int32)
        return Neighbours(empty, empty.copy(), np.empty(0, dtype=np.float64))
    return Neighbours.from_unsorted(
        table.column("item").to_numpy(),
        table.column("neighbour").to_numpy(),
        table.column("similarity").to_numpy(),
        top_k_,
    )
