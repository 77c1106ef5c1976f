"""The audit trail: every login (success and failure), logout and download (allowed and refused) becomes one
row of ``portal.audit`` in the warehouse, written through ``WarehouseResource``.

DuckDB allows one writer process and no reader while a writer holds the file, so each row is written on its
own short-lived connection (closed right after, ``WarehouseResource.dispose``) with a few retries; if the pipeline holds the file longer than that, the row goes to
``$KONGCHUO_HOME/portal/audit-spool.jsonl`` and is moved into the table with the next successful write. In
production, point ``KONGCHUO_WAREHOUSE_URL`` at PostgreSQL so the portal and the pipeline write concurrently.
If a row can be written neither to the table nor to the spool, the action is refused (fail closed).

Several portal workers share the spool: each row has a random ``event_id`` and is inserted only when no row
with that id exists (plus a unique index), so replaying a spool twice adds nothing; reading, replaying,
appending to and removing the spool happen under one file lock (``audit-spool.lock``), so no worker removes a
row another worker has just spooled.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger("portal.audit")

TABLE = "portal.audit"
# `occurred_at` is UTC. `username` is a portal account (staff, never a pupil); unknown names are stored as a hash.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("occurred_at", "TIMESTAMP NOT NULL"), ("username", "TEXT NOT NULL"), ("role", "TEXT"), ("action", "TEXT NOT NULL"),
    ("report_id", "TEXT"), ("file", "TEXT"), ("sha256", "TEXT"), ("result", "TEXT NOT NULL"), ("reason", "TEXT"),
    ("client", "TEXT"), ("event_id", "TEXT"),
)
DDL = (
    "CREATE SCHEMA IF NOT EXISTS portal",
    f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(f'{c} {t}' for c, t in COLUMNS)})",
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS event_id TEXT",  # tables made before event ids
    f"CREATE UNIQUE INDEX IF NOT EXISTS audit_event_id ON {TABLE} (event_id)",
)
# Idempotent: a row (by event_id) already in the table is not inserted again (spool replayed twice).
_INSERT = (f"INSERT INTO {TABLE} ({', '.join(c for c, _ in COLUMNS)}) "
           f"SELECT {', '.join(':' + c for c, _ in COLUMNS)} "
           f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE event_id = :event_id)")


class AuditUnavailable(RuntimeError):
    pass


class AuditLog:
    def __init__(self, warehouse_url: str, spool: Path, retries: int = 6):
        from warehouse.resource import WarehouseResource  # imports dagster; keep it off module import

        # The portal has its own short retry and spool: never wait on the pipeline's lock for minutes.
        self.warehouse = WarehouseResource(url=warehouse_url, lock_timeout_seconds=0.0)
        self.spool = Path(spool)
        self.retries = retries
        self._lock = threading.Lock()
        self._ready = False

    def record(self, *, username: str, action: str, result: str, role: str | None = None,
               report_id: str | None = None, file: str | None = None, sha256: str | None = None,
               reason: str | None = None, client: str | None = None) -> None:
        row = {"occurred_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "username": username, "role": role,
               "action": action, "report_id": report_id, "file": file, "sha256": sha256, "result": result,
               "reason": reason, "client": client, "event_id": uuid.uuid4().hex}
        with self._lock, self._spool_lock():
            pending = self._read_spool()
            for attempt in range(self.retries):
                try:
                    self._write([*pending, row])
                    if pending:
                        self.spool.unlink(missing_ok=True)
                    return
                except Exception as exc:  # DuckDB lock held by the pipeline, database restarting, ...
                    error = exc
                    time.sleep(0.05 * 2 ** attempt)
            log.warning("audit: warehouse busy (%s: %s); row spooled to %s", type(error).__name__,
                        str(error).splitlines()[0][:200], self.spool)
            try:
                self.spool.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.spool, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({**row, "occurred_at": row["occurred_at"].isoformat()}, ensure_ascii=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise AuditUnavailable(str(exc)) from exc

    @contextmanager
    def _spool_lock(self):
        """Exclusive across processes (portal workers) for reading, replaying and changing the spool."""
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.spool.with_name(self.spool.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, rows: list[dict[str, Any]]) -> None:
        import sqlalchemy as sa

        try:
            with self.warehouse.begin() as conn:
                if not self._ready:
                    for stmt in DDL:
                        conn.execute(sa.text(stmt))
                for row in rows:  # one by one: NOT EXISTS sees the rows inserted before it
                    conn.execute(sa.text(_INSERT), {"event_id": None, **row})
            self._ready = True
        finally:
            self._release()

    def _release(self) -> None:
        """DuckDB: close the connection now, so the pipeline can take the file lock between portal writes."""
        if self.warehouse.is_duckdb:
            self.warehouse.dispose()

    def _read_spool(self) -> list[dict[str, Any]]:
        try:
            lines = self.spool.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for line in lines:
            try:
                row = json.loads(line)
                row["occurred_at"] = dt.datetime.fromisoformat(row["occurred_at"])
                rows.append(row)
            except (ValueError, KeyError):
                continue
        return rows

    def rows(self) -> pd.DataFrame:
        """The whole table, oldest first (tests, small installations)."""
        try:
            return self.warehouse.query_df(f"SELECT * FROM {TABLE} ORDER BY occurred_at")
        finally:
            self._release()
