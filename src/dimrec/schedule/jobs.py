"""Job records: what was asked, by whom's clock, and how it went.

Huey moves messages; this module keeps the truth about each job (queued → running →
succeeded | failed | skipped) in a small table beside the queue. Claiming a job is one
atomic update from ``queued`` to ``running``, which is what makes a job run once even when
its message is delivered twice (a worker restarted after SIGKILL re-enqueues queued jobs
whose message it cannot find). Only one job per lock key (name + day or window) may be
running at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

JobState = Literal["queued", "running", "succeeded", "failed", "skipped"]
FINAL_STATES: tuple[JobState, ...] = ("succeeded", "failed", "skipped")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


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
    """host:pid of the worker that ran it."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Every statement is a constant: values are always bound parameters.
_INSERT = (
    "insert into jobs (id, name, params, lock_key, state, created_at, started_at, finished_at,"
    " attempts, message, result, worker) values (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_SELECT_BY_ID = "select * from jobs where id = ?"
_SELECT_RECENT = "select * from jobs order by created_at desc, id limit ?"
_SELECT_BY_STATE = "select * from jobs where state = ? order by created_at"
_SELECT_HOLDER = "select * from jobs where lock_key = ? and state = 'running' and id != ? limit 1"


class JobStore:
    """Job records in SQLite (a file beside the queue; WAL, safe across processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._tx() as con:
            con.execute(
                "create table if not exists jobs (id text primary key, name text not null, "
                "params text not null, lock_key text not null, state text not null, "
                "created_at text not null, started_at text, finished_at text, "
                "attempts integer not null default 0, message text, result text, worker text)"
            )
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

    def claim(self, job_id: str, worker: str) -> tuple[JobRecord | None, JobRecord | None]:
        """Move a queued job to running, atomically.

        Returns ``(claimed, None)`` on success; ``(None, holder)`` when another job with the
        same lock key is running (the job is left queued); ``(None, None)`` when the job is
        not queued any more (already run: a duplicate delivery) or does not exist.
        """
        with self._tx() as con:
            row = con.execute(_SELECT_BY_ID, (job_id,)).fetchone()
            if row is None or row[4] != "queued":
                return None, None
            record = _record(row)
            holder = con.execute(
                _SELECT_HOLDER,
                (record.lock_key, job_id),
            ).fetchone()
            if holder is not None:
                return None, _record(holder)
            record.state, record.started_at = "running", _now()
            record.attempts += 1
            record.worker = worker
            con.execute(
                "update jobs set state = ?, started_at = ?, attempts = ?, worker = ?, "
                "message = null where id = ?",
                (record.state, record.started_at, record.attempts, worker, job_id),
            )
        return record, None

    def requeue(self, job_id: str, message: str) -> None:
        """Put a running job back in the queue (a transient failure that will be retried)."""
        with self._tx() as con:
            con.execute(
                "update jobs set state = 'queued', message = ? where id = ? and state = 'running'",
                (message, job_id),
            )

    def finish(
        self,
        job_id: str,
        state: JobState,
        message: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        assert state in FINAL_STATES
        with self._tx() as con:
            con.execute(
                "update jobs set state = ?, finished_at = ?, message = ?, result = ? where id = ?",
                (state, _now(), message, json.dumps(result) if result else None, job_id),
            )

    def fail_interrupted(self, host: str) -> list[JobRecord]:
        """Mark jobs left ``running`` by a dead worker process of ``host`` as failed."""
        stale = [
            r
            for r in self.in_state("running")
            if r.worker and r.worker.rpartition(":")[0] == host and not _alive(r.worker)
        ]
        for record in stale:
            self.finish(
                record.id,
                "failed",
                f"interrupted: worker {record.worker} stopped while the job was running; "
                "submit it again",
            )
        return stale

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def _alive(worker: str) -> bool:
    pid = int(worker.rpartition(":")[2] or 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


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
        record.message,
        json.dumps(record.result) if record.result else None,
        record.worker,
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
    )
