"""The threads of one similarity computation: blocks of work run on a pool made once, and
the work split into blocks of about equal size (:func:`even_bounds`).

The compiled kernels release the GIL, so blocks run side by side on threads. A computation
has several parallel steps (laying out the matrix, the half rows, grouping, finishing the
lists); one pool serves them all, instead of threads started and joined at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from dimrec.train.base import Progress

_Result = TypeVar("_Result")


def even_bounds(cumulative: npt.NDArray[np.integer], parts: int) -> npt.NDArray[np.int64]:
    """Boundaries cutting ``n`` units into at most ``parts`` runs of about equal work, where
    ``cumulative`` (``n + 1`` values from 0, like a CSR ``indptr``) is the work before each
    unit: ``0, …, n`` (at least one run; none when there are no units)."""
    n = len(cumulative) - 1
    cuts = np.searchsorted(cumulative, np.linspace(0, cumulative[-1], parts + 1)[1:-1])
    return np.unique(np.concatenate(([0, n], np.clip(cuts, 0, n)))).astype(np.int64)


class Workers:
    """``threads`` threads (one: the calling thread itself) for blocks of work; a context
    manager that stops its pool on exit."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dimrec-topk")
            if threads > 1
            else None
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def each(
        self,
        run: Callable[[int], _Result],
        bounds: npt.NDArray[np.int64],
        progress: Progress | None = None,
        total: int = 0,
    ) -> list[_Result]:
        """``run(block)`` for every block (``bounds[b]``..``bounds[b + 1]``), in order on one
        thread or submitted in order to the pool; results in block order. ``progress`` is
        called with the units done (the blocks' widths) of ``total``."""
        n_blocks = len(bounds) - 1
        results: list[Any] = [None] * n_blocks
        done = 0
        if self._pool is None or n_blocks <= 1:
            for block in range(n_blocks):
                results[block] = run(block)
                done += int(bounds[block + 1] - bounds[block])
                if progress is not None:
                    progress(done, total)
            return results
        futures = {self._pool.submit(run, block): block for block in range(n_blocks)}
        try:
            for future in as_completed(futures):
                block = futures[future]
                results[block] = future.result()
                done += int(bounds[block + 1] - bounds[block])
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for future in futures:  # a block failed: the others are not waited for
                future.cancel()
            raise
        return results
