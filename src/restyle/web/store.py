"""The web app's job store: one SQLite table, shared by the web server and its worker processes.

Every state change and progress update of a web job goes through here, so the server, any number
of workers and a restarted server all see the same jobs. Connections are opened per call (SQLite
in WAL mode serves concurrent readers while one process writes), which keeps the store safe to use
from any thread or process without sharing a connection.

States: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled`` | ``interrupted`` (the server
stopped or died while it ran; resumable from its checkpoint, back to ``queued``).

A job is a single run (``kind='run'``) or a sweep (``kind='sweep'``): then ``sweep`` holds its axes
and cells as planned when it was created, ``cells`` the finished cells' losses and times (by cell
index), ``cell`` the index of the running cell and ``cells_done`` how many are finished; ``step``
and the other progress columns are the running cell's.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    share TEXT NOT NULL,
    state TEXT NOT NULL,
    overrides TEXT NOT NULL,
    config TEXT NOT NULL,
    content_name TEXT NOT NULL,
    style_name TEXT NOT NULL,
    content_file TEXT NOT NULL,
    style_file TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    scale INTEGER NOT NULL DEFAULT 0,
    scales INTEGER NOT NULL DEFAULT 0,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    losses TEXT NOT NULL DEFAULT '{}',
    elapsed REAL NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    resumed_from INTEGER,
    preview_version INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER,
    checkpoint_step INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, created);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
"""

#: Columns added after the first release: ``ALTER TABLE`` adds them to an older data dir's table.
_ADDED_COLUMNS = {
    "kind": "TEXT NOT NULL DEFAULT 'run'",
    "sweep": "TEXT NOT NULL DEFAULT 'null'",
    "cells": "TEXT NOT NULL DEFAULT '{}'",
    "cell": "INTEGER NOT NULL DEFAULT -1",
    "cells_done": "INTEGER NOT NULL DEFAULT 0",
    "eta_s": "REAL",  # seconds left at the last progress update (RunETA: each scale's measured step cost)
    "eta_at": "REAL",  # when eta_s was estimated (time.time())
}

_JSON_COLUMNS = ("overrides", "config", "losses", "sweep", "cells")


class QueueFull(Exception):
    """The queue already holds as many waiting jobs as allowed."""


class JobStore:
    """Jobs of the web app in ``path`` (an SQLite file, created when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._add_columns(db)

    @staticmethod
    def _add_columns(db: sqlite3.Connection) -> None:
        """Bring a table made by an older version up to date (in one transaction: workers open it too)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            for name, decl in _ADDED_COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @staticmethod
    def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        d = dict(row)
        for key in _JSON_COLUMNS:
            d[key] = json.loads(d[key])
        return d

    # ------------------------------------------------------------------ creating and reading
    def create(self, job: dict[str, Any], max_queued: int) -> None:
        """Insert a queued job (``job`` holds the column values); QueueFull when ``max_queued`` wait already."""
        values = {**job, "state": "queued", "created": job.get("created", time.time())}
        for key in _JSON_COLUMNS:
            if key in values:
                values[key] = json.dumps(values[key])
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                (queued,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()
                if queued >= max_queued:
                    raise QueueFull(f"the queue is full ({queued} jobs waiting)")
                cols = ", ".join(values)
                db.execute(f"INSERT INTO jobs ({cols}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's row as a dict (JSON columns decoded), or None."""
        with self._connect() as db:
            return self._row(db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())

    def list(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        """The owner's jobs, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs WHERE owner=? ORDER BY created DESC LIMIT ?", (owner, limit))
            return [self._row(r) for r in rows.fetchall()]  # type: ignore[misc]

    def count(self, *states: str) -> int:
        """Number of jobs in any of ``states``."""
        with self._connect() as db:
            marks = ", ".join("?" * len(states))
            return int(db.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})", states).fetchone()[0])

    def position(self, job_id: str) -> int:
        """How many queued jobs were queued before this one (0: next to run)."""
        with self._connect() as db:
            row = db.execute("SELECT created FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return 0
            q = "SELECT COUNT(*) FROM jobs WHERE state='queued' AND created < ?"
            return int(db.execute(q, (row[0],)).fetchone()[0])

    # ------------------------------------------------------------------ workers
    def claim(self, pid: int) -> dict[str, Any] | None:
        """Atomically take the oldest queued job for worker ``pid`` (now ``running``); None if none waits."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id FROM jobs WHERE state='queued' ORDER BY created LIMIT 1").fetchone()
                if row is None:
                    db.execute("COMMIT")
                    return None
                db.execute(
                    "UPDATE jobs SET state='running', worker_pid=?, started=?, error='' WHERE id=?",
                    (pid, time.time(), row[0]),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return self.get(row[0])

    def update(self, job_id: str, **values: Any) -> None:
        """Set some columns of one job."""
        if not values:
            return
        for key in _JSON_COLUMNS:
            if key in values:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k}=?" for k in values)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE id=?", [*values.values(), job_id])

    def bump_preview(self, job_id: str) -> None:
        """A new preview image was written."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET preview_version=preview_version+1 WHERE id=?", (job_id,))

    def finish(self, job_id: str, state: str, **values: Any) -> None:
        """Move a running job to a final state (``values``: other columns to set)."""
        self.update(job_id, state=state, finished=time.time(), worker_pid=None, **values)

    def fail_running(self, pid: int, error: str) -> list[str]:
        """Fail the jobs that worker ``pid`` was running (it died); returns their ids."""
        with self._connect() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM jobs WHERE state='running' AND worker_pid=?", (pid,))]
            for job_id in ids:
                db.execute(
                    "UPDATE jobs SET state='failed', error=?, finished=?, worker_pid=NULL WHERE id=?",
                    (error, time.time(), job_id),
                )
        return ids

    def recover(self) -> int:
        """On (re)start: jobs left ``running`` by a server that stopped are ``interrupted``; returns how many."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET state='interrupted', worker_pid=NULL, finished=?, "
                "error='the server stopped while this job ran' WHERE state='running'",
                (time.time(),),
            )
            return cur.rowcount

    # ------------------------------------------------------------------ cancel, resume, delete
    def cancel(self, job_id: str) -> str:
        """Cancel a queued job at once, or ask a running one's worker to stop; returns the state after."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            state = row[0] if row else ""
            if state == "queued":
                db.execute("UPDATE jobs SET state='cancelled', finished=? WHERE id=?", (time.time(), job_id))
                state = "cancelled"
            elif state == "running":
                db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
            db.execute("COMMIT")
        return state

    def requeue(self, job_id: str, max_queued: int) -> bool:
        """Queue an interrupted, cancelled or failed job again (it resumes from its checkpoint if any)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                (queued,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()
                if queued >= max_queued:
                    raise QueueFull(f"the queue is full ({queued} jobs waiting)")
                cur = db.execute(
                    "UPDATE jobs SET state='queued', cancel_requested=0, error='', finished=NULL, created=? "
                    "WHERE id=? AND state IN ('interrupted', 'cancelled', 'failed')",
                    (time.time(), job_id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return cur.rowcount == 1

    def delete(self, job_id: str) -> None:
        """Forget a job (its files are the caller's)."""
        with self._connect() as db:
            db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
