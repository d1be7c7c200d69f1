"""The columns each source needs, and how to tell which of them a table lacks.

A needed column is named by its dotted path through records and arrays, as BigQuery names
nested columns (``hits.product.productSKU``). A path counts as missing only when a record
on the way provably has no such field; where a table says nothing (an array that is always
empty, a field that is null in every row) nothing is claimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pyarrow as pa

from dimrec.errors import SchemaError

GA360_COLUMNS = (
    "fullVisitorId",
    "visitStartTime",
    "hits.time",
    "hits.eCommerceAction.action_type",
    "hits.product.productSKU",
)
GA4_COLUMNS = ("event_name", "event_timestamp", "user_pseudo_id", "items.item_id")
DATE_COLUMN = {"ga360": "date", "ga4": "event_date"}


def needed_columns(source: str, *, with_date: bool) -> tuple[str, ...]:
    """The columns a ``ga360`` or ``ga4`` table must have (and its date field if asked)."""
    columns = GA360_COLUMNS if source == "ga360" else GA4_COLUMNS
    return (*columns, DATE_COLUMN[source]) if with_date else columns


def schema_error(missing: Sequence[str], where: str, source: str) -> SchemaError:
    named = ", ".join(missing)
    return SchemaError(
        f"{where} lacks column(s) {named} that a {source} export needs; "
        f"is export.source = {source!r} right for this table?"
    )


# ── walking one kind of schema ────────────────────────────────────────────────────────────
_UNKNOWN = object()


def _missing(paths: Iterable[str], child: Any) -> list[str]:
    """The first absent part of each path (``hits`` rather than ``hits.time`` when a table
    has no hits at all), each named once. ``child(node, name, top)`` returns the field's
    node, None when the record lacks it, or _UNKNOWN when ``node`` is not a record."""
    missing: list[str] = []
    for path in paths:
        node: Any = None
        parts = path.split(".")
        for depth, name in enumerate(parts):
            node = child(node, name, depth == 0)
            if node is None:
                absent = ".".join(parts[: depth + 1])
                if absent not in missing:
                    missing.append(absent)
                break
            if node is _UNKNOWN:
                break
    return missing


def missing_in_json_structure(structure: Any, paths: Iterable[str]) -> list[str]:
    """Against DuckDB's ``json_group_structure`` of all rows: dicts are records, lists hold
    one element structure, strings are types (``"NULL"`` when never seen with a value)."""

    def child(node: Any, name: str, top: bool) -> Any:
        node = structure if top else node
        while isinstance(node, list) and node:
            node = node[0]
        if not isinstance(node, dict):
            return _UNKNOWN
        return node.get(name)

    return _missing(paths, child)


def missing_in_arrow_schema(schema: pa.Schema, paths: Iterable[str]) -> list[str]:
    """Against an Arrow schema (of Parquet files): structs are records, lists are unwrapped."""

    def child(node: Any, name: str, top: bool) -> Any:
        if top:
            index = schema.get_field_index(name)
            return schema.field(index).type if index >= 0 else None
        while pa.types.is_list(node) or pa.types.is_large_list(node):
            node = node.value_type
        if not pa.types.is_struct(node):
            return _UNKNOWN
        index = node.get_field_index(name)
        return node.field(index).type if index >= 0 else None

    return _missing(paths, child)


class SchemaFieldLike(Protocol):
    """What BigQuery's ``SchemaField`` offers: a name and, for a RECORD, its fields."""

    @property
    def name(self) -> str: ...

    @property
    def fields(self) -> Sequence[Any]: ...


def missing_in_bigquery_schema(
    fields: Sequence[SchemaFieldLike], paths: Iterable[str]
) -> list[str]:
    """Against a BigQuery table schema (REPEATED fields are walked like their element)."""

    def child(node: Any, name: str, top: bool) -> Any:
        candidates = fields if top else node.fields
        if not top and not candidates:
            return _UNKNOWN
        return next((f for f in candidates if f.name == name), None)

    return _missing(paths, child)
