"""Integrity checks of everything dimrec wrote: ``dimrec doctor``.

- events and profiles: every day's Parquet file is readable; profiles carry their
  description (what they were computed from) and say whether their events changed since;
- models: every version's manifest is valid and every file matches its checksum;
- the store: the backend's own check (SQLite ``PRAGMA integrity_check``), the current version
  is published, each published version still holds the entries it was published with, and
  every entry of the current version reads back;
- left-overs of interrupted writes (:mod:`dimrec.upkeep.leftovers`), which ``dimrec gc``
  removes.

A *problem* is damage: something a stage would refuse or serve wrong. A *note* is worth
knowing but harmless (left-overs, stale profiles that the next prepare recomputes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from dimrec.errors import DimrecError, MissingDataError
from dimrec.model import list_versions, load_model
from dimrec.partitions import DayPartitions
from dimrec.publish.base import Store
from dimrec.train.profiles import current_description, read_description
from dimrec.upkeep.leftovers import Leftover

log = logging.getLogger(__name__)

Severity = Literal["ok", "note", "problem"]


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found."""

    area: str
    """events, profiles, models, store or left-overs."""
    severity: Severity
    what: str


@dataclass
class Report:
    """What the checks found, area by area, in the order they ran."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, area: str, severity: Severity, what: str) -> None:
        self.findings.append(Finding(area, severity, what))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "problem"]


def check_partitions(report: Report, days: DayPartitions) -> None:
    """Every day of ``days`` is readable (its footer; the data pages are checked by their
    own checksums when read)."""
    listed = days.days()
    bad = 0
    for day in listed:
        try:
            days.rows(day)
        except DimrecError as exc:
            bad += 1
            report.add(days.name, "problem", str(exc))
    report.add(days.name, "ok", f"{len(listed) - bad} of {len(listed)} day(s) readable")


def check_profiles(report: Report, events: DayPartitions, profiles: DayPartitions) -> None:
    """Profiles without a description, or whose events changed since, are recomputed by the
    next prepare: notes, not problems."""
    undescribed, stale = [], []
    for day in profiles.days():
        try:
            description = read_description(profiles, day, strict=True)
        except DimrecError:
            continue  # reported as unreadable by check_partitions
        weights = (description or {}).get("weights")
        if not isinstance(weights, dict):
            undescribed.append(day.isoformat())
        elif current_description(events, profiles, day, weights) is None:
            stale.append(day.isoformat())
    if undescribed:
        report.add(
            "profiles",
            "note",
            f"{len(undescribed)} day(s) carry no description of how they were computed "
            f"({', '.join(undescribed[:5])}…): the next prepare recomputes them when their "
            "events exist",
        )
    if stale:
        report.add(
            "profiles",
            "note",
            f"{len(stale)} day(s) are older than their events ({', '.join(stale[:5])}): the "
            "next prepare recomputes them",
        )


def check_models(report: Report, models_url: str) -> None:
    """Every complete version loads: a valid manifest and files matching its checksums."""
    versions = list_versions(models_url)
    bad = 0
    for version in versions:
        try:
            load_model(models_url, version, verify=True)
        except DimrecError as exc:
            bad += 1
            report.add("models", "problem", str(exc))
    report.add("models", "ok", f"{len(versions) - bad} of {len(versions)} version(s) sound")


def check_store(report: Report, open_store: Callable[[], Store]) -> None:
    """The store's own integrity check, its versions' entry counts and the current version's
    entries."""
    try:
        store = open_store()
    except MissingDataError as exc:
        report.add("store", "note", str(exc))
        return
    except DimrecError as exc:
        report.add("store", "problem", str(exc))
        return
    try:
        _store_findings(report, store)
    except DimrecError as exc:
        report.add("store", "problem", str(exc))
    finally:
        store.close()


def _store_findings(report: Report, store: Store) -> None:
    for problem in store.integrity_problems():
        report.add("store", "problem", f"{store.url}: {problem}")
    infos = store.versions()
    current = store.current()
    published = [i for i in infos if not i.staged]
    if current is not None and current not in {i.version for i in published}:
        report.add("store", "problem", f"{store.url}: the current version {current} is missing")
    for info in published:
        held = store.count(info.version)
        if held != info.items:
            report.add(
                "store",
                "problem",
                f"{store.url}: version {info.version} holds {held:,} entries, "
                f"{info.items:,} when it was published; publish it again",
            )
    for info in infos:
        if info.staged:
            report.add(
                "store",
                "note",
                f"{store.url}: version {info.version} was left staged by an interrupted "
                "publish; the next publish removes it",
            )
    if current is not None:
        entries = sum(1 for _ in store.entries(current))  # each entry is unpacked
        report.add(
            "store",
            "ok",
            f"{store.url}: current version {current}, {entries:,} entries read back; "
            f"{len(published)} published version(s)",
        )
    else:
        report.add("store", "note", f"{store.url}: no version published yet")


def check_leftovers(report: Report, leftovers: list[Leftover]) -> None:
    if not leftovers:
        report.add("left-overs", "ok", "no left-overs of interrupted writes")
        return
    size = sum(item.bytes for item in leftovers)
    kinds = sorted({item.kind for item in leftovers})
    report.add(
        "left-overs",
        "note",
        f"{len(leftovers)} left-over(s) of interrupted writes ({', '.join(kinds)}; "
        f"{size:,} bytes): `dimrec gc` removes them",
    )
