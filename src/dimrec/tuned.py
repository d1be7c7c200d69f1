"""The configuration a tune run chose, and the one applied to training.

A tune run (``dimrec tune``) writes its choice as ``tuned.json`` (a :class:`TunedConfig`)
in its report folder, beside ``dimrec.tuned.toml`` (the same as a settings file to layer
with ``-c``). Applying it (``dimrec tune --apply``, ``dimrec tuned --apply RUN`` or the
periodic re-tune) copies it to ``<paths.models>/tuned.json``, where ``dimrec train`` and the
daily chain read it. Precedence of a training parameter, highest first:

1. the command line or the job's parameters (``--algorithm``, ``--param``, the jobs API);
2. the applied tune (its algorithm's parameters, action weights, window length and the
   store's ``sim_cap``);
3. the settings: ``DIMREC_*`` environment, then ``dimrec.toml`` ``[train]``/``[weights]``;
4. the defaults of :class:`dimrec.params.ModelParams`.

A model trained with the applied tune's parameters names its run in its manifest
(``tuned_by``). ``dimrec tuned`` shows the applied tune, ``dimrec tuned --clear`` removes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dimrec.config import Settings
from dimrec.errors import IntegrityError, MissingDataError, describe_validation
from dimrec.fsio import atomic_write_bytes, join, url_to_fs
from dimrec.params import ModelParams, TrainParams, train_params

#: The applied tune's file name under ``paths.models``; a run's own copy is in its folder.
TUNED_FILE = "tuned.json"
#: The run's choice as a settings file (``[weights]``, ``[train]``, ``[store]``).
FRAGMENT_FILE = "dimrec.tuned.toml"


class TunedConfig(BaseModel):
    """What a tune run chose and how it scored (``tuned.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: str
    """The tune run's name (its report folder: ``tune-<version>``)."""
    report: str
    """Where the run's report is."""
    created_at: str
    dataset: str
    validation: str
    """The validation split the choice was made on."""
    mode: str
    """The evaluation mode (history or session)."""
    params: dict[str, Any]
    """The parameters that apply to the chosen algorithm (``ModelParams.relevant()``)."""
    weights: dict[str, float]
    window_days: int | None = None
    """Days of the training window (None: the settings' window)."""
    sim_cap: int = Field(ge=1)
    """Neighbours the store keeps per item: the chosen top_k, as evaluated."""
    scores: dict[str, float] = Field(default_factory=dict)
    """NDCG@10 on validation and on the test, and the like."""

    def to_json(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode("utf-8")

    def model_params(self, base: TrainParams) -> TrainParams:
        """``base`` (the settings' parameters) with this choice over it."""
        values = {**base.model_dump(), **self.params, "weights": dict(self.weights)}
        return TrainParams.model_validate(values)

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.run}: {params}"


def config_of(params: TrainParams, **fields: Any) -> TunedConfig:
    """A TunedConfig of ``params`` (only those that apply to its algorithm are kept)."""
    relevant = ModelParams.model_validate(params.model_dump(exclude={"weights"})).relevant()
    return TunedConfig(params=relevant, weights=dict(params.weights), **fields)


def applied_url(models_url: str) -> str:
    return join(models_url, TUNED_FILE)


def read_tuned(url: str) -> TunedConfig | None:
    """The TunedConfig at ``url``, None when there is none; IntegrityError when unreadable."""
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        return None
    try:
        return TunedConfig.model_validate_json(fs.cat_file(path))
    except ValidationError as exc:
        raise IntegrityError(
            f"{url} is not a tuned configuration ({describe_validation(exc)}); remove it "
            "(`dimrec tuned --clear`) or tune again"
        ) from None


def applied(models_url: str) -> TunedConfig | None:
    """The applied tune, if any."""
    return read_tuned(applied_url(models_url))


def apply(models_url: str, config: TunedConfig) -> str:
    """Make ``config`` the applied tune; returns where it was written."""
    url = applied_url(models_url)
    fs, path = url_to_fs(url)
    atomic_write_bytes(fs, path, config.to_json())
    return url


def apply_run(models_url: str, run_url: str) -> TunedConfig:
    """Apply the choice of the tune run whose folder is ``run_url``."""
    config = read_tuned(join(run_url, TUNED_FILE))
    if config is None:
        raise MissingDataError(
            f"no {TUNED_FILE} in {run_url}: give the folder of a `dimrec tune` run "
            "(models/evaluations/tune-<version>)"
        )
    apply(models_url, config)
    return config


def clear(models_url: str) -> bool:
    """Remove the applied tune; whether there was one."""
    fs, path = url_to_fs(applied_url(models_url))
    if not fs.exists(path):
        return False
    fs.rm(path)
    return True


def training_params(
    settings: Settings, overrides: Mapping[str, object] | None = None
) -> tuple[TrainParams, TunedConfig | None]:
    """The training parameters and the applied tune they came from (if any). Highest first:
    ``overrides`` (command line, job parameters; None values ignored) > the applied tune >
    the settings (environment, ``[train]``/``[weights]``) > the defaults. InvalidInputError
    names a bad override."""
    config = applied(settings.paths.models_url())
    base = settings.train_params()
    if config is not None:
        base = config.model_params(base)
    params = train_params(base.model_dump(), base.weights, **dict(overrides or {}))
    return params, config


def training_window(settings: Settings) -> tuple[int, int]:
    """``(days_init, days_end)`` of the training window: the settings' ``[train]`` window,
    its length set by the applied tune when it chose one."""
    config = applied(settings.paths.models_url())
    days_end = settings.train.days_end
    if config is not None and config.window_days is not None:
        return days_end + config.window_days - 1, days_end
    return settings.train.days_init, days_end


def fragment(config: TunedConfig, comments: list[str]) -> str:
    """``config`` as a settings file to layer over ``dimrec.toml`` (``-c``), every value
    taken from the config: nothing listed by hand."""
    lines = [f"# {line}" for line in comments]
    lines += ["", "[weights]"]
    lines += [f"{name} = {_toml(value)}" for name, value in sorted(config.weights.items())]
    lines += ["", "[train]"]
    for name, value in config.params.items():
        if value is None:  # TOML has no null: say so, as applying the tune would unset it
            lines.append(f"# {name} unset (None): remove it from [train] if set there")
        else:
            lines.append(f"{name} = {_toml(value)}")
    if config.window_days is not None:
        lines += [f"days_init = {config.window_days}", "days_end = 1"]
    lines += ["", "[store]", f"sim_cap = {config.sim_cap}"]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
