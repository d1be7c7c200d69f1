"""What the pipeline did, day by day: the last export, prepare, train and publish of each day,
with its outcome and, for a failure, the reason — the status the web console shows.

:mod:`dimrec.pipeline` records every run of a step, whoever started it (a command, a queued
job, the daily chain), in one small JSON file per step and day::

    <paths.runs>/<step>/<YYYY-MM-DD>.json      (default paths.runs: <paths.data>/runs)

A file holds the *last* run of that step for that day and is replaced whole by the next one.
The day is the data's day: the exported or prepared day; for train, the last day of the
model's window; for publish, the last day of the published model's window (the day it ran
when the model could not be read). Any fsspec URL works, as for the other paths.

Recording is bookkeeping: a run record that cannot be written is logged as a warning and
never fails the step itself.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from dimrec.errors import DimrecError, StorageError
from dimrec.fsio import atomic_write_bytes, join, url_to_fs

log = logging.getLogger(__name__)

Step = Literal["export", "prepare", "train", "publish"]
STEPS: tuple[Step, ...] = get_args(Step)
Outcome = Literal["succeeded", "failed"]


@dataclass(frozen=True)
class Run:
    """One run of a step for one day."""

    step: Step
    day: dt.date
    outcome: Outcome
    message: str
    """What it did (succeeded) or why it failed."""
    started_at: str
    finished_at: str
    seconds: float
    version: str | None = None
    """The model version trained or published, when there is one."""

    def to_json(self) -> bytes:
        data = asdict(self) | {"day": self.day.isoformat()}
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Run:
        fields = json.loads(data)
        return cls(**(fields | {"day": dt.date.fromisoformat(fields["day"])}))


@dataclass
class RunNote:
    """What a step fills in while it runs (see :meth:`RunLog.running`)."""

    message: str = ""
    version: str | None = None
    day: dt.date | None = None
    """The day to file the run under, when only the step knows it."""


def failure(exc: BaseException) -> str:
    """The reason a run failed, as the status shows it."""
    return str(exc) if isinstance(exc, DimrecError) else f"unexpected {type(exc).__name__}: {exc}"


class RunLog:
    """The run records under one URL (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def record(self, run: Run) -> None:
        """Write ``run`` as the last one of its step and day; a failure is only logged."""
        try:
            fs, root = url_to_fs(self.url)
            atomic_write_bytes(fs, _file(root, run.step, run.day), run.to_json())
        except (OSError, StorageError, ValueError) as exc:
            log.warning("could not record the %s run of %s: %s", run.step, run.day, exc)

    def finished(
        self,
        step: Step,
        day: dt.date,
        outcome: Outcome,
        message: str,
        *,
        seconds: float,
        version: str | None = None,
    ) -> None:
        """Record a run that has just finished after ``seconds``."""
        now = dt.datetime.now(dt.UTC)
        start = now - dt.timedelta(seconds=seconds)
        self.record(
            Run(
                step=step,
                day=day,
                outcome=outcome,
                message=message,
                started_at=start.isoformat(timespec="seconds"),
                finished_at=now.isoformat(timespec="seconds"),
                seconds=round(seconds, 3),
                version=version,
            )
        )

    @contextmanager
    def running(self, step: Step, day: dt.date | None = None) -> Iterator[RunNote]:
        """Record the block as one run of ``step``: succeeded with the note's message, or
        failed with the error's message (the error goes on). The day is ``day`` or the one
        the block puts in the note (today, UTC, when neither knows it)."""
        note = RunNote(day=day)
        started = time.perf_counter()

        def finish(outcome: Outcome, message: str) -> None:
            self.finished(
                step,
                note.day or dt.datetime.now(dt.UTC).date(),
                outcome,
                message,
                seconds=time.perf_counter() - started,
                version=note.version,
            )

        try:
            yield note
        except Exception as exc:
            finish("failed", failure(exc))
            raise
        finish("succeeded", note.message)

    def recent(self, days: int = 14) -> list[tuple[dt.date, dict[Step, Run]]]:
        """The last ``days`` days that have any run, newest first, each with its last run
        of every step that ran."""
        fs, root = url_to_fs(self.url)
        found: dict[dt.date, list[Step]] = {}
        for step in STEPS:
            folder = join(root, step)
            if not fs.isdir(folder):
                continue
            for name in fs.ls(folder, detail=False):
                stem = name.rpartition("/")[2].removesuffix(".json")
                try:
                    found.setdefault(dt.date.fromisoformat(stem), []).append(step)
                except ValueError:
                    continue  # a temporary file of a write in progress
        result = []
        for day in sorted(found, reverse=True)[:days]:
            runs: dict[Step, Run] = {}
            for step in found[day]:
                try:
                    runs[step] = Run.from_json(fs.cat_file(_file(root, step, day)))
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    log.warning("unreadable run record %s of %s: %s", step, day, exc)
            result.append((day, runs))
        return result


def _file(root: str, step: Step, day: dt.date) -> str:
    return join(root, step, f"{day.isoformat()}.json")
