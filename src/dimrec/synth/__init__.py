"""A realistic synthetic shop: GA360, GA4 and flat event files plus the exact truth.

``generate(out_url, start=..., days=..., ...)`` simulates shoppers day by day (Zipf-like item
popularity, a preferred category per shopper, view → basket → checkout → purchase funnels,
variant SKUs, impressions and tracking faults) and writes the days in three warehouse shapes
with ``truth.json``, the counts an exporter must reproduce. Used by the demo, the tests and the
benchmarks.

The sizes and formats load at once (the command line's help shows them); the generator, which
loads NumPy and Arrow, on first use of one of its names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dimrec.synth.sizes import FORMATS, SIZES, Size

if TYPE_CHECKING:
    from dimrec.synth.generate import FormatTotals, SynthSummary, generate
    from dimrec.synth.truth import SKU_REGEX

_LAZY = {
    "FormatTotals": "dimrec.synth.generate",
    "SynthSummary": "dimrec.synth.generate",
    "generate": "dimrec.synth.generate",
    "SKU_REGEX": "dimrec.synth.truth",
}

__all__ = ["FORMATS", "SIZES", "SKU_REGEX", "FormatTotals", "Size", "SynthSummary", "generate"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'dimrec.synth' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
