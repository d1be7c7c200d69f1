"""train: a window of exported days → a verified model version, or a clear error and nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from train_helpers import (
    Event,
    hand_profiles,
    reference_neighbours,
    write_events,
)

from dimrec import model, partitions, pipeline
from dimrec.config import Settings
from dimrec.errors import DataError, EngineError, InvalidInputError, MissingDataError
from dimrec.params import TrainParams

AS_OF = dt.date(2026, 11, 21)
D1, D2, D3 = (AS_OF - dt.timedelta(days=n) for n in (3, 2, 1))

#: Three days of a small shop. u5 has a single item and u6 five: both are left out with
#: min_items=2, max_items=4, and item F is touched only by u6.
DAYS: dict[dt.date, list[Event]] = {
    D1: [
        ("u1", "A", "browse"),
        ("u1", "B", "purchase"),
        ("u2", "A", "basket"),
        ("u2", "C", "browse"),
        ("u5", "A", "purchase"),
        ("u6", "A", "browse"),
        ("u6", "F", "purchase"),
    ],
    D2: [
        ("u1", "A", "browse"),
        ("u2", "B", "browse"),
        ("u3", "C", "browse"),
        ("u3", "D", "purchase"),
        ("u6", "B", "browse"),
        ("u6", "C", "browse"),
    ],
    D3: [
        ("u3", "A", "basket"),
        ("u4", "B", "basket"),
        ("u4", "D", "purchase"),
        ("u4", "E", "browse"),
        ("u6", "D", "basket"),
        ("u1", "E", "browse"),
    ],
}
#: Events outside the window (before it and on as_of itself): they must change nothing.
OUTSIDE: dict[dt.date, list[Event]] = {
    D1 - dt.timedelta(days=1): [("u7", "A", "purchase"), ("u7", "E", "purchase")],
    AS_OF: [("u8", "B", "purchase"), ("u8", "C", "purchase")],
}
FILTER = {"min_items": 2, "max_items": 4}


def _params(settings: Settings, **overrides: Any) -> TrainParams:
    return settings.train_params(**{"algorithm": "exact", **FILTER, **overrides})


def _train(settings: Settings, **kwargs: Any) -> model.Model:
    kwargs.setdefault("params", _params(settings))
    return pipeline.train(settings, days_init=3, days_end=1, as_of=AS_OF, **kwargs)


def _rows(table: Any) -> list[tuple[str, str, float]]:
    return [(r["item"], r["neighbour"], r["similarity"]) for r in table.to_pylist()]


def _assert_same_lists(
    got: list[tuple[str, str, float]], want: list[tuple[str, str, float]]
) -> None:
    assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in want]
    assert [s for _, _, s in got] == pytest.approx([s for _, _, s in want], rel=1e-12)


def _nothing_written(settings: Settings) -> bool:
    root = Path(settings.paths.models_url())
    return not root.exists() or not any(root.iterdir())


def test_end_to_end_matches_brute_force(settings: Settings) -> None:
    write_events(settings, {**DAYS, **OUTSIDE})
    trained = _train(settings)
    scores = hand_profiles(DAYS)
    want = reference_neighbours(scores, top_k=100, **FILTER)
    _assert_same_lists(_rows(trained.neighbours()), want)
    assert not any(item == "F" or neighbour == "F" for item, neighbour, _ in want)


def test_popularity_counts_every_user_of_the_window(settings: Settings) -> None:
    write_events(settings, {**DAYS, **OUTSIDE})
    popularity = _train(settings).popularity().to_pylist()
    totals: dict[str, float] = defaultdict(float)
    users: dict[str, set[str]] = defaultdict(set)
    for (user, item), score in hand_profiles(DAYS).items():
        totals[item] += score
        users[item].add(user)
    order = sorted(totals, key=lambda i: (-totals[i], -len(users[i]), i))
    assert popularity == [{"item": i, "score": totals[i], "users": len(users[i])} for i in order]
    assert popularity[0] == {"item": "D", "score": 14.0, "users": 3}  # 6 + 6 + 2 (u6's)
    assert {"item": "F", "score": 6.0, "users": 1} in popularity  # only a dropped user had it


def test_manifest_describes_the_model(settings: Settings) -> None:
    write_events(settings, {**DAYS, **OUTSIDE})
    params = _params(settings, top_k=2, algorithm="cosine")
    trained = _train(settings, params=params)
    loaded = model.load_model(settings.paths.models_url(), trained.version)  # verifies checksums
    manifest = loaded.manifest.model_dump(mode="json")
    # cosine is exact on data this small: the manifest records what was computed.
    assert params.algorithm == "cosine"
    computed = params.model_copy(update={"algorithm": "exact"})
    assert TrainParams.model_validate(manifest["params"]) == computed
    assert manifest["engine"] == "local"
    assert manifest["window"] == {
        "as_of": "2026-11-21",
        "days_init": 3,
        "days_end": 1,
        "days": ["2026-11-18", "2026-11-19", "2026-11-20"],
        "missing_days": [],
    }
    want = reference_neighbours(hand_profiles(DAYS), top_k=2, **FILTER)
    # profiles: one row per (user, item, day); u1..u4 kept; u5 (1 item) and u6 (5) left out.
    assert manifest["counts"] == {
        "profiles": sum(len({(u, i) for u, i, _ in rows}) for rows in DAYS.values()),
        "users": 4,
        "users_dropped": 2,
        "items": 5,
        "pairs": len(want),
    }
    assert {"prepare", "train", "matrix", "similarity"} <= set(manifest["timings"])
    assert manifest["files"]["neighbours.parquet"]["rows"] == len(want)
    assert manifest["version"] == trained.version
    assert manifest["created_at"]


def test_top_k_keeps_the_best(settings: Settings) -> None:
    write_events(settings, DAYS)
    rows = _rows(_train(settings, params=_params(settings, top_k=1)).neighbours())
    want = reference_neighbours(hand_profiles(DAYS), top_k=1, **FILTER)
    _assert_same_lists(rows, want)
    assert len(rows) == len({item for item, _, _ in rows})


def test_user_filter_bounds(settings: Settings) -> None:
    write_events(settings, DAYS)
    counts = _train(
        settings, params=_params(settings, min_items=1, max_items=3)
    ).manifest.model_dump()["counts"]
    by_user = defaultdict(set)
    for user, item in hand_profiles(DAYS):
        by_user[user].add(item)
    kept = [u for u, items in by_user.items() if 1 <= len(items) <= 3]
    assert len(kept) == 5  # u6 (5 items) is left out
    assert counts["users"] == len(kept)
    assert counts["users_dropped"] == len(by_user) - len(kept)


def test_random_shop_matches_brute_force(settings: Settings) -> None:
    rng = np.random.default_rng(7)
    actions = ["browse", "basket", "purchase"]
    days: dict[dt.date, list[Event]] = {}
    for day in (D1, D2, D3):
        n = 400
        users = rng.integers(0, 120, n)
        items = np.minimum(rng.zipf(1.6, n), 40)
        kinds = rng.choice(3, n, p=[0.7, 0.2, 0.1])
        days[day] = [
            (f"u{u}", f"item-{i:02d}", actions[k])
            for u, i, k in zip(users, items, kinds, strict=True)
        ]
    write_events(settings, days)
    params = settings.train_params(algorithm="exact", min_items=2, max_items=30, top_k=100)
    got = _rows(_train(settings, params=params).neighbours())
    want = reference_neighbours(hand_profiles(days), min_items=2, max_items=30, top_k=100)
    assert {(a, b): s for a, b, s in got} == pytest.approx({(a, b): s for a, b, s in want})
    for (a, b, s), (a2, b2, s2) in itertools.pairwise(got):  # canonical order
        assert a < a2 or (a == a2 and (s > s2 or (s == s2 and b < b2)))


def test_same_input_gives_identical_files(settings: Settings) -> None:
    write_events(settings, DAYS)
    first, second = _train(settings), _train(settings)
    assert first.version != second.version
    for name in (model.NEIGHBOURS, model.POPULARITY):
        digests = {
            hashlib.sha256((Path(m.url) / name).read_bytes()).hexdigest() for m in (first, second)
        }
        assert len(digests) == 1


def test_memory_urls(settings: Settings) -> None:
    root = f"memory://dimrec-test-{uuid.uuid4().hex}"
    memory = settings.model_copy(update={"paths": settings.paths.model_copy(update={"data": root})})
    write_events(memory, DAYS)
    trained = _train(memory)
    want = reference_neighbours(hand_profiles(DAYS), top_k=100, **FILTER)
    _assert_same_lists(_rows(model.load_model(memory.paths.models_url()).neighbours()), want)
    assert trained.url.startswith(memory.paths.models_url())


# ── bad input: a clear error, and no model version folder ──────────────────────────────────


def test_missing_days_are_named(settings: Settings) -> None:
    write_events(settings, {D1: DAYS[D1], D3: DAYS[D3]})
    with pytest.raises(MissingDataError, match=r"2026-11-19.*--allow-missing"):
        _train(settings)
    assert _nothing_written(settings)


def test_allow_missing_trains_on_the_rest(settings: Settings) -> None:
    present = {D1: DAYS[D1], D3: DAYS[D3]}
    write_events(settings, present)
    trained = _train(settings, allow_missing=True)
    assert trained.manifest.model_dump(mode="json")["window"]["days"] == [
        "2026-11-18",
        "2026-11-20",
    ]
    assert trained.manifest.model_dump(mode="json")["window"]["missing_days"] == ["2026-11-19"]
    want = reference_neighbours(hand_profiles(present), top_k=100, **FILTER)
    _assert_same_lists(_rows(trained.neighbours()), want)


def test_empty_window(settings: Settings) -> None:
    write_events(settings, OUTSIDE)  # data exists, but none in the window
    with pytest.raises(MissingDataError, match=r"no profiles or events for any day"):
        _train(settings, allow_missing=True)
    assert _nothing_written(settings)


def test_window_without_any_event(settings: Settings) -> None:
    write_events(settings, {D1: [], D2: [], D3: []})
    with pytest.raises(DataError, match="hold no profiles"):
        _train(settings)
    assert _nothing_written(settings)


def test_nothing_left_after_the_user_filter(settings: Settings) -> None:
    write_events(settings, DAYS)
    with pytest.raises(DataError, match=r"min_items=10 and max_items=20"):
        _train(settings, params=_params(settings, min_items=10, max_items=20))
    assert _nothing_written(settings)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"threshold": 1.5}, r"threshold=1\.5.*0 means exact"),
        ({"threshold": -0.1}, r"threshold=-0\.1"),
        ({"top_k": 0}, r"top_k=0"),
        ({"min_items": 5, "max_items": 2}, r"min_items \(5\) > max_items \(2\)"),
        ({"algorithm": "magic"}, r"algorithm='magic'"),
    ],
)
def test_bad_parameters(settings: Settings, overrides: dict[str, Any], named: str) -> None:
    write_events(settings, DAYS)
    with pytest.raises(InvalidInputError, match=named):
        settings.train_params(**overrides)


def test_bad_window(settings: Settings) -> None:
    write_events(settings, DAYS)
    with pytest.raises(InvalidInputError, match="days_end"):
        pipeline.train(settings, days_init=1, days_end=3, params=_params(settings))
    assert _nothing_written(settings)


def test_spark_engine_without_spark(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    write_events(settings, DAYS)
    monkeypatch.setitem(sys.modules, "dimrec.train.spark", None)  # as if not installed
    with pytest.raises(EngineError, match="spark extra"):
        _train(settings, engine="spark")
    assert _nothing_written(settings)
    assert partitions.profiles(settings.paths.profiles_url()).days() == []


def test_unknown_engine(settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="unknown engine 'gpu'"):
        _train(settings, engine="gpu")


def test_failed_write_leaves_no_version(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(settings, DAYS)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(model, "atomic_write_bytes", crash)  # the manifest, written last
    with pytest.raises(OSError, match="disk full"):
        _train(settings)
    assert _nothing_written(settings)
    assert model.list_versions(settings.paths.models_url()) == []
