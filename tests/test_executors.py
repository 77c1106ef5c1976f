"""The executor does not change the results: the monthly job of a small generated district run in one process and
on Dagster's multiprocess executor (each step in its own process, two at a time) gives the same warehouse tables and
byte-identical report files. Nothing in the code may keep state between steps in process memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
from district_run import START, install_district, kongchuo_env, run_periods
from services import frames_differ

from kongchuo.generate import generate
from kongchuo.settings import default_warehouse_url
from tests.mp_job import multiprocess_monthly_job
from warehouse.resource import WarehouseResource

MONTH = "2026-03"


def _volatile(column: str) -> bool:
    """Per-run bookkeeping that differs by construction: run ids (``run_id``, ``manifest_run_id``) and
    timestamps (``*_at``)."""
    return column.endswith("run_id") or column.endswith("_at")


def _tables(home: Path) -> dict[str, object]:
    wh = WarehouseResource(url=default_warehouse_url(home))
    names = wh.query_df("SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
                        "WHERE table_schema IN ('raw', 'staged', 'derived', 'checks', 'ledger', 'reports') "
                        "AND table_type = 'BASE TABLE' ORDER BY 1")["t"].tolist()
    out = {}
    for name in names:
        df = wh.query_df(f"SELECT * FROM {name}")
        if "raw_path" in df.columns:  # absolute, under each home
            df["raw_path"] = df["raw_path"].map(lambda p: Path(p).name if p else p)
        out[name] = df[[c for c in df.columns if not _volatile(c)]]
    wh.dispose()
    return out


def _report_hashes(home: Path) -> dict[str, str]:
    folder = home / "reports" / MONTH
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.xlsx"))}


@pytest.fixture(scope="module")
def two_homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("executors")
    generated = root / "generated"
    generate("411003", 300, 23, START, dt.date(2026, 3, 31), generated)
    homes = {kind: root / kind for kind in ("in_process", "multiprocess")}
    for home in homes.values():
        install_district(generated, home)
    outcome = run_periods(homes["in_process"], (MONTH,), dg.DagsterInstance.ephemeral())[MONTH]
    assert outcome.success, outcome.error

    mp_home = homes["multiprocess"]
    dagster_home = root / "dagster_mp"
    dagster_home.mkdir()
    with kongchuo_env(mp_home), dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        # each step's process loads the job as tests.mp_job from the repository root (Dagster's working directory)
        result = dg.execute_job(dg.reconstructable(multiprocess_monthly_job), instance=instance,
                                tags={"dagster/partition": MONTH})
        assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
        step_pids = {e.pid for e in result.all_events if e.is_step_start}
    assert len(step_pids) > 1, "the steps did not run in processes of their own"
    yield homes
    shutil.rmtree(root, ignore_errors=True)


def test_same_tables_on_both_executors(two_homes):
    a, b = _tables(two_homes["in_process"]), _tables(two_homes["multiprocess"])
    assert sorted(a) == sorted(b)
    assert any(len(df) for name, df in a.items() if name.startswith("derived.")), "nothing derived: a vacuous test"
    diffs = [d for name in a if (d := frames_differ(name, a[name], b[name]))]
    assert diffs == []


def test_byte_identical_reports_on_both_executors(two_homes):
    a, b = _report_hashes(two_homes["in_process"]), _report_hashes(two_homes["multiprocess"])
    assert a, "no report written"
    assert a == b
