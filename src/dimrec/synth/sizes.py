"""The shapes and sizes a synthetic shop comes in: light, for the command line's help."""

from __future__ import annotations

from typing import TypedDict

FORMATS = ("ga360", "ga4", "flat")


class Size(TypedDict):
    """How big a shop to generate: ``generate(out, start=day, **SIZES["tiny"])``."""

    days: int
    sessions_per_day: int
    n_items: int
    n_users: int


SIZES: dict[str, Size] = {
    "tiny": {"days": 2, "sessions_per_day": 300, "n_items": 120, "n_users": 300},
    "small": {"days": 7, "sessions_per_day": 2_000, "n_items": 1_000, "n_users": 5_000},
    "bench": {"days": 30, "sessions_per_day": 20_000, "n_items": 5_000, "n_users": 50_000},
    "large": {"days": 30, "sessions_per_day": 60_000, "n_items": 20_000, "n_users": 200_000},
}
"""Named sizes, by the events an export accepts: tiny ~1.5k (tests), small ~33k, bench ~1.4M
(the benchmark size), large ~4M."""
