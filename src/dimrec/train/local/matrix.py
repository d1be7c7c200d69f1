"""The window's user × item matrix: steps 1–4 of the engine contract (see ``engine.py``).

DuckDB reads the daily profile files directly (so memory stays bounded by the summed
profiles, not the raw days), sums each (user, item) over the window, computes the popularity
table over all users, keeps the users with ``min_items`` ≤ distinct items ≤ ``max_items`` and
returns their scores as a CSR matrix whose rows are users and columns items, both sorted by
id in binary UTF-8 order (DuckDB's default string order), so that column order is item id
order and equal similarities break ties by item id.

Counts (the manifest's ``counts``, on every engine):

- ``profiles``: profile rows read from the window's files;
- ``users`` / ``users_dropped``: users kept by / left out by the user filter;
- ``items``: items touched by the kept users (the matrix's columns).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from dimrec.errors import DataError
from dimrec.fsio import url_to_fs
from dimrec.model import popularity_table
from dimrec.train.base import no_profiles_error, no_user_kept_error, window_counts
from dimrec.train.decay import file_decay_factors

log = logging.getLogger(__name__)


#: Each (user, item)'s summed score in units of 2^-bits (parameters: 2^bits, the files).
_SUMMED = """
    CREATE TEMP TABLE summed AS
    SELECT "user", item, sum(round(score * ?)::BIGINT) AS units, count(*) AS rows
    FROM read_parquet(?, hive_partitioning = false, union_by_name = false)
    GROUP BY "user", item
"""
#: The same with each file's scores decayed by its factor in the table day_factors.
_SUMMED_DECAYED = """
    CREATE TEMP TABLE summed AS
    SELECT p."user", p.item, sum(round(p.score * f.factor * ?)::BIGINT) AS units,
           count(*) AS rows
    FROM read_parquet(?, hive_partitioning = false, union_by_name = false, filename = true) p
    JOIN day_factors f ON p.filename = f.filename
    GROUP BY p."user", p.item
"""


@dataclass(frozen=True)
class WindowMatrix:
    matrix: sp.csr_matrix
    """Users × items, float64 scores; rows and columns sorted by id; canonical CSR."""
    items: pa.Array
    """Item ids (strings) in column order."""
    popularity: pa.Table
    """``dimrec.model.POPULARITY_SCHEMA`` over all users of the window, best first."""
    counts: dict[str, int]
    """profiles, users, users_dropped, items."""
    users: pa.Array | None = None
    """User ids (strings) in row order, when asked for (``with_users``)."""


def build_matrix(
    profile_urls: Sequence[str],
    *,
    min_items: int,
    max_items: int,
    threads: int = 0,
    half_life_days: float | None = None,
    with_users: bool = False,
) -> WindowMatrix:
    """Read the profile files and build the window's matrix and popularity table.

    With ``half_life_days``, each file's scores are first multiplied by 0.5 ** (age /
    half_life_days), its age the whole days between its day (``date=YYYY-MM-DD`` in its
    path) and the newest day of the window (time decay; the newest day counts fully).

    Raises DataError when the files hold no profiles or no user passes the filter.
    """
    if not profile_urls:
        raise DataError("the window has no profile files to train on")
    con = duckdb.connect(
        config={
            "threads": threads or os.cpu_count() or 1,
            "temp_directory": os.path.join(tempfile.gettempdir(), "dimrec-duckdb"),
        }
    )
    try:
        sources = register_files(con, profile_urls)
        factors = decay_factors(profile_urls, sources, half_life_days)  # checks the paths
        bits = _fixed_point_bits(con, sources)
        # Scores are summed as integers (units of 2^-bits): integer sums do not depend on
        # the order of addition, which a parallel aggregate does not keep, so the same
        # profiles always give the same model, whatever the scores (decayed, or weights
        # like 0.3 that binary floats do not hold exactly).
        if half_life_days is not None:
            con.register("day_factors", factors)
        query = _SUMMED if half_life_days is None else _SUMMED_DECAYED
        _run(con, query, [2.0**bits, sources])
        profiles, pairs = _two_ints(
            con, "SELECT coalesce(sum(rows), 0)::BIGINT, count(*) FROM summed"
        )
        if pairs == 0:
            raise no_profiles_error(len(profile_urls))
        popular = _arrow(
            con,
            "SELECT item, sum(units)::DOUBLE / ? AS score, count(*) AS users "
            "FROM summed GROUP BY item",
            [2.0**bits],
        )
        # Each user's number of items, once: the filter and the count of all users use it.
        _run(
            con,
            'CREATE TEMP TABLE per_user AS SELECT "user", count(*) AS n FROM summed '
            'GROUP BY "user"',
        )
        _run(
            con,
            """
            CREATE TEMP TABLE kept AS
            SELECT "user", (row_number() OVER (ORDER BY "user") - 1)::INTEGER AS row
            FROM per_user WHERE n BETWEEN ? AND ?
            """,
            [min_items, max_items],
        )
        users_total, users_kept = _two_ints(
            con, "SELECT (SELECT count(*) FROM per_user), count(*) FROM kept"
        )
        if users_kept == 0:
            raise no_user_kept_error(min_items, max_items, users_total)
        users = _arrow(con, 'SELECT "user" FROM kept ORDER BY row') if with_users else None
        entries = _arrow(
            con,
            """
            SELECT k.row, s.item, s.units::DOUBLE / ? AS score
            FROM summed s JOIN kept k ON s."user" = k."user"
            """,
            [2.0**bits],
        )
    finally:
        con.close()
    items, cols = _item_columns(entries.column("item"))
    rows = entries.column("row").to_numpy().astype(np.int32, copy=False)
    data = entries.column("score").to_numpy().astype(np.float64, copy=False)
    n_items = len(items)
    # Rows then columns in order (SciPy's COO → CSR, in C): cheaper than DuckDB's sort.
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(users_kept, n_items))
    matrix.sort_indices()
    counts = window_counts(
        profiles=profiles, users_total=users_total, users_kept=users_kept, items=n_items
    )
    log.info(
        "window matrix: %d users × %d items, %d entries (%d users left out)",
        users_kept,
        n_items,
        matrix.nnz,
        counts["users_dropped"],
    )
    popularity = popularity_table(
        popular.column("item"),
        popular.column("score").to_numpy(),
        popular.column("users").to_numpy(),
    )
    return WindowMatrix(
        matrix,
        items,
        popularity,
        counts,
        None if users is None else users.column("user").combine_chunks(),
    )


def _item_columns(item: pa.ChunkedArray) -> tuple[pa.Array, npt.NDArray[np.int32]]:
    """The distinct item ids sorted in binary UTF-8 order (Arrow compares strings byte by
    byte, like DuckDB), and each entry's column: its item's place among them."""
    codes = pc.dictionary_encode(item.combine_chunks())
    order = pc.sort_indices(codes.dictionary).to_numpy()
    place = np.empty(len(order), dtype=np.int32)
    place[order] = np.arange(len(order), dtype=np.int32)
    columns: npt.NDArray[np.int32] = place[codes.indices.to_numpy()]
    return codes.dictionary.take(pa.array(order)), columns


def decay_factors(
    urls: Sequence[str], sources: Sequence[str], half_life_days: float | None
) -> pa.Table:
    """Each profile file's time-decay factor (1 without decay), keyed by the name DuckDB
    reads it under."""
    factors = [1.0] * len(urls)
    if half_life_days is not None:
        factors = file_decay_factors(urls, half_life_days)
    return pa.table({"filename": list(sources), "factor": factors})


def _fixed_point_bits(con: duckdb.DuckDBPyConnection, sources: Sequence[str]) -> int:
    """The fraction bits of the integer sums: as many as keep the largest score below 2^52
    (every rounded score then fits a double exactly); DataError for non-finite scores."""
    [(largest, bad)] = con.execute(
        "SELECT max(abs(score)), count(*) FILTER (WHERE NOT isfinite(score)) "
        "FROM read_parquet(?, hive_partitioning = false, union_by_name = false)",
        [list(sources)],
    ).fetchall()
    if bad:
        raise DataError(f"{bad} of the window's profile scores are NaN or infinite")
    if not largest:
        return 52
    return min(1000, max(-1000, 52 - math.ceil(math.log2(largest)) - 1))


def register_files(con: duckdb.DuckDBPyConnection, urls: Sequence[str]) -> list[str]:
    """Paths DuckDB can read: local paths as they are, other URLs through their fsspec
    filesystem registered with DuckDB."""
    sources = []
    registered: set[str] = set()
    for url in urls:
        fs, path = url_to_fs(url)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if protocol in ("file", "local"):
            sources.append(path)
            continue
        if protocol not in registered:
            con.register_filesystem(fs)
            registered.add(protocol)
        sources.append(fs.unstrip_protocol(path))
    return sources


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pa.Table:
    table = con.sql(sql, params=params).to_arrow_table()
    assert table is not None
    return table


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> None:
    con.execute(sql, params).fetchall()


def _two_ints(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, int]:
    [row] = con.execute(sql).fetchall()
    return int(row[0]), int(row[1])
