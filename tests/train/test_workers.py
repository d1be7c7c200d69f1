"""The threads of a similarity computation: blocks run in any order, results come back in
block order, progress counts the blocks' widths, a failing block fails the call."""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest

from dimrec.train.local.workers import Workers


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
