"""The one error hierarchy of dimrec.

Every error a user can cause or meet derives from :class:`DimrecError`. Each class names what
failed; its message says what was wrong and, where there is one, what to do. Entry points
translate them to exit codes (CLI) and HTTP statuses (API); nothing below them does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class DimrecError(Exception):
    """Base of every error dimrec raises on purpose."""

    #: Process exit code used by the CLI for this kind of failure.
    exit_code: int = 1


class ConfigError(DimrecError):
    """The settings file or environment holds an invalid or contradictory value."""

    exit_code = 2


class InvalidInputError(DimrecError):
    """An argument given by the user is invalid (a date, a range, a parameter)."""

    exit_code = 2


class DataError(DimrecError):
    """Input data is unusable: a missing column, malformed rows, an empty window."""

    exit_code = 3


class MissingDataError(DataError):
    """Data that a step needs does not exist (a day's table, a partition, a model)."""


class SchemaError(DataError):
    """A table lacks a column the query needs, or a column has the wrong type."""


class WarehouseError(DimrecError):
    """The warehouse (DuckDB, BigQuery) failed or is unreachable. May be transient."""

    exit_code = 4
    transient = True


class StoreError(DimrecError):
    """The serving store (SQLite, Redis) failed or is unreachable. May be transient."""

    exit_code = 4
    transient = True


class VersionNotFoundError(StoreError):
    """A store version asked for is not there (never published, or pruned since a reader
    resolved it): a reader should resolve the current version again and retry."""


class StorageError(DimrecError):
    """dimrec's own files (events, profiles, models, the queue) could not be read or written:
    the disk is full, a permission is missing, a file stands where a folder should be. May
    be transient (space freed, permission fixed)."""

    exit_code = 4
    transient = True


class QueueError(DimrecError):
    """The job queue failed, or no worker took a job up in time."""

    exit_code = 4


class IntegrityError(DimrecError):
    """An artifact does not match its manifest (checksum, counts): it must not be used."""

    exit_code = 5


class PublishRefusedError(DimrecError):
    """A publish was refused by a guard (for example the catalogue would shrink too much)."""

    exit_code = 6


class EngineError(DimrecError):
    """A training engine (local or Spark) failed or is not available."""

    exit_code = 7


#: Fields whose values are never repeated in a message.
_SECRET_FIELDS = frozenset({"token", "password"})


def missing_kernel(module: str) -> ImportError:
    """The error for a compiled kernel (a ``.pyx`` module) that was not built."""
    return ImportError(
        f"dimrec's compiled kernel {module} is not built: install the project with `make "
        "setup` (or `uv sync`), which compiles it (Cython and a C compiler, see README.md)"
    )


def describe_validation(exc: ValidationError, *, hints: Mapping[str, str] | None = None) -> str:
    """A pydantic validation error as one line: ``field=value: problem (hint)`` for each
    problem, joined by "; ". The value is shown when it is a plain value (not a secret, a
    table or a list); ``hints`` add what a bad value of a field means."""
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        field = ".".join(location)
        message = error["msg"].removeprefix("Value error, ")
        if not field:
            problems.append(message)
            continue
        value = error.get("input")
        shown = (
            f"={value!r}"
            if isinstance(value, str | int | float | bool)
            and location[-1] not in _SECRET_FIELDS
            and len(repr(value)) <= 80
            else ""
        )
        hint = (hints or {}).get(location[-1])
        problems.append(f"{field}{shown}: {message}" + (f" ({hint})" if hint else ""))
    return "; ".join(problems)
