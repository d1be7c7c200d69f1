"""The parameters that decide a model, declared once.

:class:`ModelParams` holds every training parameter; ``[train]`` in the settings
(:class:`dimrec.config.TrainSettings`) extends it with where and when to train, and
:class:`TrainParams` adds the action weights of ``[weights]``: what a model version's manifest
records. Each field's ``algorithms`` (in its ``json_schema_extra``) names the algorithms it
applies to; a field without it applies to all. A new parameter is a field here and its use in
an engine; the settings, the command line (``--param name=value``), the jobs API, tuning
reports and evaluation labels derive from this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dimrec.errors import InvalidInputError, describe_validation

Algorithm = Literal["cosine", "exact", "dimsum", "rp3beta", "ease", "sequential", "blend"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)
#: Cosine algorithms (exact, estimated by DIMSUM, or either as the data makes worth it —
#: ``cosine``, see :func:`dimrec.train.dimsum.choose_cosine`): symmetric lists, similarities
#: in [0, 1].
COSINE: tuple[Algorithm, ...] = ("cosine", "exact", "dimsum")
#: Algorithms that learn from the order of events within sessions, not only the matrix.
ORDERED: tuple[Algorithm, ...] = ("sequential",)
#: A blend's weight parameters and the algorithm each weighs (see train.local.blend).
BLEND_COMPONENTS: dict[str, Algorithm] = {
    "blend_ease": "ease",
    "blend_rp3beta": "rp3beta",
    "blend_cosine": "cosine",
    "blend_sequential": "sequential",
}

#: How a blend puts its components on one scale (see train.local.blend).
BlendScale = Literal["row", "max"]

Weighting = Literal["none", "bm25", "tfidf"]
WEIGHTINGS: tuple[Weighting, ...] = get_args(Weighting)

#: Where a model is computed (not part of what it is).
EngineName = Literal["local", "spark"]
ENGINES: tuple[EngineName, ...] = get_args(EngineName)

DEFAULT_WEIGHTS = {"browse": 0.5, "basket": 2.0, "purchase": 6.0}

#: What a bad value of a parameter means, added to its validation message.
HINTS = {
    "threshold": "the DIMSUM threshold is between 0 and 1; 0 means exact",
    "top_k": "at least 1 neighbour per item",
    "min_items": "users need at least 1 item",
    "max_items": "users need at least 1 item",
}


def _only(*algorithms: Algorithm) -> dict[str, Any]:
    return {"algorithms": list(algorithms)}


class ModelParams(BaseModel):
    """Every training parameter except the action weights. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Algorithm = "blend"
    """cosine (exact, or DIMSUM at ``threshold`` where exact would be very large and sampling
    saves most of the work: train.dimsum.choose_cosine), exact cosine, dimsum (sampled
    cosine), rp3beta, ease, sequential (rules) or blend. A model's manifest records the one
    computed. The default, a max-scaled blend of BM25-weighted cosine (1), RP3beta (¼) and
    sequential rules (½), did best across the project's data sets on validation among the
    configurations not below implicit BM25 on any of them (bench/README.md, "Defaults")."""
    threshold: float = Field(0.1, ge=0, le=1, json_schema_extra=_only("dimsum", "cosine", "blend"))
    """DIMSUM: each similarity above it is estimated within 20% relative error with
    probability ≥ 0.95, whatever the action weights (see train.dimsum)."""
    top_k: int = Field(100, ge=1)
    """Neighbours kept per item."""
    min_items: int = Field(2, ge=1)
    """Users with fewer distinct items in the window are left out."""
    max_items: int = Field(100, ge=1)
    """Users with more distinct items in the window are left out."""
    seed: int = Field(42, json_schema_extra=_only("dimsum", "cosine", "blend"))
    """Seed of DIMSUM's sampling."""
    rp3_alpha: float = Field(0.5, gt=0, json_schema_extra=_only("rp3beta", "blend"))
    """rp3beta: exponent applied to each transition probability (1: plain random walk)."""
    rp3_beta: float = Field(0.25, ge=0, json_schema_extra=_only("rp3beta", "blend"))
    """rp3beta: a neighbour's score is divided by its popularity (distinct users) ** beta."""
    ease_lambda: float = Field(200.0, gt=0, json_schema_extra=_only("ease", "blend"))
    """ease: L2 penalty λ added to the diagonal of XᵀX."""
    ease_max_items: int = Field(30_000, ge=1, json_schema_extra=_only("ease", "blend"))
    """ease: most items it accepts (it inverts a dense items × items matrix)."""
    sr_steps: int = Field(10, ge=1, json_schema_extra=_only("sequential", "blend"))
    """sequential: how many steps ahead in a session a rule reaches (weight 1/distance)."""
    blend_ease: float = Field(0.0, ge=0, json_schema_extra=_only("blend"))
    """blend: weight of EASE (ease_lambda, on the matrix reweighted by weighting)."""
    blend_rp3beta: float = Field(0.25, ge=0, json_schema_extra=_only("blend"))
    """blend: weight of RP3beta (rp3_alpha, rp3_beta, on the plain matrix)."""
    blend_cosine: float = Field(1.0, ge=0, json_schema_extra=_only("blend"))
    """blend: weight of cosine on the BM25-weighted matrix (exact, or DIMSUM at threshold
    where exact would be very large, as algorithm cosine chooses)."""
    blend_sequential: float = Field(0.5, ge=0, json_schema_extra=_only("blend"))
    """blend: weight of the sequential rules (sr_steps)."""
    blend_scale: BlendScale = Field("max", json_schema_extra=_only("blend"))
    """blend: "row" divides each item's list in each component by its best value (every
    component has the same say in every list); "max" divides each component by its largest
    value (each keeps its own ranking of items' lists: a strong component with a little of
    the others)."""
    weighting: Weighting = Field(
        "none", json_schema_extra=_only("exact", "dimsum", "rp3beta", "ease", "blend")
    )
    """Reweight the user × item matrix before the similarity (see train.local.weighting);
    shoppers' queries keep their plain action weights."""
    half_life_days: float | None = Field(None, gt=0)
    """Time decay: a day's profile scores are halved every half_life_days of age, counted in
    whole days back from the newest day of the window (None: no decay)."""

    @model_validator(mode="after")
    def _check_user_filter(self) -> ModelParams:
        if self.min_items > self.max_items:
            raise ValueError(f"min_items ({self.min_items}) > max_items ({self.max_items})")
        if self.algorithm == "blend" and not any(getattr(self, n) > 0 for n in BLEND_COMPONENTS):
            raise ValueError(
                f"a blend needs a positive weight for one of {', '.join(BLEND_COMPONENTS)}"
            )
        return self

    @property
    def ordered(self) -> bool:
        """Whether training needs the window's events in time order (sessions)."""
        return self.algorithm in ORDERED or (
            self.algorithm == "blend" and self.blend_sequential > 0
        )

    @classmethod
    def applies(cls, name: str, algorithm: str) -> bool:
        """Whether parameter ``name`` changes what ``algorithm`` computes."""
        extra = cls.model_fields[name].json_schema_extra
        only = extra.get("algorithms") if isinstance(extra, dict) else None
        return only is None or (isinstance(only, list) and algorithm in only)

    def relevant(self) -> dict[str, Any]:
        """The parameters that apply to this algorithm, by name (JSON values)."""
        values = self.model_dump(mode="json")
        return {
            name: value
            for name, value in values.items()
            if name in ModelParams.model_fields and self.applies(name, self.algorithm)
        }


class TrainParams(ModelParams):
    """Everything that decides the content of a model (not where or how fast it is computed):
    the training parameters and the action weights. Round-trips through the manifest."""

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    """Score of one action in a profile."""


def train_params(
    base: Mapping[str, Any], weights: Mapping[str, float], **overrides: object
) -> TrainParams:
    """TrainParams from ``base`` (the ``[train]`` settings or another set of parameters) and
    ``weights``, with ``overrides`` (None values ignored); InvalidInputError names each bad
    parameter and its value."""
    values = {name: base[name] for name in ModelParams.model_fields if name in base}
    values["weights"] = dict(weights)
    values.update({name: value for name, value in overrides.items() if value is not None})
    try:
        return TrainParams.model_validate(values)
    except ValidationError as exc:
        problems = describe_validation(exc, hints=HINTS)
        raise InvalidInputError(f"invalid training parameters: {problems}") from None
