"""The LLVM intrinsics of the Numba kernels: the prefetch hint compiles, changes no result
and is refused for what is not an array element; llrint rounds as ``np.rint`` does."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from dimrec.train.local.intrinsics import llrint, prefetch


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


@njit
def _rounded(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i in range(len(values)):
        out[i] = llrint(values[i])
    return out


def test_llrint_rounds_half_to_even_like_numpy() -> None:
    rng = np.random.default_rng(3)
    ties = np.arange(-20, 21) + 0.5  # every .5: to the even neighbour
    large = rng.uniform(-(2.0**61), 2.0**61, 10_000)  # the range of the kernel's sums
    products = rng.random(10_000) * 2.0**52 * rng.random(10_000)
    values = np.concatenate((ties, large, products, [0.0, -0.0, 0.49999999999999994]))
    assert np.array_equal(_rounded(values), np.rint(values).astype(np.int64))
    assert _rounded(np.array([2.5, 3.5, -2.5])).tolist() == [2, 4, -2]


def test_llrint_of_something_else_than_a_float_is_refused() -> None:
    @njit
    def on_an_array(x: np.ndarray) -> int:
        return llrint(x)

    with pytest.raises(TypingError):
        on_an_array(np.zeros(2))
