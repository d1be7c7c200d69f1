"""Job records: what was asked, by whom, and how it went.

Huey moves messages; this module keeps the truth about each job (queued → running →
succeeded | failed | skipped) in a small table beside the queue. Claiming a job is one
atomic update from ``queued`` to ``running``, which is what makes a job run once even when
its message is delivered twice (a worker restarted after SIGKILL re-enqueues queued jobs
whose message it cannot find). Only one job per lock key (name + its days) may be running at
a time.

A running job holds a *lease*: its worker renews it every few seconds while the job runs
(:meth:`JobStore.renew`). A worker that dies stops renewing; once the lease is past its
deadline the job is *expired* (:meth:`JobStore.expired`) and taken over — retried or failed,
and its lock key freed. Nothing depends on process ids, which repeat across containers (a
worker is often PID 1) and after a reboot. Every change a worker makes to a job it runs is
fenced by the attempt it claimed, so a worker that lost its lease cannot overwrite the
outcome recorded after the takeover.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

JobState = Literal["queued", "running", "succeeded", "failed", "skipped"]
FINAL_STATES: tuple[JobState, ...] = ("succeeded", "failed", "skipped")
#: Longest outcome message kept in a record (a list of thousands of days is cut short).
MESSAGE_LIMIT = 2000

#: Seconds since the epoch, as time.time; injectable for tests.
Clock = Callable[[], float]


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


def _now() -> str:
    return _iso(time.time())


def capped(message: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    """``message`` cut to at most ``limit`` characters, saying how much was left out."""
    if message is None or len(message) <= limit:
        return message
    cut = limit - 40
    return f"{message[:cut]}… ({len(message) - cut:,} more characters)"


@dataclass
class JobRecord:
    id: str
    name: str
    params: dict[str, Any]
    lock_key: str
    state: JobState = "queued"
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    message: str | None = None
    """Outcome: an error, why it was skipped, or a summary of what it did."""
    result: dict[str, Any] | None = None
    worker: str | None = None
    """host:pid of the worker that ran it (for people: leases, not this, decide liveness)."""
    lease_until: str | None = None
    """While running: when the job counts as abandoned unless its worker renews the lease."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Every statement is a constant: values are always bound parameters.
_COLUMNS = (
    "id, name, params, lock_key, state, created_at, started_at, finished_at, attempts, "
    "message, result, worker, lease_deadline"
)
_INSERT = f"insert into jobs ({_COLUMNS}) values (?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_SELECT = f"select {_COLUMNS} from jobs"  # noqa: S608
_SELECT_BY_ID = f"{_SELECT} where id = ?"
_SELECT_RECENT = f"{_SELECT} order by created_at desc, id limit ?"
_SELECT_BY_STATE = f"{_SELECT} where state = ? order by created_at"
_SELECT_HOLDER = f"{_SELECT} where lock_key = ? and state = 'running' and id != ? limit 1"
_OUTCOME = (
    "update jobs set state = ?, finished_at = ?, message = ?, result = ?, lease_deadline = null"
)
_FINISH_QUEUED = f"{_OUTCOME} where id = ? and state = 'queued'"
_FINISH_ATTEMPT = f"{_OUTCOME} where id = ? and attempts = ? and state = 'running'"
_SELECT_EXPIRED = (
    f"{_SELECT} where state = 'running' and (lease_deadline is null or lease_deadline < ?)"
)


class JobStore:
    """Job records in SQLite (a file beside the queue; WAL, safe across processes)."""

    def __init__(self, path: str | Path, clock: Clock = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._tx() as con:
            con.execute(
                "create table if not exists jobs (id text primary key, name text not null, "
                "params text not null, lock_key text not null, state text not null, "
                "created_at text not null, started_at text, finished_at text, "
                "attempts integer not null default 0, message text, result text, worker text, "
                "lease_deadline real)"
            )
            columns = {row[1] for row in con.execute("pragma table_info(jobs)")}
            if "lease_deadline" not in columns:  # a queue.db of an earlier dimrec
                con.execute("alter table jobs add column lease_deadline real")
            con.execute("create index if not exists jobs_state on jobs (state, lock_key)")
            con.execute("create index if not exists jobs_created on jobs (created_at)")

    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("pragma journal_mode=wal")
            con.execute("pragma busy_timeout=30000")
            self._local.con = con
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        con = self._connection()
        con.execute("begin immediate")
        try:
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")

    def create(self, name: str, params: dict[str, Any], lock_key: str) -> JobRecord:
        record = JobRecord(id=uuid.uuid4().hex, name=name, params=params, lock_key=lock_key)
        with self._tx() as con:
            con.execute(_INSERT, _row(record))
        return record

    def get(self, job_id: str) -> JobRecord | None:
        cur = self._connection().execute(_SELECT_BY_ID, (job_id,))
        row = cur.fetchone()
        return _record(row) if row else None

    def recent(self, limit: int = 50) -> list[JobRecord]:
        cur = self._connection().execute(_SELECT_RECENT, (limit,))
        return [_record(row) for row in cur.fetchall()]

    def in_state(self, state: JobState) -> list[JobRecord]:
        cur = self._connection().execute(_SELECT_BY_STATE, (state,))
        return [_record(row) for row in cur.fetchall()]

    def claim(
        self, job_id: str, worker: str, lease_seconds: float
    ) -> tuple[JobRecord | None, JobRecord | None]:
        """Move a queued job to running with a lease of ``lease_seconds``, atomically.

        Returns ``(claimed, None)`` on success; ``(None, holder)`` when another job with the
        same lock key is running under a live lease (the job is left queued); ``(None,
        None)`` when the job is not queued any more (already run: a duplicate delivery) or
        does not exist. A holder whose lease has expired does not hold the key: take it
        over with :meth:`expired` first.
        """
        now = self.clock()
        with self._tx() as con:
            row = con.execute(_SELECT_BY_ID, (job_id,)).fetchone()
            if row is None or row[4] != "queued":
                return None, None
            record = _record(row)
            holder = con.execute(_SELECT_HOLDER, (record.lock_key, job_id)).fetchone()
            if holder is not None:
                return None, _record(holder)
            record.state, record.started_at = "running", _iso(now)
            record.attempts += 1
            record.worker = worker
            record.lease_until = _iso(now + lease_seconds)
            con.execute(
                "update jobs set state = ?, started_at = ?, attempts = ?, worker = ?, "
                "message = null, lease_deadline = ? where id = ?",
                (record.state, record.started_at, record.attempts, worker, now + lease_seconds,
                 job_id),
            )  # fmt: skip
        return record, None

    def renew(self, job_id: str, attempt: int, lease_seconds: float) -> bool:
        """Extend the lease of the running attempt ``attempt`` of a job; False when that
        attempt does not hold the job any more (it expired and was taken over)."""
        with self._tx() as con:
            cur = con.execute(
                "update jobs set lease_deadline = ? "
                "where id = ? and attempts = ? and state = 'running'",
                (self.clock() + lease_seconds, job_id, attempt),
            )
            return cur.rowcount == 1

    def expired(self) -> list[JobRecord]:
        """Running jobs whose lease is past its deadline: their worker stopped (killed,
        hung, its machine gone). The caller takes each over with :meth:`requeue` or
        :meth:`finish`, fenced by the attempt it saw."""
        cur = self._connection().execute(_SELECT_EXPIRED, (self.clock(),))
        return [_record(row) for row in cur.fetchall()]

    def requeue(self, job_id: str, message: str, attempt: int) -> bool:
        """Put running attempt ``attempt`` of a job back in the queue (a transient failure,
        or a takeover, that will be retried); False when that attempt no longer holds it."""
        with self._tx() as con:
            cur = con.execute(
                "update jobs set state = 'queued', message = ?, lease_deadline = null "
                "where id = ? and attempts = ? and state = 'running'",
                (capped(message), job_id, attempt),
            )
            return cur.rowcount == 1

    def finish(
        self,
        job_id: str,
        state: JobState,
        message: str | None = None,
        result: dict[str, Any] | None = None,
        *,
        attempt: int | None = None,
    ) -> bool:
        """Record a job's outcome. With ``attempt``, only while that attempt still holds the
        job (returns False otherwise); without, a queued job is finished (skipped)."""
        assert state in FINAL_STATES
        outcome = (
            state,
            _iso(self.clock()),
            capped(message),
            json.dumps(result) if result else None,
        )
        with self._tx() as con:
            if attempt is None:
                cur = con.execute(_FINISH_QUEUED, (*outcome, job_id))
            else:
                cur = con.execute(_FINISH_ATTEMPT, (*outcome, job_id, attempt))
            return cur.rowcount == 1

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def worker_name() -> str:
    """host:pid of this process, to tell people which worker ran a job."""
    return f"{os.uname().nodename}:{os.getpid()}"


def _row(record: JobRecord) -> tuple[Any, ...]:
    return (
        record.id,
        record.name,
        json.dumps(record.params, sort_keys=True),
        record.lock_key,
        record.state,
        record.created_at,
        record.started_at,
        record.finished_at,
        record.attempts,
        capped(record.message),
        json.dumps(record.result) if record.result else None,
        record.worker,
        None,
    )


def _record(row: tuple[Any, ...]) -> JobRecord:
    return JobRecord(
        id=row[0],
        name=row[1],
        params=json.loads(row[2]),
        lock_key=row[3],
        state=row[4],
        created_at=row[5],
        started_at=row[6],
        finished_at=row[7],
        attempts=row[8],
        message=row[9],
        result=json.loads(row[10]) if row[10] else None,
        worker=row[11],
        lease_until=_iso(row[12]) if row[12] is not None else None,
    )
