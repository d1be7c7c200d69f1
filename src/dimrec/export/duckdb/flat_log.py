"""Flat event logs (CSV, Parquet or NDJSON) into ``source_rows`` and ``interactions``.

The column names and the event → action mapping come from ``[export.flat]``
(:class:`~dimrec.config.FlatSourceSettings`): by event name (Retailrocket's view /
addtocart / transaction), or by a number's thresholds (MovieLens ratings); a weight column
(a quantity, a rating) gives each event its weight instead of one row per unit. Column names are
checked and quoted before they go into SQL; the log must have each configured column (a
SchemaError names the missing ones and the columns it has).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from dimrec.config import FlatSourceSettings
from dimrec.errors import SchemaError
from dimrec.export import sql
from dimrec.export.duckdb.session import DuckDBSession
from dimrec.export.sources import InputFiles
from dimrec.items import ITEM_ID_PATTERN

KEYS = ("user", "item", "event", "ts", "date", "weight")


def load_flat_log(
    session: DuckDBSession, flat: FlatSourceSettings, table: InputFiles
) -> Counter[dt.date | None]:
    """Load and classify the log ``table``; return the lines that were not even text (they
    belong to no known day)."""
    names: dict[str, str | None] = {
        "user": flat.user_column,
        "item": flat.item_column,
        "event": flat.event_column,
        "ts": flat.ts_column or None,
        "date": flat.date_column or None,
        "weight": flat.weight_column or None,
    }
    identifiers = {
        key: sql.column(name, f"export.flat.{key}_column") if name else sql.NULL
        for key, name in names.items()
    }
    files = list(table.files)
    no_days = [None] * len(files)
    unreadable: Counter[dt.date | None] = Counter()
    if table.format == "ndjson":
        paths = {key: f"$.{identifiers[key]}" if names[key] else None for key in KEYS}
        unreadable = session.read_lines(
            "flat_rows_lines.duckdb.sql", {"files": files, **paths}, no_days
        )
        wellformed, *per_key = session.row("flat_column_counts.duckdb.sql")
        absent = [
            str(names[key])
            for key, n in zip(KEYS, per_key, strict=True)
            if names[key] and wellformed and n == 0
        ]
        if absent:
            raise SchemaError(
                f"{table.where} has no column {', '.join(absent)}: no row gives it a value; "
                "set the export.flat.*_column settings to the log's field names"
            )
    else:
        present = session.arrow(f"{table.format}_schema.duckdb.sql", files=files).column_names
        have = {name.lower() for name in present}
        absent = [str(n) for n in names.values() if n and n.lower() not in have]
        if absent:
            raise SchemaError(
                f"{table.where} lacks column(s) {', '.join(absent)} (it has "
                f"{', '.join(present)}); set the export.flat.*_column settings to the log's "
                "column names"
            )
        session.forget_rejected_lines()
        reader = sql.render(f"flat_rows_{table.format}.duckdb.sql", **identifiers)
        session.execute_text(reader, {"files": files})
        if table.format == "csv":
            unreadable = session.rejected_lines(files, no_days)
    session.execute(
        "flat_source_rows.duckdb.sql",
        {"ts_unit": flat.ts_unit, "has_date": names["date"] is not None},
    )
    thresholds = flat.action_thresholds
    session.execute(
        "flat_interactions.duckdb.sql",
        {
            "event_names": list(flat.events),
            "actions": list(flat.events.values()),
            "use_thresholds": bool(thresholds),
            "purchase_min": thresholds.get("purchase"),
            "basket_min": thresholds.get("basket"),
            "browse_min": thresholds.get("browse"),
            "item_id_pattern": ITEM_ID_PATTERN,
        },
    )
    return unreadable
