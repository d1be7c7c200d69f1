"""The parameters each job accepts, validated before a job is queued.

The same models validate the jobs API's request bodies (a 422 names the bad field) and the
CLI's ``dimrec jobs run`` options, and they round-trip through the job record as JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dimrec import dates


class JobParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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

    def days(self, default_init: int, default_end: int, today: dt.date) -> list[dt.date]:
        if self.date is not None:
            return [self.date]
        init = default_init if self.days_init is None else self.days_init
        end = default_end if self.days_end is None else self.days_end
        return dates.window(init, end, self.as_of or today)

    def lock_key(self, name: str) -> str:
        if self.date is not None:
            return f"{name}:{self.date.isoformat()}"
        return f"{name}:{self.days_init}-{self.days_end}@{self.as_of or 'today'}"


class ExportParams(_Window):
    """Export one day (date) or a window of days (default: yesterday)."""


class PrepareParams(_Window):
    force: bool = Field(False, description="Recompute profiles that already exist.")


class TrainJobParams(_Window):
    algorithm: Literal["exact", "dimsum", "rp3beta", "ease"] | None = None
    threshold: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=1)
    engine: Literal["local", "spark"] | None = None
    allow_missing: bool = False


class PublishParams(JobParams):
    version: str | None = Field(None, pattern=r"^\d{8}T\d{9}Z$", description="Default: newest.")
    force: bool = Field(False, description="Publish even if the catalogue shrinks a lot.")


class DailyParams(TrainJobParams):
    """prepare → train → publish over the window (export of the window's days must exist)."""

    force: bool = False


JOB_PARAMS: dict[str, type[JobParams]] = {
    "export": ExportParams,
    "prepare": PrepareParams,
    "train": TrainJobParams,
    "publish": PublishParams,
    "daily": DailyParams,
}
JobName = Literal["export", "prepare", "train", "publish", "daily"]
