"""The Dagster instance of a local CLI run: the same ``DAGSTER_HOME`` storage (``make dev`` and ``make audit``
show the run), with a cheaper way of writing its event log.

Dagster's SQLite event log opens a new engine for every event and closes it again. Closing the last connection of
a WAL database checkpoints it, and a new engine compiles every statement again, so each of a month's ~250 events
paid a checkpoint, a commit with fsync and SQL compilation (about a third of the run's wall time on a loaded
machine). :class:`PooledSqliteEventLogStorage` keeps one engine per database file for the life of the process:
the same files, tables and rows, written through a pooled connection with ``synchronous=NORMAL`` (WAL mode: no
fsync per commit; a power cut can lose the last events, never corrupt the file). Readers (the UI, another
process) see each event once it is committed, as before.

Only the CLI's own process uses it, and only when ``dagster.yaml`` leaves the storage to Dagster's default
(SQLite under ``DAGSTER_HOME``): a deployment's PostgreSQL storage is left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's per-run-sharded SQLite event log, with one engine per shard kept open (see the module)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: dict[str, sa.Engine] = {}
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,  # type: ignore[override]
                          config_value: dict[str, Any]) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> sa.Engine:
        engine = self._engines.get(shard)
        if engine is None:
            # the pool may hand a connection to another thread; every use is under self._db_lock
            engine = sa.create_engine(self.conn_string_for_shard(shard), connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
            sa.event.listen(engine, "connect", _synchronous_normal)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            self._engines[shard] = engine
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:  # type: ignore[override]
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _uses_default_storage(home: str) -> bool:
    path = os.path.join(home, "dagster.yaml")
    if not os.path.exists(path):
        return True
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    return not any(key in config for key in STORAGE_KEYS)


def cli_instance(home: str) -> dg.DagsterInstance:
    """The instance in ``home`` (its ``dagster.yaml``), with the pooled event log when the storage is Dagster's
    default SQLite; the runs, schedules and event-log files are the ones ``DagsterInstance.get()`` would use."""
    if not _uses_default_storage(home):
        return dg.DagsterInstance.get()
    overrides = {"event_log_storage": {"module": __name__, "class": PooledSqliteEventLogStorage.__name__,
                                       "config": {"base_dir": os.path.join(home, "history", "runs", "")}}}
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(home, overrides=overrides))
