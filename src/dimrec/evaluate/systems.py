"""Naming the systems of an evaluation on the command line.

A system is ``NAME[:OPTIONS]``:

- ``exact``, ``dimsum``, ``rp3beta``, ``ease``, ``sequential``, ``blend``: dimrec's
  algorithms on the base configuration; options ``key=value`` separated by commas
  override it — ``threshold``, ``alpha``, ``beta``, ``lambda``, ``weighting``, ``top_k``,
  ``min_items``, ``max_items``, ``window`` (days), ``half_life`` (days), ``weights``
  (browse/basket/purchase, e.g. ``weights=1/4/8``), or any training parameter by its name
  in ``dimrec.params`` (e.g. ``rp3_beta=0.3``); a bare value is dimsum's threshold or
  exact's weighting (``dimsum:0.1``, ``exact:bm25``);
- ``popularity``; ``implicit-cosine`` and ``implicit-bm25`` (the implicit package's
  CosineRecommender / BM25Recommender on the same matrix).

The default set: the default blend, exact, dimsum at 0.1 and 0.5, rp3beta, ease, sequential
rules, popularity, implicit cosine and implicit BM25.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import get_args

from pydantic import ValidationError

from dimrec.errors import InvalidInputError, describe_validation
from dimrec.evaluate.fit import KINDS, Config
from dimrec.evaluate.runner import Candidate
from dimrec.params import Algorithm, ModelParams, TrainParams

DEFAULT_SYSTEMS: tuple[str, ...] = (
    "blend",
    "exact",
    "dimsum:0.1",
    "dimsum:0.5",
    "rp3beta",
    "ease",
    "sequential",
    "popularity",
    "implicit-cosine",
    "implicit-bm25",
)
_PARAM_NAMES = {
    "threshold": "threshold",
    "alpha": "rp3_alpha",
    "beta": "rp3_beta",
    "lambda": "ease_lambda",
    "weighting": "weighting",
    "top_k": "top_k",
    "min_items": "min_items",
    "max_items": "max_items",
}
_DISPLAY = {"implicit-cosine": "implicit cosine", "implicit-bm25": "implicit BM25"}


def parse_systems(specs: Sequence[str], base: Config) -> list[Candidate]:
    """Candidates for ``specs`` on the ``base`` configuration; names are kept unique."""
    candidates: list[Candidate] = []
    seen: set[str] = set()
    for spec in specs:
        candidate = parse_system(spec, base)
        if candidate.name in seen:
            raise InvalidInputError(f"system {spec!r} is listed twice")
        seen.add(candidate.name)
        candidates.append(candidate)
    return candidates


def parse_system(spec: str, base: Config) -> Candidate:
    name, _, options = spec.strip().partition(":")
    algorithms = get_args(Algorithm)
    if name in ("popularity", "implicit-cosine", "implicit-bm25"):
        if options:
            raise InvalidInputError(f"system {spec!r}: {name} takes no options")
        kind = next(k for k in KINDS if k == name)
        return Candidate(_DISPLAY.get(name, name), kind, base)
    if name not in algorithms:
        known = ", ".join([*algorithms, "popularity", "implicit-cosine", "implicit-bm25"])
        raise InvalidInputError(f"unknown system {name!r} in {spec!r}; choose from {known}")
    params: dict[str, object] = {**base.params.model_dump(), "algorithm": name}
    config = base
    for option in filter(None, (o.strip() for o in options.split(","))):
        key, equals, value = option.partition("=")
        if not equals:
            key, value = ("threshold" if name == "dimsum" else "weighting"), option
        key = key.strip()
        if key in _PARAM_NAMES:
            params[_PARAM_NAMES[key]] = value.strip()
        elif key in ModelParams.model_fields:  # any training parameter by its own name
            params[key] = value.strip()
        elif key == "window":
            config = replace(config, window_days=int(_number(spec, key, value, int)))
        elif key == "half_life":
            params["half_life_days"] = _number(spec, key, value, float)
        elif key == "weights":
            params["weights"] = _weights(spec, value)
        else:
            allowed = ", ".join([*_PARAM_NAMES, "window", "half_life", "weights"])
            allowed += " or any training parameter by name"
            raise InvalidInputError(f"system {spec!r}: unknown option {key!r}; use {allowed}")
    try:
        checked = TrainParams.model_validate(params)
    except ValidationError as exc:
        raise InvalidInputError(f"system {spec!r}: {describe_validation(exc)}") from None
    return Candidate(spec.strip(), "dimrec", replace(config, params=checked))


def _weights(spec: str, value: str) -> dict[str, float]:
    parts = value.strip().split("/")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 3 or min(numbers) < 0:
        raise InvalidInputError(
            f"system {spec!r}: weights are browse/basket/purchase, three numbers ≥ 0 "
            f"(got {value!r})"
        )
    return dict(zip(("browse", "basket", "purchase"), numbers, strict=True))


def _number(spec: str, key: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(value)
    except ValueError:
        raise InvalidInputError(
            f"system {spec!r}: {key} must be a number (got {value!r})"
        ) from None
    if number <= 0:
        raise InvalidInputError(f"system {spec!r}: {key} must be positive (got {value})")
    return number
