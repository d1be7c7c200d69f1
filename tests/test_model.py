"""The model version folder: written last-manifest, verified on load, never half-visible."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from dimrec import model
from dimrec.errors import IntegrityError, MissingDataError
from dimrec.train.neighbours import Neighbours
from model_helpers import training


def _write(root: str, version: str | None = None) -> model.Model:
    items = pa.array(["a", "b", "c"])
    pairs = Neighbours.from_unsorted([0, 1, 0, 2], [1, 0, 2, 0], [0.9, 0.9, 0.1, 0.1])
    popularity = model.popularity_table(["a", "b", "c"], [3.0, 5.0, 5.0], [1, 2, 3])
    return model.write_model(
        root,
        neighbours=pairs.to_table(items),
        popularity=popularity,
        training=training(items=3),
        version=version,
    )


def test_round_trip_and_order(tmp_path: Path) -> None:
    written = _write(str(tmp_path))
    loaded = model.load_model(str(tmp_path))
    assert loaded.version == written.version
    table = loaded.neighbours().to_pylist()
    assert table[0] == {"item": "a", "neighbour": "b", "similarity": 0.9}
    assert [r["item"] for r in table] == ["a", "a", "b", "c"]
    assert loaded.popularity().column("item").to_pylist() == ["c", "b", "a"]
    assert loaded.manifest.files["neighbours.parquet"].rows == 4


def test_corrupted_file_is_refused(tmp_path: Path) -> None:
    written = _write(str(tmp_path))
    path = Path(written.url) / model.NEIGHBOURS
    path.write_bytes(path.read_bytes()[:-8] + b"corrupt!")
    with pytest.raises(IntegrityError, match="checksum"):
        model.load_model(str(tmp_path), written.version)


def test_folder_without_manifest_is_not_a_version(tmp_path: Path) -> None:
    complete = _write(str(tmp_path), model.new_version(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    half = tmp_path / model.new_version(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    half.mkdir()
    (half / model.NEIGHBOURS).write_bytes(b"partial")
    assert model.list_versions(str(tmp_path)) == [complete.version]
    assert model.load_model(str(tmp_path)).version == complete.version
    with pytest.raises(MissingDataError, match="incomplete"):
        model.load_model(str(tmp_path), half.name)


def test_no_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="dimrec train"):
        model.load_model(str(tmp_path / "models"))


def test_versions_sort_in_time_order() -> None:
    early = model.new_version(dt.datetime(2026, 11, 26, 1, 2, 3, 4000, tzinfo=dt.UTC))
    late = model.new_version(dt.datetime(2026, 11, 26, 1, 2, 3, 5000, tzinfo=dt.UTC))
    assert early == "20261126T010203004Z"
    assert early < late
