"""Interactions to evaluate on: the project's own event partitions, or public data sets read
straight from their published formats (small loaders, no export step, documented here).

Every loader returns the events schema — ``user, item, action, ts`` — so an evaluation treats
all sources alike:

- ``movielens-100k`` (``u.data[.gz]``: user, item, rating, unix time, tab-separated) and
  ``movielens-small`` (ml-latest-small ``ratings.csv[.gz]``): a rating ≥ ``min_rating``
  (default 4) is a positive and becomes one ``purchase``; lower ratings are left out.
- ``online-retail`` (UCI Online Retail as CSV: InvoiceNo, StockCode, …, Quantity,
  InvoiceDate, …, CustomerID): each invoice line is a ``purchase`` of StockCode by
  CustomerID at InvoiceDate; cancellations (InvoiceNo starting with C), lines with
  Quantity ≤ 0 and lines without a CustomerID are dropped.
- ``ga360-sample`` (GA360 sessions as newline-delimited JSON, one session a line):
  product hits with eCommerceAction 2 / 3 / 6 become browse / basket / purchase by
  fullVisitorId at visitStartTime + hit time; impressions are left out.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from dimrec.dates import to_day
from dimrec.errors import InvalidInputError, MissingDataError
from dimrec.evaluate.interactions import Interactions
from dimrec.evaluate.names import DATASETS
from dimrec.partitions import EVENTS_SCHEMA, events

#: Where each data set lives under the shared data folder.
DEFAULT_PATHS = {
    "movielens-100k": "movielens/ml-100k/u.data.gz",
    "movielens-small": "movielens/ml-latest-small/ratings.csv.gz",
    "online-retail": "online_retail/online_retail_by_day.csv.gz",
    "ga360-sample": "ga_sample/ga_sessions_sample.ndjson.gz",
}
_GA_ACTIONS = {"2": "browse", "3": "basket", "6": "purchase"}


def load_dataset(name: str, path: str | Path, *, min_rating: float = 4.0) -> pa.Table:
    """Read data set ``name`` from ``path`` (a file, or a folder holding the default file)."""
    loaders: dict[str, Callable[[Path], pa.Table]] = {
        "movielens-100k": lambda p: movielens_100k(p, min_rating=min_rating),
        "movielens-small": lambda p: movielens_small(p, min_rating=min_rating),
        "online-retail": online_retail,
        "ga360-sample": ga360_sample,
    }
    if name not in loaders:
        raise InvalidInputError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    file = Path(path)
    if file.is_dir():
        nested = file / DEFAULT_PATHS[name]
        file = nested if nested.exists() else file / Path(DEFAULT_PATHS[name]).name
    if not file.is_file():
        raise MissingDataError(f"data set {name}: {file} does not exist")
    return loaders[name](file)


def _query(sql: str, params: list[object]) -> pa.Table:
    con = duckdb.connect()
    try:
        table = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
    return table.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA)


def movielens_100k(file: Path, *, min_rating: float = 4.0) -> pa.Table:
    return _query(
        """
        SELECT CAST(column0 AS VARCHAR) AS "user", CAST(column1 AS VARCHAR) AS item,
               'purchase' AS action, to_timestamp(column3) AS ts
        FROM read_csv(?, delim = '\t', header = false,
                      columns = {'column0': 'BIGINT', 'column1': 'BIGINT',
                                 'column2': 'DOUBLE', 'column3': 'BIGINT'})
        WHERE column2 >= ?
        """,
        [str(file), min_rating],
    )


def movielens_small(file: Path, *, min_rating: float = 4.0) -> pa.Table:
    return _query(
        """
        SELECT CAST(userId AS VARCHAR) AS "user", CAST(movieId AS VARCHAR) AS item,
               'purchase' AS action, to_timestamp("timestamp") AS ts
        FROM read_csv(?, header = true)
        WHERE rating >= ?
        """,
        [str(file), min_rating],
    )


def online_retail(file: Path) -> pa.Table:
    return _query(
        """
        SELECT CAST(CAST(CustomerID AS BIGINT) AS VARCHAR) AS "user",
               CAST(StockCode AS VARCHAR) AS item, 'purchase' AS action,
               CAST(InvoiceDate AS TIMESTAMP) AT TIME ZONE 'UTC' AS ts
        FROM read_csv(?, header = true, all_varchar = true)
        WHERE CustomerID IS NOT NULL AND CustomerID <> ''
          AND NOT starts_with(InvoiceNo, 'C')
          AND CAST(Quantity AS BIGINT) > 0
        """,
        [str(file)],
    )


def ga360_sample(file: Path) -> pa.Table:
    users: list[str] = []
    items: list[str] = []
    actions: list[str] = []
    times: list[dt.datetime] = []
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            session = json.loads(line)
            start = int(session.get("visitStartTime") or 0)
            for hit in session.get("hits") or []:
                action = _GA_ACTIONS.get(str((hit.get("eCommerceAction") or {}).get("action_type")))
                if action is None:
                    continue
                moment = dt.datetime.fromtimestamp(
                    start + int(hit.get("time") or 0) / 1000, tz=dt.UTC
                )
                for product in hit.get("product") or []:
                    if product.get("isImpression") or not product.get("productSKU"):
                        continue
                    users.append(str(session["fullVisitorId"]))
                    items.append(str(product["productSKU"]))
                    actions.append(action)
                    times.append(moment)
    return pa.table(
        {"user": users, "item": items, "action": actions, "ts": times}, schema=EVENTS_SCHEMA
    )


def from_partitions(events_url: str, first: dt.date, last: dt.date) -> Interactions:
    """The exported events of days ``first``…``last`` (those present), each row's day its
    partition's."""
    dataset = events(events_url)
    days = [d for d in dataset.days() if first <= d <= last]
    if not days:
        raise MissingDataError(
            f"no exported events between {first} and {last} under {events_url}; "
            "run `dimrec export` for those days"
        )
    tables, day_arrays = [], []
    for day in days:
        table = dataset.read(day)
        tables.append(table)
        day_arrays.append(pa.array([day] * table.num_rows, pa.date32()))
    table = pa.concat_tables(tables)
    return Interactions.from_table(table, day=pa.concat_arrays(day_arrays))


@dataclass(frozen=True)
class DataSpec:
    """Where an evaluation's events come from: a public data set read from ``path``, or
    (``dataset`` None) the project's exported events; optionally only days first…last."""

    dataset: str | None = None
    path: str | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    min_rating: float = 4.0

    def name(self) -> str:
        return self.dataset or "exported events"

    def load(self, events_url: str) -> Interactions:
        if self.dataset is None:
            return from_partitions(events_url, self.first or dt.date.min, self.last or dt.date.max)
        if self.path is None:
            raise InvalidInputError(
                f"data set {self.dataset} needs the path of its file or folder (--data-path)"
            )
        loaded = Interactions.from_table(
            load_dataset(self.dataset, self.path, min_rating=self.min_rating)
        )
        if self.first is None and self.last is None:
            return loaded
        low = to_day(self.first) if self.first else int(loaded.day.min())
        high = to_day(self.last) if self.last else int(loaded.day.max())
        return loaded.select((loaded.day >= low) & (loaded.day <= high))
