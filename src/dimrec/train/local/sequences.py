"""The window's events in session order, for the algorithms that learn from order
(``params.ORDERED``): read from the daily events files with DuckDB, kept to the users and
items of the window matrix (its rows and columns), cut into sessions
(:mod:`dimrec.train.sessions`). With a half-life, each event weighs its day's decay factor
(:mod:`dimrec.train.decay`), as the profiles of that day do."""

from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from dimrec.dates import to_day
from dimrec.errors import DataError
from dimrec.train.decay import file_days, file_decay_factors
from dimrec.train.local.matrix import register_files
from dimrec.train.sessions import SessionItems

_EVENTS = """
    SELECT k.row AS "user", c.col AS item, f.factor AS weight,
           f.day_number AS day,
           coalesce(epoch_us(e.ts) // 1000000, f.day_number * 86400) AS seconds
    FROM read_parquet(?, hive_partitioning = false, union_by_name = true, filename = true) e
    JOIN files f ON e.filename = f.filename
    JOIN users k ON e."user" = k."user"
    JOIN items c ON e.item = c.item
"""


def read_sessions(
    event_urls: Sequence[str],
    users: pa.Array,
    items: pa.Array,
    *,
    half_life_days: float | None = None,
    threads: int = 0,
) -> SessionItems:
    """The sessions of the events in ``event_urls`` by the ``users`` (row order of the
    window matrix) on the ``items`` (its column order); items as column indices."""
    if not event_urls:
        raise DataError("sequential rules need the window's events; none were given")
    factors = (
        file_decay_factors(event_urls, half_life_days)
        if half_life_days is not None
        else [1.0] * len(event_urls)
    )
    days = [to_day(day) for day in file_days(event_urls)]
    con = duckdb.connect(config={"threads": threads or os.cpu_count() or 1})
    try:
        sources = register_files(con, event_urls)
        con.register(
            "files",
            pa.table({"filename": list(sources), "factor": factors, "day_number": days}),
        )
        con.register("users", pa.table({"user": users, "row": np.arange(len(users))}))
        con.register("items", pa.table({"item": items, "col": np.arange(len(items))}))
        table = con.sql(_EVENTS, params=[list(sources)]).to_arrow_table()
    finally:
        con.close()
    return SessionItems.of(
        table.column("user").to_numpy(),
        table.column("item").to_numpy(),
        table.column("day").to_numpy(),
        table.column("seconds").to_numpy(),
        table.column("weight").to_numpy(),
    )
