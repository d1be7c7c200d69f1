"""The parameters each job accepts, validated before a job is queued.

The same models validate the jobs API's request bodies (a 422 names the bad field) and the
CLI's ``dimrec jobs run`` options, and they round-trip through the job record as JSON.

Before a job is queued its window is *resolved*: the bounds left unset take their defaults
(yesterday for export, ``[train]`` for the others) and ``as_of`` the day it was submitted,
so the record says which days it covers, the worker runs exactly those days whenever it
starts, and the lock key names them (``train:2026-10-22..2026-11-20``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from dimrec import dates, tuned
from dimrec.config import Settings
from dimrec.params import EngineName, ModelParams


class JobParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def resolved(self, settings: Settings, today: dt.date) -> Self:  # noqa: ARG002
        """The parameters as the job will run them, with every default made concrete;
        InvalidInputError when they cannot run (a window too long)."""
        return self

    def lock_key(self, name: str) -> str:
        """Two jobs with the same key never run at the same time."""
        return name


class _Window(JobParams):
    date: dt.date | None = Field(None, description="One day (YYYY-MM-DD).")
    days_init: int | None = Field(None, ge=0, description="First day, in days before as_of.")
    days_end: int | None = Field(None, ge=0, description="Last day, in days before as_of.")
    as_of: dt.date | None = Field(None, description="Day the window counts back from.")

    @field_validator("date", "as_of", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, str):
            return dates.parse_date(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> _Window:
        if self.date is not None and (self.days_init is not None or self.days_end is not None):
            raise ValueError("give either date or days_init/days_end, not both")
        if (
            self.days_init is not None
            and self.days_end is not None
            and self.days_end > self.days_init
        ):
            raise ValueError(
                f"days_end ({self.days_end}) must not be greater than days_init ({self.days_init})"
            )
        return self

    def default_bounds(self, settings: Settings) -> tuple[int, int]:
        """``days_init, days_end`` when neither is given: the ``[train]`` window, its length
        set by the applied tune when it chose one."""
        return tuned.training_window(settings)

    def bounds(self, settings: Settings) -> tuple[int, int]:
        init, end = self.default_bounds(settings)
        return (
            init if self.days_init is None else self.days_init,
            end if self.days_end is None else self.days_end,
        )

    def days(self, settings: Settings, today: dt.date) -> list[dt.date]:
        """The days of the window (``today`` anchors it when ``as_of`` is unset)."""
        if self.date is not None:
            return [self.date]
        init, end = self.bounds(settings)
        return dates.window(init, end, self.as_of or today, max_days=settings.max_window_days)

    def resolved(self, settings: Settings, today: dt.date) -> Self:
        if self.date is not None:
            return self
        init, end = self.bounds(settings)
        as_of = self.as_of or today
        dates.window(init, end, as_of, max_days=settings.max_window_days)  # bounded, valid
        return self.model_copy(update={"days_init": init, "days_end": end, "as_of": as_of})

    def lock_key(self, name: str) -> str:
        if self.date is not None:
            return f"{name}:{self.date.isoformat()}"
        if self.as_of is None or self.days_init is None or self.days_end is None:
            raise ValueError(f"{name} job: resolve the window before building its lock key")
        first = self.as_of - dt.timedelta(days=self.days_init)
        last = self.as_of - dt.timedelta(days=self.days_end)
        return f"{name}:{first.isoformat()}..{last.isoformat()}"


class ExportParams(_Window):
    """Export one day (date) or a window of days (default: yesterday)."""

    allow_empty: bool = Field(
        False, description="Write days even when nearly empty (see `dimrec export --help`)."
    )

    def default_bounds(self, settings: Settings) -> tuple[int, int]:  # noqa: ARG002
        return 1, 1


class PrepareParams(_Window):
    force: bool = Field(False, description="Recompute profiles that already exist.")


def _optional(field: FieldInfo) -> tuple[Any, FieldInfo]:
    """A parameter's field as an override: the same type and bounds, or None (unset)."""
    annotation: Any = field.annotation
    return annotation | None, FieldInfo.merge_field_infos(field, default=None)


#: Every training parameter (:class:`dimrec.params.ModelParams`) as an optional override.
_overrides: dict[str, Any] = {
    name: _optional(field) for name, field in ModelParams.model_fields.items()
}
_TrainOverrides = create_model("_TrainOverrides", __base__=JobParams, **_overrides)


class TrainJobParams(_Window, _TrainOverrides):
    """Train on the window; any training parameter (algorithm, threshold, top_k, ...)
    overrides ``[train]``."""

    engine: EngineName | None = None
    allow_missing: bool = False

    def overrides(self) -> dict[str, Any]:
        """The training parameters given, by name."""
        return {
            name: getattr(self, name)
            for name in ModelParams.model_fields
            if getattr(self, name) is not None
        }


class PublishParams(JobParams):
    version: str | None = Field(None, pattern=r"^\d{8}T\d{9}Z$", description="Default: newest.")
    force: bool = Field(False, description="Publish even if the catalogue shrinks a lot.")


class DailyParams(TrainJobParams):
    """prepare → train → publish over the window (export of the window's days must exist)."""

    force: bool = False


class TuneParams(JobParams):
    """Re-tune on the training window before as_of (default today) and switch the applied
    tune when the choice is better than the configuration in use (a paired 95% interval of
    the NDCG@10 difference above zero on the test days)."""

    as_of: dt.date | None = Field(None, description="Day the window counts back from.")

    @field_validator("as_of", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, str):
            return dates.parse_date(value)
        return value


JobName = Literal["export", "prepare", "train", "publish", "daily", "tune"]
JOB_NAMES: tuple[JobName, ...] = get_args(JobName)

JOB_PARAMS: dict[JobName, type[JobParams]] = {
    "export": ExportParams,
    "prepare": PrepareParams,
    "train": TrainJobParams,
    "publish": PublishParams,
    "daily": DailyParams,
    "tune": TuneParams,
}
assert set(JOB_PARAMS) == set(JOB_NAMES), "every job name has its parameters"
