"""Training parameters: a validated model that round-trips through JSON into the manifest."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dimrec.config import Settings

Algorithm = Literal["exact", "dimsum", "rp3beta", "ease"]

#: At or below this threshold DIMSUM's γ is infinite: every pair is kept, i.e. exact cosine.
EXACT_THRESHOLD = 1e-6


class TrainParams(BaseModel):
    """Everything that decides the content of a model (not where or how fast it is computed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Algorithm = "exact"
    """exact cosine, dimsum (sampled cosine), rp3beta or ease."""
    threshold: float = Field(0.1, ge=0, le=1)
    """DIMSUM: similarities above it are estimated within 20% relative error w.h.p."""
    top_k: int = Field(100, ge=1)
    """Neighbours kept per item."""
    min_items: int = Field(2, ge=1)
    """Users with fewer distinct items in the window are left out."""
    max_items: int = Field(100, ge=1)
    """Users with more distinct items in the window are left out."""
    seed: int = 42
    """Seed of DIMSUM's sampling."""
    weights: dict[str, float] = Field(
        default_factory=lambda: {"browse": 0.5, "basket": 2.0, "purchase": 6.0}
    )
    """Score of one action in a profile."""
    rp3_alpha: float = Field(1.0, gt=0)
    """rp3beta: exponent applied to each transition probability (1: plain random walk)."""
    rp3_beta: float = Field(0.6, ge=0)
    """rp3beta: a neighbour's score is divided by its popularity (distinct users) ** beta."""
    ease_lambda: float = Field(200.0, gt=0)
    """ease: L2 penalty λ added to the diagonal of XᵀX."""
    ease_max_items: int = Field(30_000, ge=1)
    """ease: most items it accepts (it inverts a dense items × items matrix)."""
    weighting: Literal["none", "bm25", "tfidf"] = "none"
    """Reweight the user × item matrix before the similarity, any algorithm (see
    train.weighting); shoppers' queries keep their plain action weights."""
    half_life_days: float | None = Field(None, gt=0)
    """Time decay: a day's profile scores are halved every half_life_days of age, counted in
    whole days back from the newest day of the window (None: no decay)."""

    @model_validator(mode="after")
    def _check(self) -> TrainParams:
        if self.min_items > self.max_items:
            raise ValueError(f"min_items ({self.min_items}) > max_items ({self.max_items})")
        return self

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> TrainParams:
        train = settings.train
        values: dict[str, object] = {
            "algorithm": train.algorithm,
            "threshold": train.threshold,
            "top_k": train.top_k,
            "min_items": train.min_items,
            "max_items": train.max_items,
            "seed": train.seed,
            "rp3_alpha": train.rp3_alpha,
            "rp3_beta": train.rp3_beta,
            "ease_lambda": train.ease_lambda,
            "ease_max_items": train.ease_max_items,
            "weighting": train.weighting,
            "half_life_days": train.half_life_days,
            "weights": settings.weights.as_dict(),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


def dimsum_gamma(threshold: float, n_items: int) -> float:
    """DIMSUM's oversampling γ = sqrt(10·ln(n_items)/threshold); ∞ (exact) at threshold ≤ 1e-6."""
    if threshold <= EXACT_THRESHOLD or n_items < 2:
        return math.inf
    return math.sqrt(10.0 * math.log(n_items) / threshold)
