"""Two LLVM intrinsics for the Numba kernels, which Numba does not expose.

- :func:`prefetch` asks the CPU to bring an array element into the cache ahead of its use.
  The half-row loop jumps from one user's row to another's at random; each row is a cache
  miss the loop would otherwise wait for. Naming the row a few steps ahead lets the miss
  overlap the work on the rows in between (``llvm.prefetch``: a hint, never a fault,
  whatever the address).
- :func:`llrint` rounds a float to the nearest integer, ties to even, straight into an
  int64: ``np.int64(np.rint(x))`` in one instruction (``cvtsd2si`` on x86) instead of two.
  The loop rounds every product it adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I32 = ir.IntType(32)
#: llvm.prefetch's arguments: read (0), high locality (3), data cache (1).
_READ, _KEEP, _DATA = ir.Constant(_I32, 0), ir.Constant(_I32, 3), ir.Constant(_I32, 1)


def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """The typing and code of ``prefetch(array, index)``."""
    del typingctx
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        hint = ir.FunctionType(ir.VoidType(), [byte_pointer.type, _I32, _I32, _I32])
        function = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0")
        builder.call(function, [byte_pointer, _READ, _KEEP, _DATA])
        return context.get_dummy_value()

    return signature, codegen


def _llrint(typingctx: Any, value: Any) -> Any:
    """The typing and code of ``llrint(value)``."""
    del typingctx
    if not isinstance(value, types.Float):
        return None
    signature = types.int64(value)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        del context
        argument = args[0]
        if sig.args[0] != types.float64:
            argument = builder.fpext(argument, ir.DoubleType())
        rounding = ir.FunctionType(ir.IntType(64), [ir.DoubleType()])
        function = cgutils.get_or_insert_function(builder.module, rounding, "llvm.llrint.i64.f64")
        return builder.call(function, [argument])

    return signature, codegen


#: ``prefetch(array, index)`` in a Numba kernel: a hint to load ``array[index]`` (a 1-d
#: array and an integer index, unchecked) into the cache; returns nothing.
prefetch = cast(Callable[[npt.NDArray[np.generic], int | np.integer], None], intrinsic(_prefetch))

#: ``llrint(x)`` in a Numba kernel: ``x`` rounded to the nearest integer, ties to even, as an
#: int64 — ``np.int64(np.rint(x))`` for any ``|x| < 2⁶³``; beyond, the result is undefined.
llrint = cast(Callable[[float], int], intrinsic(_llrint))
