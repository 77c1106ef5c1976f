"""The local PostgreSQL and Redis services for the scale-out tests (test_postgres, test_celery, test_concurrency).

- ``require_postgres()`` / ``require_redis()``: skip the test when the service is not reachable on loopback,
  except under CI (``CI`` set), where a missing service is a failure.
- ``fresh_database(prefix)``: a context manager that creates ``<prefix>_<random>`` on the local PostgreSQL
  (through the ``test`` database, autocommit) and drops it afterwards; yields the database name.
- ``warehouse_url(db)`` / ``dagster_pg_env(db)``: the SQLAlchemy URL of the warehouse, and the environment
  that ``deploy/dagster.yaml`` reads, for that database.
- ``frames_differ(name, a, b)``: compare two frames as sorted rows of canonical values; returns None when equal,
  else a message with counts and masked examples (never a full ID number or name).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import socket
import uuid
from decimal import Decimal
from typing import Any, Iterator

import pandas as pd
import pytest

from kongchuo.masking import mask_id

PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _require(port: int, what: str) -> None:
    if _reachable(port):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not reachable on 127.0.0.1:{port} (CI must start it)")
    pytest.skip(f"{what} is not reachable on 127.0.0.1:{port}")


def require_postgres() -> None:
    _require(PG_PORT, "PostgreSQL")


def require_redis() -> None:
    _require(6379, "Redis")


def _admin():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB, autocommit=True)


@contextlib.contextmanager
def fresh_database(prefix: str = "kongchuo_test") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def warehouse_url(db: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def dagster_pg_env(db: str) -> dict[str, str]:
    """The variables ``deploy/dagster.yaml`` reads for Dagster's own storage."""
    return {"DAGSTER_PG_HOST": PG_HOST, "DAGSTER_PG_PORT": str(PG_PORT), "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": db}


def _canonical(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.isoformat() if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        return int(number) if number.is_integer() else round(number, 9)
    return str(value)


def canonical_rows(frame: pd.DataFrame) -> list[tuple]:
    rows = [tuple(_canonical(v) for v in row) for row in frame.itertuples(index=False, name=None)]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def _masked(row: tuple) -> tuple:
    return tuple(mask_id(v) if isinstance(v, str) and len(v) >= 8 and any(c.isdigit() for c in v) else v
                 for v in row)


def frames_differ(name: str, a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    if list(a.columns) != list(b.columns):
        return f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}"
    ra, rb = canonical_rows(a), canonical_rows(b)
    if ra == rb:
        return None
    only_a = [r for r in ra if r not in set(rb)][:2]
    only_b = [r for r in rb if r not in set(ra)][:2]
    return (f"{name}: {len(ra)} vs {len(rb)} rows; only in first e.g. {[_masked(r) for r in only_a]}; "
            f"only in second e.g. {[_masked(r) for r in only_b]}")
