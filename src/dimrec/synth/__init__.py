"""A realistic synthetic shop: GA360, GA4 and flat event files plus the exact truth.

``generate(out_url, start=..., days=..., ...)`` simulates shoppers day by day (Zipf-like item
popularity, a preferred category per shopper, view → basket → checkout → purchase funnels,
variant SKUs, impressions and tracking faults) and writes the days in three warehouse shapes
with ``truth.json``, the counts an exporter must reproduce. Used by the demo, the tests and the
benchmarks.
"""

from dimrec.synth.generate import FORMATS, SIZES, FormatTotals, Size, SynthSummary, generate
from dimrec.synth.truth import SKU_REGEX

__all__ = ["FORMATS", "SIZES", "SKU_REGEX", "FormatTotals", "Size", "SynthSummary", "generate"]
