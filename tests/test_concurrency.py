"""DuckDB has one writer: concurrent runs queue instead of corrupting the warehouse or the ledger.

- Two ``kongchuo run --period 2026-03`` processes started at the same moment on one KONGCHUO_HOME both succeed
  (the second waits on DuckDB's file lock, :class:`warehouse.resource.WarehouseResource` retries), every file is
  ingested once, and the ledger holds one event per (period, event_seq) and per (period, person, step).
- The retry gives up after ``lock_timeout_seconds`` with DuckDB's lock error.
- Every asset and check that writes the warehouse is in the pool ``kongchuo_warehouse``, and the local instance
  written by the CLI limits that pool to one run at a time.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from district_run import install_district

from kongchuo.settings import default_warehouse_url
from warehouse.resource import WarehouseResource

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PERIOD = "2026-03"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KONGCHUO_WAREHOUSE_URL"}
    env.update(KONGCHUO_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from kongchuo.generate import generate

    root = tmp_path_factory.mktemp("concurrent")
    generate("411003", 250, 31, dt.date(2026, 3, 2), dt.date(2026, 3, 31), root / "generated")
    home = root / "home"
    install_district(root / "generated", home)
    procs = [subprocess.Popen([str(BIN / "kongchuo"), "run", "--period", PERIOD], cwd=REPO, env=_env(home),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        outputs.append((proc.returncode, out))
    return home, outputs


def test_both_runs_succeed(two_runs):
    home, outputs = two_runs
    for rc, out in outputs:
        tail = [line for line in out.splitlines() if "period" in line or "错误" in line][-3:]
        assert rc == 0, f"exit {rc}: {tail}"
    os.environ["DAGSTER_HOME"], saved = str(home / "dagster"), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
            assert len(runs) == 2
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
            assert all(r.tags.get("dagster/partition") == PERIOD for r in runs)
    finally:
        os.environ.pop("DAGSTER_HOME") if saved is None else os.environ.__setitem__("DAGSTER_HOME", saved)


def test_nothing_ingested_twice(two_runs):
    home, _ = two_runs
    wh = WarehouseResource(url=default_warehouse_url(home))
    try:
        files = wh.query_df("SELECT file_sha, source, status, row_count FROM raw.files")
        assert len(files) > 5
        assert files["file_sha"].is_unique, "a file was registered twice"
        for source in ("registry", "attendance", "census"):
            loaded = int(files.loc[(files["source"] == source) & (files["status"] == "ingested"), "row_count"].sum())
            staged = int(wh.scalar(f"SELECT count(*) FROM staged.{source}"))
            assert staged == loaded > 0, f"{source}: {staged} staged rows for {loaded} ingested"
        dup = wh.scalar("SELECT count(*) FROM (SELECT period, person_key FROM derived.suspected_dropouts "
                        "GROUP BY period, person_key HAVING count(*) > 1) d")
        assert dup == 0
        roster = wh.scalar("SELECT count(*) FROM derived.roster WHERE period = :p", {"p": PERIOD})
        assert roster == wh.scalar("SELECT count(*) FROM staged.registry_current")
    finally:
        wh.dispose()


def test_ledger_has_no_duplicate_events(two_runs):
    home, _ = two_runs
    wh = WarehouseResource(url=default_warehouse_url(home))
    try:
        stats = wh.query_df("""
            SELECT count(*) AS n, count(DISTINCT event_seq) AS seqs, min(event_seq) AS lo, max(event_seq) AS hi,
                   count(DISTINCT person_key || '|' || event_type || '|' || to_state || '|' || CAST(event_seq AS TEXT)) AS keyed
            FROM ledger.case_events WHERE created_for_period = :p""", {"p": PERIOD}).iloc[0]
        assert stats["n"] > 0, "no ledger events: the check would prove nothing"
        assert stats["n"] == stats["seqs"] == stats["keyed"] == stats["hi"] and stats["lo"] == 1, dict(stats)
        per_step = wh.scalar("""
            SELECT count(*) FROM (SELECT person_key, event_type, to_state, attempt_count, event_date
                                  FROM ledger.case_events WHERE created_for_period = :p
                                  GROUP BY person_key, event_type, to_state, attempt_count, event_date
                                  HAVING count(*) > 1) d""", {"p": PERIOD})
        assert per_step == 0
        cases = wh.scalar("SELECT count(*) FROM ledger.cases")
        assert cases == wh.scalar("SELECT count(DISTINCT person_key) FROM ledger.case_events")
    finally:
        wh.dispose()


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        print("locked", flush=True)
        time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_waits_for_another_writer_then_proceeds(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder = _hold_lock(path, 2.0)
    wh = WarehouseResource(url=f"duckdb:///{path}", lock_timeout_seconds=60)
    try:
        started = time.monotonic()
        wh.execute("INSERT INTO t VALUES (1)")
        waited = time.monotonic() - started
        assert wh.scalar("SELECT count(*) FROM t") == 1
        assert waited > 0.5, f"did not wait for the other process ({waited:.2f} s)"
    finally:
        wh.dispose()
        holder.kill()
        holder.wait()


def test_gives_up_after_the_lock_timeout(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder = _hold_lock(path, 30.0)
    wh = WarehouseResource(url=f"duckdb:///{path}", lock_timeout_seconds=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(Exception, match="lock"):
            wh.scalar("SELECT 1")
        assert time.monotonic() - started < 10
    finally:
        wh.dispose()
        holder.kill()
        holder.wait()


def test_every_warehouse_writer_is_in_the_pool():
    from pipelines.definitions import defs
    from pipelines.township import defs as township_defs
    from warehouse.pools import POOL

    writers = [a for d in (defs, township_defs) for a in [*d.assets, *(d.asset_checks or [])]
               if "warehouse" in a.required_resource_keys]
    assert len(writers) >= 30
    outside = [a.node_def.name for a in writers if a.node_def.pool != POOL]
    assert outside == []


def test_local_instance_limits_the_pool_to_one_run(tmp_path, monkeypatch):
    from pipelines import cli

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = cli._dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert pools.pool_granularity.value == "run"
