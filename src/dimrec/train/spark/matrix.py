"""Steps 1–4 of the engine contract (``dimrec.train.base``) as Spark DataFrame plans.

The window's profiles are shuffled once, by user; everything user-side (the sum over the
window, the user filter, each user's row) then runs without another shuffle. The per-item
results that the driver needs — popularity, and the column norms of the kept users — are
small (one row per item) and collected through Arrow.

The same numbers as the local engine (``dimrec.train.local.matrix`` and ``dimrec.train.dimsum``):

- users are ordered by id in binary UTF-8 order (Spark compares strings byte by byte, like
  DuckDB), and items are indexed by id in the same order;
- a column's squared norm adds its squares in user order, starting from 0.0, exactly as
  NumPy's ``bincount`` over the CSR matrix does — so the norms are equal bit for bit, not
  only to rounding (see ``similarity.py`` for why the order of additions matters).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dimrec.errors import DataError
from dimrec.model import popularity_table
from dimrec.train.base import no_profiles_error, no_user_kept_error, window_counts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparkWindow:
    """The window's kept entries on the cluster, and what the driver knows about them."""

    entries: DataFrame
    """``user, item, score`` of the kept users, persisted, partitioned by user."""
    items: pa.Array
    """Item ids of the kept users' entries, sorted (index = position)."""
    norms: npt.NDArray[np.float64]
    """‖c_i‖ of every item, in ``items`` order."""
    smallest: npt.NDArray[np.float64]
    """The smallest score of every item's column, in ``items`` order."""
    most_entries: int
    """The most nonzero entries (kept users) of one item."""
    popularity: pa.Table
    counts: dict[str, int]
    """profiles, users, users_dropped, items."""
    persisted: tuple[DataFrame, ...]
    """What to unpersist when done."""
    user_pairs: int
    """Σ n(n−1)/2 over the kept users' item counts n: the pair products of exact cosine."""


def window_matrix(
    profiles: DataFrame, *, min_items: int, max_items: int, partitions: int, n_files: int
) -> SparkWindow:
    """Sum ``profiles`` (user, item, score rows, and a time-decay ``factor`` when present)
    over the window, compute popularity over all users, keep the users with
    ``min_items``..``max_items`` distinct items.

    Raises DataError when there are no profiles, no user passes the filter, or a kept score
    is negative, NaN or infinite.
    """
    decayed = F.col("score") * F.col("factor") if "factor" in profiles.columns else F.col("score")
    summed = (
        profiles.repartition(partitions, "user")
        .groupBy("user", "item")
        .agg(F.sum(decayed).alias("score"), F.count(F.lit(1)).alias("rows"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    per_item = (
        summed.groupBy("item")
        .agg(
            F.sum("score").alias("score"),
            F.count(F.lit(1)).alias("users"),
            F.sum("rows").alias("rows"),
        )
        .toArrow()
    )
    if per_item.num_rows == 0:
        summed.unpersist()
        raise no_profiles_error(n_files)
    popularity = popularity_table(
        per_item.column("item"),
        per_item.column("score").to_numpy(),
        per_item.column("users").to_numpy(),
    )
    profiles_read = int(pc.sum(per_item.column("rows")).as_py())

    per_user = summed.groupBy("user").agg(F.count(F.lit(1)).alias("n"))
    passes = F.col("n").between(min_items, max_items)
    n = F.col("n").cast("long")
    [tally] = per_user.agg(
        F.count(F.lit(1)).alias("total"),
        F.sum(passes.cast("long")).alias("kept"),
        F.sum(F.when(passes, n * (n - 1) / 2)).alias("pairs"),
    ).collect()
    users_total, users_kept = int(tally["total"]), int(tally["kept"] or 0)
    if users_kept == 0:
        summed.unpersist()
        raise no_user_kept_error(min_items, max_items, users_total)

    kept = per_user.where(passes).select("user")
    entries = (
        summed.join(kept, "user", "left_semi")
        .select("user", "item", "score")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    score = F.col("score")
    bad = (F.isnan(score) | (score < 0) | (score == float("inf"))).cast("long")
    stats = (
        entries.repartition(partitions, "item")
        .sortWithinPartitions("item", "user")
        .groupBy("item")
        .agg(
            F.sum(score * score).alias("squares"),
            F.min(F.when(score > 0, score)).alias("smallest"),
            F.sum((score > 0).cast("long")).alias("entries"),
            F.sum(bad).alias("bad"),
        )
        .toArrow()
        .sort_by("item")
    )
    summed.unpersist()
    bad_scores = int(pc.sum(stats.column("bad")).as_py() or 0)
    if bad_scores:
        entries.unpersist()
        raise DataError(
            f"{bad_scores} of the window's summed scores are negative, NaN or infinite; "
            "cosine needs finite scores ≥ 0: check the action weights and the profiles"
        )
    items = stats.column("item").combine_chunks()
    norms = np.sqrt(stats.column("squares").to_numpy())
    smallest = stats.column("smallest").fill_null(0.0).to_numpy()
    entries_max = int(pc.max(stats.column("entries")).as_py() or 0)
    counts = window_counts(
        profiles=profiles_read, users_total=users_total, users_kept=users_kept, items=len(items)
    )
    log.info(
        "window matrix: %d users × %d items (%d users left out)",
        users_kept,
        len(items),
        counts["users_dropped"],
    )
    return SparkWindow(
        entries=entries,
        items=items,
        norms=norms,
        smallest=smallest,
        most_entries=entries_max,
        popularity=popularity,
        counts=counts,
        persisted=(entries,),
        user_pairs=int(tally["pairs"] or 0),
    )
