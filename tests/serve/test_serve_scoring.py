"""Scoring against a brute-force reference, and the in-memory index's checks."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dimrec.errors import IntegrityError
from dimrec.publish.base import Entry
from dimrec.serve.index import build_index
from dimrec.serve.scoring import ServingState, recommend, similar
from dimrec.serve.summing import WeightedSum


def random_model(
    seed: int, items: int = 120, width: int = 15
) -> dict[str, list[tuple[str, float]]]:
    """Lists best first, ties by neighbour id (as models are written). Scores are multiples
    of 1/64, so sums are exact and ties are common."""
    rng = random.Random(seed)
    ids = [f"i{k:03d}" for k in range(items)]
    lists: dict[str, list[tuple[str, float]]] = {}
    for item in ids:
        others = rng.sample([o for o in ids if o != item], rng.randint(0, width))
        pairs = [(o, rng.randint(1, 64) / 64) for o in others]
        lists[item] = sorted(pairs, key=lambda p: (-p[1], p[0]))
    return lists


def brute_force(
    lists: dict[str, list[tuple[str, float]]],
    weights: dict[str, float],
    n: int,
    removed: set[str],
) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for item, weight in weights.items():
        for other, sim in lists.get(item, []):
            totals[other] += weight * sim
    ranked = sorted(
        ((j, s) for j, s in totals.items() if j not in removed), key=lambda p: (-p[1], p[0])
    )
    return ranked[:n]


def state_of(lists: dict[str, list[tuple[str, float]]], hidden: frozenset[str] = frozenset()):
    entries = [Entry(i, tuple(o for o, _ in p), tuple(s for _, s in p)) for i, p in lists.items()]
    return ServingState.of(build_index("v", entries, [("pop", 3.0), ("i000", 2.0)]), hidden)


@pytest.mark.parametrize("seed", range(6))
def test_recommend_matches_brute_force(seed: int) -> None:
    lists = random_model(seed)
    rng = random.Random(1000 + seed)
    hidden = frozenset(rng.sample(sorted(lists), 10))
    state = state_of(lists, hidden)
    for _ in range(60):
        k = rng.choice([1, 1, 2, 5, 10, 30])
        weights = {item: rng.choice([0.5, 2.0, 6.0, 8.5]) for item in rng.sample(sorted(lists), k)}
        known = {i: w for i, w in weights.items() if lists[i]}
        if not known:
            continue
        exclude = set(rng.sample(sorted(lists), 3))
        keep_input = rng.random() < 0.3
        n = rng.choice([1, 3, 10, 50])
        removed = hidden | exclude | (set() if keep_input else set(weights))
        got = recommend(state, weights, n, exclude=exclude, keep_input=keep_input)
        expected = brute_force(lists, known, n, removed)
        assert not got.fallback
        assert [(i, float(s)) for i, s in got.results] == [
            (i, float(np.float32(s))) for i, s in expected
        ]


def test_weight_zero_items_count_as_unknown_but_stay_excluded() -> None:
    lists = {"a": [("b", 0.5)], "b": [("a", 0.5)], "c": [("a", 0.25)]}
    state = state_of(lists)
    found = recommend(state, {"a": 0.0, "c": 1.0}, 5)
    assert found.results == []
    assert not found.fallback
    fallback = recommend(state, {"a": 0.0}, 5)
    assert fallback.fallback
    assert [item for item, _ in fallback.results] == ["pop", "i000"]


def test_similar_leaves_out_hidden_items_and_knows_only_items_with_lists() -> None:
    lists = {"a": [("b", 0.5), ("c", 0.25), ("d", 0.125)], "b": [("a", 0.5)]}
    state = state_of(lists, frozenset({"c"}))
    assert similar(state, "a", 10) == [("b", 0.5), ("d", 0.125)]
    assert similar(state, "a", 1) == [("b", 0.5)]
    assert similar(state, "d", 10) is None  # only ever a neighbour
    assert similar(state, "zz", 10) is None


def test_index_sorts_lists_that_are_not_best_first() -> None:
    entries = [Entry("a", ("b", "c", "d"), (0.25, 0.75, 0.5)), Entry("b", ("a",), (0.5,))]
    index = build_index("v", entries, [])
    assert similar(ServingState.of(index, frozenset()), "a", 3) == [
        ("c", 0.75),
        ("d", 0.5),
        ("b", 0.25),
    ]


def test_index_refuses_non_finite_scores_and_ragged_lists() -> None:
    with pytest.raises(IntegrityError, match="non-finite"):
        build_index("v", [Entry("a", ("b",), (float("nan"),))], [])
    with pytest.raises(IntegrityError, match="1 neighbours but 2 scores"):
        build_index("v", [Entry("a", ("b",), (0.5, 0.25))], [])


def test_threads_scoring_at_once_get_the_brute_force_answers() -> None:
    lists = random_model(11, items=300, width=40)
    state = state_of(lists)
    rng = random.Random(5)
    asks = [
        {item: rng.choice([0.5, 2.0, 6.0]) for item in rng.sample(sorted(lists), 20)}
        for _ in range(400)
    ]
    expected = [
        [(i, float(np.float32(s))) for i, s in brute_force(lists, w, 10, set(w))] for w in asks
    ]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda w: recommend(state, w, 10).results, asks * 3))
    assert [[(i, float(s)) for i, s in r] for r in got] == expected * 3


def test_one_list_with_many_excluded_items() -> None:
    lists = {"a": [(f"n{k:02d}", (40 - k) / 64) for k in range(30)]}
    lists.update({f"n{k:02d}": [("a", 0.5)] for k in range(30)})
    state = state_of(lists)
    exclude = [f"n{k:02d}" for k in range(0, 30, 2)]  # 15 excluded: the np.isin branch
    found = recommend(state, {"a": 1.0}, 3, exclude=exclude)
    assert found.results == [("n01", 39 / 64), ("n03", 37 / 64), ("n05", 35 / 64)]
    few = recommend(state, {"a": 1.0}, 2, exclude=exclude[:3])
    assert few.results == [("n01", 39 / 64), ("n03", 37 / 64)]


@pytest.mark.parametrize("seed", range(4))
def test_wide_lists_negative_scores_and_many_hidden_items(seed: int) -> None:
    """Long lists (the NumPy path for many candidates), negative similarities (as EASE can
    give) and hidden items crowding the top (the path that looks at every candidate)."""
    rng = random.Random(seed)
    ids = [f"j{k:03d}" for k in range(400)]
    lists = {}
    for item in ids:
        others = rng.sample([o for o in ids if o != item], 90)
        pairs = [(o, rng.randint(-32, 64) / 64) for o in others]
        lists[item] = sorted(pairs, key=lambda p: (-p[1], p[0]))
    hidden = frozenset(rng.sample(ids, 150))
    state = state_of(lists, hidden)
    for _ in range(40):
        weights = {i: rng.choice([0.5, 2.0, 6.0]) for i in rng.sample(ids, rng.choice([2, 8, 40]))}
        n = rng.choice([1, 10, 60])
        exclude = set(rng.sample(ids, rng.choice([0, 3, 20])))
        got = recommend(state, weights, n, exclude=exclude)
        expected = brute_force(lists, weights, n, hidden | exclude | set(weights))
        assert [(i, float(s)) for i, s in got.results] == [
            (i, float(np.float32(s))) for i, s in expected
        ]


def test_the_compiled_sum_against_brute_force_on_crowded_tables() -> None:
    """The sum's hash table crowded: each candidate added 40 times with many removed items;
    then every pair a different candidate (the table half full, so probing runs long), n
    larger than the candidates; and a call that fails half-way changes nothing for the
    next."""
    ids = [f"k{k:04d}" for k in range(0, 4096, 16)]  # 256 items; numbers are 0..255
    rng = random.Random(8)
    lists = {
        item: sorted(
            ((o, rng.randint(1, 64) / 64) for o in ids if o != item), key=lambda p: (-p[1], p[0])
        )
        for item in ids
    }
    state = state_of(lists, frozenset(ids[::7]))
    tables = state.index.tables
    hidden = state.hidden_mask.view(np.uint8)
    summing = WeightedSum(tables.starts, tables.neighbours, tables.scores, hidden)
    for n in (1, 10, 300):
        weights = {i: rng.choice([0.5, 2.0, 6.0]) for i in rng.sample(ids, 40)}
        exclude = set(rng.sample(ids, 60))
        got = recommend(state, weights, n, exclude=exclude)
        expected = brute_force(lists, weights, n, set(ids[::7]) | exclude | set(weights))
        assert [(i, float(s)) for i, s in got.results] == [
            (i, float(np.float32(s))) for i, s in expected
        ]
    disjoint = {f"a{k:03d}": [] for k in range(1000)}
    disjoint["a000"] = [(f"a{k:03d}", (k % 64 + 1) / 64) for k in range(1, 500)]
    disjoint["a999"] = [(f"a{k:03d}", (k % 32 + 1) / 64) for k in range(500, 999)]
    for item in ("a000", "a999"):
        disjoint[item].sort(key=lambda p: (-p[1], p[0]))
    apart = recommend(state_of(disjoint), {"a000": 1.0, "a999": 2.0}, 2000)
    expected = brute_force(disjoint, {"a000": 1.0, "a999": 2.0}, 2000, {"a000", "a999"})
    assert len(apart.results) == 998
    assert [(i, float(s)) for i, s in apart.results] == expected
    rows = tables.lookup(ids[:20])
    answer = summing.top(rows, [1.5] * 20, rows[:3], 10)
    with pytest.raises(TypeError):
        summing.top(rows, [*[1.5] * 19, "x"], rows[:3], 10)  # type: ignore[list-item]
    assert summing.top(rows, [1.5] * 20, rows[:3], 10) == answer
    with pytest.raises(ValueError, match="hidden marks"):
        WeightedSum(tables.starts, tables.neighbours, tables.scores, hidden[:-1])


@pytest.mark.parametrize(
    ("kernel", "code"),
    [
        ("dimrec.serve.summing", "import dimrec.serve.scoring"),
        (
            "dimrec.publish.id_table",
            "from dimrec.serve.index import build_index; build_index('v', [], [])",
        ),
    ],
)
def test_a_kernel_that_was_not_built_says_how_to_build_it(kernel: str, code: str) -> None:
    blocked = f"import sys; sys.modules[{kernel!r}] = None; {code}"
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert f"compiled kernel {kernel} is not built" in done.stderr
    assert "make setup" in done.stderr


def test_the_training_pipeline_imports_without_the_compiled_kernels() -> None:
    """The Spark job ships dimrec as a zip, from which no compiled module loads: everything
    the pipeline imports must do without them (they are for reading a serving index)."""
    kernels = ["dimrec.serve.summing", "dimrec.publish.id_table"]
    code = f"import sys; sys.modules.update(dict.fromkeys({kernels!r})); import dimrec.pipeline"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
