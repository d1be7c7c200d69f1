"""The evaluation's batch scoring follows the server's rule: checked by hand and against
dimrec.serve.scoring on random models."""

from __future__ import annotations

import random

import numpy as np
import pytest
import scipy.sparse as sp

from dimrec.evaluate.scoring import cap_lists, recommend, similarity_matrix
from dimrec.publish.base import Entry
from dimrec.serve.index import build_index
from dimrec.serve.scoring import ServingState
from dimrec.serve.scoring import recommend as serve_recommend
from dimrec.train.neighbours import Neighbours

# Items 0..5. Lists: 0 → 1 (0.5), 2 (0.25); 1 → 0 (0.5), 3 (0.5); 2 → 0 (0.25); 4 → 5 (1.0)
SIM = similarity_matrix(
    Neighbours.from_unsorted(
        [0, 0, 1, 1, 2, 4], [1, 2, 0, 3, 0, 5], [0.5, 0.25, 0.5, 0.5, 0.25, 1.0]
    ),
    6,
)
POPULAR = np.array([5, 3, 0, 1, 2, 4])


def queries(rows: list[dict[int, float]]) -> sp.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    v = [w for row in rows for w in row.values()]
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), 6))


def test_scores_by_hand() -> None:
    q = queries(
        [
            {0: 2.0},  # 1: 1.0, 2: 0.5
            {0: 1.0, 1: 1.0},  # inputs 0, 1 left out; 3: 0.5, 2: 0.25
            {2: 6.0, 1: 0.5},  # 0: 6 × 0.25 + 0.5 × 0.5 = 1.75; 3: 0.5 × 0.5 = 0.25
            {3: 1.0},  # item 3 has no list: fallback, 3 left out
            {5: 1.0, 3: 2.0},  # nothing known: fallback without 5 and 3
        ]
    )
    recs = recommend(q, SIM, POPULAR, 3)
    assert recs.ranked.tolist() == [
        [1, 2, -1],
        [3, 2, -1],
        [0, 3, -1],
        [5, 0, 1],
        [0, 1, 2],
    ]
    assert recs.fallback.tolist() == [False, False, False, True, True]


def test_known_shopper_whose_candidates_are_all_inputs_gets_nothing() -> None:
    # Item 2's only neighbour is 0, an input too: no candidate, but not the fallback.
    recs = recommend(queries([{2: 1.0, 0: 1.0}]), SIM, POPULAR, 2)
    assert recs.ranked.tolist() == [[1, -1]]
    recs = recommend(queries([{4: 1.0, 5: 1.0}]), SIM, POPULAR, 2)
    assert recs.ranked.tolist() == [[-1, -1]]
    assert recs.fallback.tolist() == [False]


def test_ties_break_by_item_id() -> None:
    # From item 1: 0 and 3 both score 0.5; 0 comes first.
    assert recommend(queries([{1: 1.0}]), SIM, POPULAR, 2).ranked.tolist() == [[0, 3]]


def test_inputs_with_zero_weight_are_still_left_out() -> None:
    q = queries([{0: 1.0, 1: 0.0}])
    inputs = queries([{0: 1.0, 1: 1.0}])
    assert recommend(q, SIM, POPULAR, 3, inputs=inputs).ranked.tolist() == [[2, -1, -1]]


@pytest.mark.parametrize("seed", range(4))
def test_matches_the_server_on_random_models(seed: int) -> None:
    rng = random.Random(seed)
    n_items = 60
    ids = [f"i{k:02d}" for k in range(n_items)]  # id order is code order
    rows, cols, sims = [], [], []
    for i in range(n_items):
        for j in rng.sample([o for o in range(n_items) if o != i], rng.randint(0, 8)):
            rows.append(i)
            cols.append(j)
            sims.append(rng.randint(1, 64) / 64)  # exact in float32: the server's scores
    neighbours = Neighbours.from_unsorted(rows, cols, sims)
    entries = []
    for i in range(n_items):
        mine = neighbours.item == i
        if mine.any():
            entries.append(
                Entry(
                    ids[i],
                    tuple(ids[j] for j in neighbours.neighbour[mine]),
                    tuple(neighbours.similarity[mine].tolist()),
                )
            )
    popular = list(range(n_items))
    rng.shuffle(popular)
    state = ServingState.of(
        build_index("v", entries, [(ids[p], float(n_items - r)) for r, p in enumerate(popular)]),
        frozenset(),
    )
    shoppers = [
        {rng.randrange(n_items): rng.choice([0.5, 2.0, 6.0]) for _ in range(rng.randint(1, 5))}
        for _ in range(80)
    ]
    n = 7
    recs = recommend(
        queries_n(shoppers, n_items), similarity_matrix(neighbours, n_items), np.array(popular), n
    )
    for row, shopper in enumerate(shoppers):
        expected = serve_recommend(state, {ids[i]: w for i, w in shopper.items()}, n)
        got = [ids[j] for j in recs.ranked[row] if j >= 0]
        assert got == [item for item, _ in expected.results], shopper
        assert bool(recs.fallback[row]) == expected.fallback


def queries_n(rows: list[dict[int, float]], n_items: int) -> sp.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    v = [w for row in rows for w in row.values()]
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), n_items))


def test_lists_are_capped_like_the_store() -> None:
    capped = cap_lists(SIM, 1)
    # Item 0 keeps 1 (0.5), not 2 (0.25); item 1's tie between 0 and 3 keeps 0.
    assert capped.toarray().tolist()[0] == [0, 0.5, 0, 0, 0, 0]
    assert capped.toarray().tolist()[1] == [0.5, 0, 0, 0, 0, 0]
    assert capped.nnz == 4
    assert cap_lists(SIM, 5).nnz == SIM.nnz
