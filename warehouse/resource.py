"""``WarehouseResource``: the one SQLAlchemy engine of the project.

The URL comes from ``KONGCHUO_WAREHOUSE_URL`` (an ``EnvVar`` in the definitions); the default is the DuckDB
file ``$KONGCHUO_HOME/warehouse.duckdb``. DuckDB allows a single writer process: a run keeps one pooled
connection (released at the end of the run), and a process that finds the file locked by another one waits
and retries for up to ``lock_timeout_seconds`` instead of failing, so concurrent runs queue on the file.
On PostgreSQL, tables written in bulk are ``ANALYZE``d in the same transaction: the planner otherwise sees
freshly loaded tables as empty until autovacuum comes by, and picks nested loops that take minutes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr
from sqlalchemy import event
from sqlalchemy.pool import SingletonThreadPool

from kongchuo import parsing
from warehouse.layout import TABLES, ddl_statements

DDL_LOCK_KEY = 0x6B6F6E67  # 'kong': the advisory lock that serialises schema changes on PostgreSQL

LOG = logging.getLogger(__name__)


class WarehouseResource(ConfigurableResource):
    """SQLAlchemy URL of the warehouse (duckdb:///... or postgresql+psycopg://...)."""

    url: str
    lock_timeout_seconds: float = 1800.0  # DuckDB: how long to wait for another process's write lock
    # DuckDB's buffer pool (cached pages, sorts, hash tables; spills to <warehouse>.duckdb.tmp beyond it). Its
    # own default is 80% of RAM, so a province-size run held ~4 GB of cache during ingestion alone.
    duckdb_memory_limit: str = "3GB"
    # DuckDB checkpoints the write-ahead log into the database file whenever it passes this size. At its
    # default (16MB) loading a county's registry (1M rows in 12 files) spent 5.0 of 10.1 s in commits, the
    # same rows rewritten by one checkpoint after another; at 1GB the commits take 1.3 s and one checkpoint
    # ~0.9 s. A crash replays at most this much log on the next open.
    duckdb_checkpoint_threshold: str = "1GB"
    # DuckDB 2.0's common-subplan optimizer materialises a relation a statement reads twice, whatever the CTE says
    # (``NOT MATERIALIZED``): the current-table build holds every staged row of a province's registry (15M wide
    # rows, 12 GB spilled, ~10 minutes) and the roster every current record. Re-reading a table is cheap here.
    duckdb_disabled_optimizers: str = "common_subplan"

    _engine: sa.Engine | None = PrivateAttr(default=None)
    _layout_ready: bool = PrivateAttr(default=False)

    @property
    def is_duckdb(self) -> bool:
        return self.url.startswith("duckdb")

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            if self.is_duckdb:
                path = self.url.split(":///", 1)[1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._engine = sa.create_engine(self.url, poolclass=SingletonThreadPool,
                                                connect_args={"config": {
                                                    "memory_limit": self.duckdb_memory_limit,
                                                    "checkpoint_threshold": self.duckdb_checkpoint_threshold,
                                                    "disabled_optimizers": self.duckdb_disabled_optimizers}})
                event.listen(self._engine, "do_connect", self._connect_waiting_for_lock)
            else:
                self._engine = sa.create_engine(self.url, pool_size=2, max_overflow=2, pool_pre_ping=True)
        return self._engine

    @property
    def dialect(self) -> str:
        """``duckdb`` or ``postgresql`` (for the rare statement that must differ, see :mod:`warehouse.sql`)."""
        return "duckdb" if self.is_duckdb else "postgresql"

    def _connect_waiting_for_lock(self, dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
        """Open a DuckDB connection; while another process holds the file's write lock, wait and retry."""
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as exc:  # noqa: BLE001 - only lock conflicts are retried
                if not _is_lock_conflict(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def dispose(self) -> None:
        """Close pooled connections (releases DuckDB's file lock for other processes)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.dispose()

    @contextlib.contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """One transaction; commits on success, rolls back on error."""
        with self.engine.begin() as conn:
            yield conn
            for table in sorted(conn.info.pop(_TO_ANALYZE, ())):
                conn.execute(sa.text(f"ANALYZE {table}"))

    def ensure_layout(self) -> None:
        """Create schemas and tables that are missing (once per resource instance: callers need not care)."""
        if self._layout_ready:
            return
        with self.begin() as conn:
            self.lock_ddl(conn)
            for stmt in ddl_statements():
                conn.execute(sa.text(stmt))
            for stmt in self._missing_columns(conn):
                conn.execute(sa.text(stmt))
        self._layout_ready = True

    @staticmethod
    def _missing_columns(conn: sa.Connection) -> list[str]:
        """``ALTER TABLE … ADD COLUMN`` for columns the layout gained since a warehouse was created (new columns
        are nullable or carry no constraint that old rows could break), so an existing warehouse keeps working."""

        have: dict[str, set[str]] = {}
        for schema, table, column in conn.execute(sa.text(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns")).all():
            have.setdefault(f"{schema}.{table}", set()).add(column)
        out = []
        for name, body in TABLES.items():
            if name not in have:
                continue
            for part in body.replace("\n", " ").split(","):
                bits = part.split()
                if bits and bits[0] not in have[name]:
                    col_type = " ".join(b for b in bits[1:] if b.upper() not in ("NOT", "NULL"))
                    out.append(f"ALTER TABLE {name} ADD COLUMN {bits[0]} {col_type}")
        return out

    def lock_ddl(self, conn: sa.Connection) -> None:
        """PostgreSQL: serialise DDL across processes for the transaction. Two workers running
        ``CREATE TABLE IF NOT EXISTS`` at once can both pass the check and one then fails on pg_type's unique
        index; DuckDB has a single writer and needs nothing."""
        if not self.is_duckdb:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def query_columnar_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Like :meth:`query_df`, but on DuckDB the rows come out column by column (``fetch_df``): ~12x faster
        for large results (200k rows: 0.4 s vs 4.5 s). Dates come back as ``datetime64`` and integers may be
        narrower; for callers that only look at values (Great Expectations samples), not at Python types."""
        if not self.is_duckdb:
            return self.query_df(sql, params)
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params or {}).cursor.fetch_df()

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params or {}).scalar()

    def execute(self, statements: str | Sequence[str], params: dict[str, Any] | None = None) -> None:
        stmts = [statements] if isinstance(statements, str) else list(statements)
        with self.begin() as conn:
            for stmt in stmts:
                conn.execute(sa.text(stmt), params or {})

    def insert_frame(self, conn: sa.Connection, table: str, df: pd.DataFrame | pa.Table) -> None:
        """Bulk-append ``df`` (a DataFrame or an Arrow table, columns named as the table's) inside the caller's
        transaction. DuckDB scans either in place; PostgreSQL gets the rows through COPY."""
        if len(df) == 0:
            return
        cols = ", ".join(f'"{c}"' for c in (df.column_names if isinstance(df, pa.Table) else df.columns))
        if isinstance(df, pa.Table) and not self.is_duckdb:
            df = df.to_pandas()  # the pandas metadata written with the table restores the nullable dtypes
        if self.is_duckdb:
            raw = conn.connection.driver_connection
            raw.register("_kongchuo_frame", df)
            try:
                raw.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _kongchuo_frame")
            finally:
                raw.unregister("_kongchuo_frame")
            return
        # PostgreSQL: COPY is an order of magnitude faster than INSERT ... VALUES.
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in df.itertuples(index=False, name=None):
                    copy.write_row([None if _isna(v) else v for v in row])
        conn.info.setdefault(_TO_ANALYZE, set()).add(table)

    @contextlib.contextmanager
    def unordered_inserts(self, conn: sa.Connection, threads: int | None = None) -> Iterator[None]:
        """DuckDB: ``preserve_insertion_order`` off for the derived-table inserts inside. A derived table is a set
        (every reader orders what it reads), and keeping the SELECT's order makes DuckDB buffer the whole result
        of the windows and joins before writing it. ``threads``: DuckDB's threads for these statements (each
        thread holds its own hash tables and sort runs, so one thread needs about half the memory)."""
        if not self.is_duckdb:
            yield
            return
        settings = {"preserve_insertion_order": "false", **({"threads": str(threads)} if threads else {})}
        for name, value in settings.items():
            conn.execute(sa.text(f"SET {name} = {value}"))
        try:
            yield
        finally:
            for name in settings:
                with contextlib.suppress(sa.exc.SQLAlchemyError):  # an aborted transaction: the error matters
                    conn.execute(sa.text(f"RESET {name}"))

    def replace_period(self, table: str, period: str, select_sql: str, params: dict[str, Any] | None = None) -> int:
        """Idempotent per-period write: delete the period's rows, insert the SELECT's rows; returns count.

        DuckDB: when the statement runs out of the memory limit it is run again on one thread. The province
        roster (15M records) needs more than the 3GB limit on two threads now and then, and completes on one
        (BENCHMARKS.md, "Province memory"); a district never gets there."""
        try:
            return self._replace_period(table, period, select_sql, params)
        except sa.exc.OperationalError as exc:
            if not (self.is_duckdb and is_out_of_memory(exc)):
                raise
            LOG.warning("%s %s: DuckDB ran out of its memory limit (%s); running the write again on one thread",
                        table, period, self.duckdb_memory_limit)
            return self._replace_period(table, period, select_sql, params, threads=1)

    def _replace_period(self, table: str, period: str, select_sql: str, params: dict[str, Any] | None,
                        threads: int | None = None) -> int:
        with self.begin() as conn, self.unordered_inserts(conn, threads):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE period = :period"), {"period": period})
            conn.execute(sa.text(f"INSERT INTO {table} {select_sql}"), {"period": period, **(params or {})})
            if not self.is_duckdb:
                conn.execute(sa.text(f"ANALYZE {table}"))
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE period = :period"),
                                    {"period": period}).scalar())


_TO_ANALYZE = "kongchuo_analyze"  # conn.info key: tables bulk-loaded in the transaction (PostgreSQL)


def _is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB's "Could not set lock on file ... Conflicting lock is held" (another process writes)."""
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB ran out of its memory limit (``OutOfMemoryException``, wrapped by SQLAlchemy)."""
    orig = getattr(exc, "orig", exc)
    return type(orig).__name__ == "OutOfMemoryException" or "Out of Memory Error" in str(orig)


def is_infrastructure_error(exc: BaseException) -> bool:
    """Errors that are not the file's fault: the warehouse unreachable or locked, disk, memory."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    return parsing.is_infrastructure_error(exc)
