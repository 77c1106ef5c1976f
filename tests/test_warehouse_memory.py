"""DuckDB memory: a derived-table write that runs out of DuckDB's memory limit is run again on one thread
(WarehouseResource.replace_period), with insertion order off for the write only; other errors are not retried."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from warehouse.resource import WarehouseResource

pytestmark = pytest.mark.fast

# What the statement sees: its period, DuckDB's threads and insertion-order setting while it runs.
SETTINGS_SQL = ("SELECT :period AS period, current_setting('threads') AS threads, "
                "current_setting('preserve_insertion_order') AS ordered")


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehouseResource:
    wh = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.execute("CREATE TABLE t (period TEXT, threads BIGINT, ordered BOOLEAN)")
    yield wh
    wh.dispose()


def _fail_first(warehouse: WarehouseResource, monkeypatch, error: Exception) -> list[int | None]:
    calls: list[int | None] = []
    real = WarehouseResource._replace_period

    def once(self, table, period, select_sql, params, threads=None):
        calls.append(threads)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT ...", {}, error)
        return real(self, table, period, select_sql, params, threads)

    monkeypatch.setattr(WarehouseResource, "_replace_period", once)
    return calls


def test_out_of_memory_is_retried_on_one_thread(warehouse, monkeypatch):
    default_threads = int(warehouse.scalar("SELECT current_setting('threads')"))
    calls = _fail_first(warehouse, monkeypatch, duckdb.OutOfMemoryException("Out of Memory Error: 2.7 GiB used"))
    assert warehouse.replace_period("t", "2026-05", SETTINGS_SQL) == 1
    assert calls == [None, 1]
    assert warehouse.query_df("SELECT * FROM t").to_dict("records") == [
        {"period": "2026-05", "threads": 1, "ordered": False}]
    # the settings are the connection's defaults again afterwards
    assert int(warehouse.scalar("SELECT current_setting('threads')")) == default_threads
    assert warehouse.scalar("SELECT current_setting('preserve_insertion_order')") is True


def test_other_errors_are_not_retried(warehouse, monkeypatch):
    calls = _fail_first(warehouse, monkeypatch, duckdb.CatalogException("Table with name x does not exist"))
    with pytest.raises(sa.exc.OperationalError):
        warehouse.replace_period("t", "2026-05", SETTINGS_SQL)
    assert calls == [None]


def test_a_write_without_trouble_keeps_its_threads(warehouse):
    assert warehouse.replace_period("t", "2026-06", SETTINGS_SQL) == 1
    threads = warehouse.scalar("SELECT threads FROM t WHERE period = '2026-06'")
    assert threads == int(warehouse.scalar("SELECT current_setting('threads')")) and threads >= 1
