"""The threads of a similarity computation: blocks run in any order, results come back in
block order, progress counts the blocks' widths, a failing block fails the call."""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest

from dimrec.train.local.workers import Workers, even_bounds


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_results_come_back_in_block_order_with_progress(threads: int) -> None:
    bounds = np.array([0, 3, 3, 10, 12], dtype=np.int64)  # an empty block too
    seen: list[tuple[int, int]] = []
    names: set[str] = set()

    def run(block: int) -> int:
        names.add(threading.current_thread().name)
        return int(bounds[block + 1] - bounds[block]) * 10 + block

    with Workers(threads) as workers:
        results = workers.each(run, bounds, lambda done, total: seen.append((done, total)), 12)
        again = workers.each(run, bounds)  # the same pool serves a second step
    assert results == again == [30, 1, 72, 23]
    assert [total for _, total in seen] == [12] * 4
    assert sorted(done for done, _ in seen)[-1] == 12
    assert all(a <= b for (a, _), (b, _) in pairwise(seen))
    on_pool = {name for name in names if name.startswith("dimrec-topk")}
    assert bool(on_pool) == (threads > 1)


def test_a_failing_block_fails_the_call_and_the_pool_stops() -> None:
    bounds = np.arange(0, 9, dtype=np.int64)

    def run(block: int) -> int:
        if block == 3:
            raise ValueError("block 3 is broken")
        return block

    with pytest.raises(ValueError, match="block 3 is broken"), Workers(2) as workers:
        workers.each(run, bounds)
    with pytest.raises(RuntimeError):  # shut down on leaving the block
        workers.each(run, bounds)


def test_even_bounds_cut_the_work_into_runs_of_about_equal_size() -> None:
    work = np.array([5, 1, 1, 1, 9, 0, 3, 3, 1, 0, 4], dtype=np.int64)
    cumulative = np.concatenate(([0], np.cumsum(work)))
    for parts in (1, 2, 3, 5, 50):
        bounds = even_bounds(cumulative, parts)
        assert bounds[0] == 0
        assert bounds[-1] == len(work)
        assert np.all(np.diff(bounds) > 0)
        assert len(bounds) - 1 <= parts
        per_run = np.diff(cumulative[bounds])
        assert per_run.max() <= cumulative[-1] / parts + work.max()  # off by one unit at most
    assert even_bounds(np.array([0]), 4).tolist() == [0]  # no units, no runs
    assert even_bounds(np.zeros(4, dtype=np.int64), 3).tolist() == [0, 3]  # no work: one run
