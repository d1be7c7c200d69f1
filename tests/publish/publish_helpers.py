"""Model version folders built by hand for the publish tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from dimrec import model
from dimrec.model import Model
from model_helpers import training

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def version_at(minute: int) -> str:
    """A version name; a later minute sorts later."""
    return model.new_version(T0 + dt.timedelta(minutes=minute))


def write_lists(
    models_url: str,
    lists: Mapping[str, Sequence[tuple[str, float]]],
    *,
    minute: int,
    popularity: Sequence[tuple[str, float]] = (),
) -> Model:
    """A model whose neighbour table holds ``lists`` row by row, in the order given."""
    rows = [(item, n, s) for item, pairs in lists.items() for n, s in pairs]
    table = pa.table(
        {
            "item": [r[0] for r in rows],
            "neighbour": [r[1] for r in rows],
            "similarity": pa.array([r[2] for r in rows], pa.float64()),
        }
    )
    pop = model.popularity_table(
        [p[0] for p in popularity], [p[1] for p in popularity], [1] * len(popularity)
    )
    return model.write_model(
        models_url,
        neighbours=table,
        popularity=pop,
        training=training(items=len(lists)),
        version=version_at(minute),
    )


def item_id(k: int) -> str:
    return f"i{k:05d}"


def write_banded(models_url: str, items: int, neighbours: int, band: int, *, minute: int) -> Model:
    """``items`` items with ``neighbours`` neighbours each, every score in [band, band + 0.1):
    ``int(score)`` tells which model a score came from, so a mixed read is detectable."""
    idx = np.repeat(np.arange(items), neighbours)
    rank = np.tile(np.arange(neighbours), items)
    ids = np.array([item_id(k) for k in range(items)], dtype=object)
    table = pa.table(
        {
            "item": pa.array(ids[idx], pa.string()),
            "neighbour": pa.array(ids[(idx + rank + 1) % items], pa.string()),
            "similarity": band + (neighbours - rank) / (10.0 * neighbours + 1),
        }
    )
    pop = model.popularity_table(list(ids[:50]), np.arange(50, 0, -1, dtype=float), [1] * 50)
    return model.write_model(
        models_url,
        neighbours=table,
        popularity=pop,
        training=training(),
        version=version_at(minute),
    )


def band_of(score: float) -> int:
    return int(score)
