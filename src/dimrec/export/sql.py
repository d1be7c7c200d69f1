"""The export's SQL: read from ``queries/*.sql``; identifiers checked before they go in.

Values (days, paths, regexes, names of events) always travel as bound query parameters.
The few things a query cannot take as a parameter — a column name of a flat log, a BigQuery
table path — are checked against a strict pattern and quoted here, then put in the query's
``{{placeholder}}``; nothing else is ever pasted into SQL.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from dimrec.errors import ConfigError

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_TABLE_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,100}$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_QUERY_NAME = re.compile(r"^[a-z0-9_]+\.(duckdb|bigquery)\.sql$")


class Identifier(str):
    """A checked, quoted SQL identifier: the only kind of text :func:`render` puts in SQL."""


@cache
def load(name: str) -> str:
    """The text of ``queries/<name>`` (for example ``ga360_interactions.duckdb.sql``)."""
    if not _QUERY_NAME.match(name):
        raise ValueError(f"not a query file name: {name!r}")
    return (resources.files("dimrec.export") / "queries" / name).read_text(encoding="utf-8")


def render(name: str, **identifiers: Identifier) -> str:
    """The query ``name`` with each ``{{key}}`` replaced by a checked identifier."""
    text = load(name)

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        value = identifiers.get(key)
        if not isinstance(value, Identifier):
            raise ValueError(f"query {name} needs a checked identifier for {{{{{key}}}}}")
        return str(value)

    return _PLACEHOLDER.sub(substitute, text)


def column(name: str, setting: str) -> Identifier:
    """A column name from the settings, double-quoted for DuckDB."""
    if not _COLUMN.match(name):
        raise ConfigError(
            f"{setting} = {name!r} is not a usable column name: use letters, digits and _ "
            "(starting with a letter or _)"
        )
    return Identifier(f'"{name}"')


NULL = Identifier("NULL")
"""Stands for an optional column that is not configured."""


def bigquery_tables(dataset: str, prefix: str) -> Identifier:
    """```project.dataset.<prefix>*``` — every daily table of ``dataset`` — for BigQuery."""
    project, _, name = dataset.partition(".")
    if not (_PROJECT.match(project) and _DATASET.match(name) and _TABLE_PREFIX.match(prefix)):
        raise ConfigError(
            f"export.input = {dataset!r} is not a BigQuery dataset: expected project.dataset, "
            "for example my-project.analytics_123456"
        )
    return Identifier(f"`{project}.{name}.{prefix}*`")
