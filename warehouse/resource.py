"""``WarehouseResource``: the one SQLAlchemy engine of the project.

The URL comes from ``KONGCHUO_WAREHOUSE_URL`` (an ``EnvVar`` in the definitions); the default is the DuckDB
file ``$KONGCHUO_HOME/warehouse.duckdb``. DuckDB allows a single writer process, so connections are
short-lived (opened per operation, never held across steps) and no connection pool keeps the file open.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd
import sqlalchemy as sa
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr
from sqlalchemy.pool import SingletonThreadPool

from warehouse.layout import ddl_statements


class WarehouseResource(ConfigurableResource):
    """SQLAlchemy URL of the warehouse (duckdb:///... or postgresql+psycopg://...)."""

    url: str

    _engine: sa.Engine | None = PrivateAttr(default=None)

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
                self._engine = sa.create_engine(self.url, poolclass=SingletonThreadPool)
            else:
                self._engine = sa.create_engine(self.url, pool_size=2, max_overflow=2, pool_pre_ping=True)
        return self._engine

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

    def ensure_layout(self) -> None:
        with self.begin() as conn:
            for stmt in ddl_statements():
                conn.execute(sa.text(stmt))

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params or {}).scalar()

    def execute(self, statements: str | Sequence[str], params: dict[str, Any] | None = None) -> None:
        stmts = [statements] if isinstance(statements, str) else list(statements)
        with self.begin() as conn:
            for stmt in stmts:
                conn.execute(sa.text(stmt), params or {})

    def insert_frame(self, conn: sa.Connection, table: str, df: pd.DataFrame) -> None:
        """Bulk-append ``df`` (columns named as the table's) inside the caller's transaction."""
        if df.empty:
            return
        cols = ", ".join(f'"{c}"' for c in df.columns)
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

    def replace_period(self, table: str, period: str, select_sql: str, params: dict[str, Any] | None = None) -> int:
        """Idempotent per-period write: delete the period's rows, insert the SELECT's rows; returns count."""
        with self.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE period = :period"), {"period": period})
            conn.execute(sa.text(f"INSERT INTO {table} {select_sql}"), {"period": period, **(params or {})})
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE period = :period"),
                                    {"period": period}).scalar())


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
