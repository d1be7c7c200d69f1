"""The Spark engine through the pipeline: ``prepare`` and ``train`` on Spark write the same
files as on the local engine — profiles, model and manifest (apart from run fields)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark")

from dimrec import model, partitions, pipeline
from dimrec.config import Settings, load_settings
from dimrec.errors import DataError, InvalidInputError
from dimrec.train.profiles import DESCRIPTION_KEY
from train.engine_helpers import AS_OF, shop_events, write_events

pytestmark = pytest.mark.spark

EVENTS = shop_events(800, 120, seed=21)
DAYS = sorted(EVENTS)


def tree(path: Path) -> Settings:
    settings = load_settings(paths={"data": str(path)})
    write_events(settings.paths.events_url(), EVENTS)
    return settings


def _train(settings: Settings, engine: str, **params: Any) -> model.Model:
    return pipeline.train(
        settings,
        days_init=len(DAYS),
        days_end=1,
        as_of=AS_OF,
        params=settings.train_params(min_items=2, max_items=12, top_k=6, **params),
        engine=engine,
    )


def _files(root: Path) -> dict[str, pa.Table]:
    """Each file's table, without its key-value metadata (compared by _descriptions)."""
    return {
        str(p.relative_to(root)): pq.read_table(p).replace_schema_metadata(None)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _descriptions(root: Path) -> dict[str, dict[str, Any]]:
    """What each profiles file says it was computed from, but the times."""
    out = {}
    for p in sorted(root.rglob("*.parquet")):
        record = json.loads(pq.read_metadata(p).metadata[DESCRIPTION_KEY])
        record.pop("prepared_at")
        record["events"].pop("modified")  # the events files were written at other times
        out[str(p.relative_to(root))] = record
    return out


@pytest.mark.usefixtures("spark", "settings")
@pytest.mark.parametrize("algorithm", ["exact", "dimsum"])
def test_spark_writes_the_same_model_as_local(tmp_path: Path, algorithm: str) -> None:
    """Same profiles (the same rows, and the same description of how they were made), same
    manifest apart from run fields — including the files' checksums. DIMSUM at threshold 0
    is exact on both engines."""
    local_settings, spark_settings = tree(tmp_path / "local"), tree(tmp_path / "spark")
    params = {"algorithm": algorithm, "threshold": 0.0}
    local = _train(local_settings, "local", **params)
    on_spark = _train(spark_settings, "spark", **params)

    assert on_spark.manifest.engine == "spark"
    assert local.manifest.engine == "local"
    local_manifest = local.manifest.model_dump(exclude=set(model.RUN_FIELDS))
    spark_manifest = on_spark.manifest.model_dump(exclude=set(model.RUN_FIELDS))
    assert spark_manifest == local_manifest
    assert on_spark.manifest.counts.pairs > 100
    assert on_spark.neighbours().equals(local.neighbours())

    profiles = [Path(s.paths.profiles_url()) for s in (local_settings, spark_settings)]
    assert _files(profiles[1]) == _files(profiles[0])
    assert _descriptions(profiles[1]) == _descriptions(profiles[0])
    assert len(_files(profiles[0])) == len(DAYS)


@pytest.mark.usefixtures("spark")
def test_prepare_on_spark_recomputes_only_what_is_stale(settings: Settings) -> None:
    write_events(settings.paths.events_url(), EVENTS)
    first = pipeline.prepare_days(settings, DAYS, engine="spark")
    assert first.prepared == DAYS
    assert first.cached == []
    local = pipeline.prepare_days(settings, DAYS, engine="local")  # current: kept as it is
    assert local.cached == DAYS
    for spark_day, table in zip(first.days, (EVENTS[d] for d in DAYS), strict=True):
        assert spark_day.events == table.num_rows
        assert (
            spark_day.profiles
            == partitions.profiles(settings.paths.profiles_url()).read(spark_day.day).num_rows
        )
    again = pipeline.prepare_days(settings, DAYS, engine="spark")
    assert again.cached == DAYS
    forced = pipeline.prepare_days(settings, DAYS[:1], engine="spark", force=True)
    assert forced.prepared == DAYS[:1]
    with pytest.raises(InvalidInputError, match="unknown engine 'dask'"):
        pipeline.prepare_days(settings, DAYS, engine="dask")


@pytest.mark.usefixtures("spark")
def test_prepare_on_spark_refuses_what_local_refuses(settings: Settings, tmp_path: Path) -> None:
    """An action without a weight: the same DataError on both engines, nothing written."""
    day = DAYS[0]
    bad = EVENTS[day].to_pydict()
    bad["action"] = ["wishlist" if n % 50 == 0 else a for n, a in enumerate(bad["action"])]
    table = EVENTS[day].from_pydict(bad, schema=partitions.EVENTS_SCHEMA)
    errors = []
    for engine in ("local", "spark"):
        settings = load_settings(paths={"data": str(tmp_path / engine)})
        write_events(settings.paths.events_url(), {day: table})
        with pytest.raises(DataError, match="without a weight: 'wishlist'") as caught:
            pipeline.prepare_days(settings, [day], engine=engine)
        errors.append(str(caught.value))
        assert partitions.profiles(settings.paths.profiles_url()).days() == []
    assert errors[0] == errors[1]


@pytest.mark.usefixtures("spark")
def test_event_weights_count_alike_on_both_engines(tmp_path: Path) -> None:
    """Events with their own weight (a quantity) multiply their action's weight on both
    engines; a day written before events had the column counts every event once; a weight
    that is not a positive number is refused alike."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(4)
    legacy, *weighted = DAYS
    own = {  # NaN: null, which weighs 1
        day: pa.array(rng.choice([1.0, 2.0, 3.5, np.nan], EVENTS[day].num_rows), from_pandas=True)
        for day in weighted
    }
    profiles = {}
    for engine in ("local", "spark"):
        settings = load_settings(paths={"data": str(tmp_path / engine)})
        store = partitions.events(settings.paths.events_url())
        path = Path(store.path(legacy))
        path.parent.mkdir(parents=True)
        pq.write_table(EVENTS[legacy], path)  # four columns: as written before weights
        for day in weighted:
            store.write(day, EVENTS[day].append_column("weight", own[day]))
        pipeline.prepare_days(settings, DAYS, engine=engine)
        profiles[engine] = Path(settings.paths.profiles_url())
    assert _files(profiles["spark"]) == _files(profiles["local"])
    # By hand for one weighted day: Σ action weight × own weight per (user, item).
    day = weighted[0]
    events = partitions.events(str(tmp_path / "local" / "events")).read(day).to_pylist()
    action = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}
    expected: dict[tuple[str, str], float] = {}
    for row in events:
        key = (row["user"], row["item"])
        expected[key] = expected.get(key, 0.0) + action[row["action"]] * (row["weight"] or 1.0)
    got = partitions.profiles(str(profiles["local"])).read(day).to_pylist()
    assert {(r["user"], r["item"]): r["score"] for r in got} == pytest.approx(expected)
    assert any(row["weight"] not in (None, 1.0) for row in events)

    errors = []
    for engine in ("local", "spark"):
        settings = load_settings(paths={"data": str(tmp_path / f"bad-{engine}")})
        table = EVENTS[legacy]
        bad = pa.array([0.0 if n % 40 == 0 else 1.0 for n in range(table.num_rows)])
        partitions.events(settings.paths.events_url()).write(
            legacy, table.append_column("weight", bad)
        )
        with pytest.raises(DataError, match="weight is not a positive number") as caught:
            pipeline.prepare_days(settings, [legacy], engine=engine)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
