"""The prefetch hint of the Numba kernels: it compiles, changes no result, and is refused
for what is not an array element."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from dimrec.train.local.prefetch import prefetch


@njit
def _sum_with_prefetch(values: np.ndarray, ahead: int) -> float:
    total = 0.0
    for i in range(len(values)):
        prefetch(values, min(i + ahead, len(values) - 1))
        total += values[i]
    return total


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint32])
def test_a_prefetch_changes_nothing_it_is_a_hint(dtype: type) -> None:
    values = np.arange(1, 1001).astype(dtype)
    assert _sum_with_prefetch(values, 8) == float(values.sum())


def test_a_prefetch_of_something_else_than_an_array_element_is_refused() -> None:
    @njit
    def on_a_number(x: float) -> None:
        prefetch(x, 0)

    with pytest.raises(TypingError):
        on_a_number(1.0)
