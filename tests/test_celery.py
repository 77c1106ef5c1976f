"""Scale-out: township partitions run in parallel on a real Celery worker (Redis broker, loopback).

Dagster's instance is built from ``deploy/dagster.yaml`` (PostgreSQL storage, a fresh database) and the warehouse
is PostgreSQL (another fresh database), because the worker and this process both write. A small district is
ingested for 2026-03, a ``dagster-celery`` worker with two processes listens on a queue of its own, and one
``township_job`` run per (2026-03, township) partition is started at once; every step runs in the worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import dagster as dg
import pytest
from district_run import install_district
from services import (
    REDIS_URL,
    dagster_pg_env,
    frames_differ,
    fresh_database,
    require_postgres,
    require_redis,
    warehouse_url,
)

from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PERIOD = "2026-03"
TOWNSHIPS = 3


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the worker we started: its own process group (dagster-celery → celery → pool processes)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _die_with_parent() -> None:
    """Worker processes get SIGTERM if this test process dies (Linux prctl PR_SET_PDEATHSIG): no orphans."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@contextlib.contextmanager
def celery_worker(root: Path, queue: str, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``celery -A dagster_celery.app worker`` with broker and backend in ``dagster_celery_config`` (the module
    ``dagster-celery worker start -y deploy/celery.yaml`` writes), two pool processes, on ``queue`` only."""
    config_dir = root / "celery_config"
    config_dir.mkdir()
    (config_dir / "dagster_celery_config.py").write_text(
        f"broker_url = {env['KONGCHUO_CELERY_BROKER']!r}\nresult_backend = {env['KONGCHUO_CELERY_BACKEND']!r}\n",
        encoding="utf-8")
    log = open(root / "worker.log", "w", encoding="utf-8")
    proc = subprocess.Popen(
        [str(BIN / "celery"), "-A", "dagster_celery.app", "worker", "--prefetch-multiplier=1", "--concurrency=2",
         "-Q", queue, "-n", f"{queue}@%h", "--loglevel=WARNING", "--without-gossip", "--without-mingle"],
        cwd=REPO, env={**os.environ, **env, "PYTHONPATH": f"{config_dir}{os.pathsep}{REPO}"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
    try:
        yield proc
    finally:
        _stop(proc)
        log.close()


LAUNCH = """
import json, sys
import dagster as dg
from pipelines.township import executor_config, partition_tags, township_job_def

month, township, queue = sys.argv[1:4]
with dg.DagsterInstance.get() as instance:
    with dg.execute_job(dg.reconstructable(township_job_def), instance=instance,
                        run_config={"execution": {"config": executor_config(queue)}},
                        tags=partition_tags(month, township)) as result:
        print(json.dumps({"run_id": result.run_id, "success": result.success}))
"""


def launch_runs(townships: list[str], queue: str, env: dict[str, str]) -> list[tuple[str, bool]]:
    """One ``township_job`` run per township, each from its own process, all started at once (Dagster's
    logging setup is not thread-safe, so runs in threads of one process can deadlock)."""
    procs = [subprocess.Popen([sys.executable, "-c", LAUNCH, PERIOD, t, queue], cwd=REPO,
                              env={**os.environ, **env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent) for t in townships]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"launcher exit {proc.returncode}: {err.strip().splitlines()[-1:]}"
        line = json.loads(out.strip().splitlines()[-1])
        results.append((line["run_id"], line["success"]))
    return results


@pytest.fixture(scope="module")
def township_runs(tmp_path_factory):
    require_postgres()
    require_redis()
    from assets.ingest import staged_assets, staged_reference
    from kongchuo.generate import generate
    from pipelines.township import register_townships

    root = tmp_path_factory.mktemp("celery")
    generate("411003", 300, 41, dt.date(2026, 3, 2), dt.date(2026, 3, 31), root / "generated")
    home = root / "home"
    install_district(root / "generated", home)
    dagster_home = root / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    queue = f"kongchuo-test-{uuid.uuid4().hex[:8]}"

    with fresh_database("kongchuo_wh") as wh_db, fresh_database("kongchuo_dagster") as dagster_db:
        env = {"KONGCHUO_HOME": str(home), "KONGCHUO_WAREHOUSE_URL": warehouse_url(wh_db),
               "DAGSTER_HOME": str(dagster_home), "KONGCHUO_CELERY_BROKER": REDIS_URL,
               "KONGCHUO_CELERY_BACKEND": REDIS_URL.rsplit("/", 1)[0] + "/1", **dagster_pg_env(dagster_db)}
        warehouse = WarehouseResource(url=warehouse_url(wh_db))
        with _environ(env), dg.DagsterInstance.get() as instance:
            ingest = dg.materialize(
                [staged_assets["registry"], staged_assets["attendance"], staged_reference], partition_key=PERIOD,
                instance=instance, resources={"home": KongchuoHome(path=str(home)), "warehouse": warehouse})
            assert ingest.success
            townships = register_townships(instance, warehouse)[:TOWNSHIPS]
            with celery_worker(root, queue, env) as worker:
                started = time.monotonic()
                results = launch_runs(townships, queue, env)
                elapsed = time.monotonic() - started
                assert worker.poll() is None, "the Celery worker died"
            events = {run_id: instance.all_logs(run_id) for run_id, _ in results}
            yield {"townships": townships, "results": results, "events": events, "warehouse": warehouse,
                   "elapsed": elapsed, "worker_log": root / "worker.log"}
        warehouse.dispose()
    shutil.rmtree(root, ignore_errors=True)


def test_every_partition_run_succeeds(township_runs):
    assert len(township_runs["townships"]) == TOWNSHIPS
    failures = {run_id[:8]: [str(e.dagster_event.event_specific_data.error.to_string()).replace(chr(10), " | ")[-900:]
                             for e in township_runs["events"][run_id] if e.is_dagster_event
                             and e.dagster_event_type == dg.DagsterEventType.STEP_FAILURE]
                for run_id, ok in township_runs["results"] if not ok}
    assert [ok for _, ok in township_runs["results"]] == [True] * TOWNSHIPS, failures


def test_steps_ran_in_the_celery_worker(township_runs):
    for run_id, events in township_runs["events"].items():
        in_worker = {e.step_key for e in events if e.is_dagster_event and "in celery worker" in (e.message or "")}
        succeeded = {e.step_key for e in events if e.is_dagster_event and e.dagster_event_type
                     == dg.DagsterEventType.STEP_SUCCESS}
        assert succeeded == {"township__roster", "township__attendance_summary"}, (run_id[:8], succeeded)
        assert in_worker == succeeded, (run_id[:8], in_worker)


def test_partition_runs_were_in_flight_together(township_runs):
    """The township runs were launched at once and were in flight at the same time (run start to run end),
    so the worker had several partitions to take; whether two steps overlap to the millisecond depends on
    the machine's load, so it is not asserted."""
    spans = []
    for events in township_runs["events"].values():
        start = [e.timestamp for e in events if e.is_dagster_event
                 and e.dagster_event_type == dg.DagsterEventType.RUN_START]
        end = [e.timestamp for e in events if e.is_dagster_event
               and e.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS]
        assert start and end
        spans.append((start[0], end[0]))
    overlapping = any(a0 < b1 and b0 < a1 for i, (a0, a1) in enumerate(spans) for b0, b1 in spans[i + 1:])
    assert overlapping, f"no two runs were in flight together: {sorted(spans)}"


def test_township_slices_equal_the_district_roster(township_runs):
    from assets.common import period_params
    from assets.rules import ROSTER_SQL, RuleConfig, rule_params

    wh: WarehouseResource = township_runs["warehouse"]
    townships = township_runs["townships"]
    wh.replace_period("derived.roster", PERIOD, ROSTER_SQL,
                      rule_params(wh, period_params(PERIOD), RuleConfig(), "rollcall"))
    codes = ", ".join(f"'{c}'" for c in townships)  # township codes: digits only
    district = wh.query_df(f"SELECT * FROM derived.roster WHERE township_code IN ({codes})")
    slices = wh.query_df(f"SELECT * FROM derived.township_roster WHERE period = '{PERIOD}'")
    assert len(slices) > 0 and set(slices["township_code"]) == set(townships)
    problem = frames_differ("township roster vs district roster", district, slices)
    assert problem is None, problem
    summary = wh.query_df("SELECT township_code, sum(records) AS records FROM derived.township_attendance_summary "
                          "WHERE period = :p GROUP BY township_code", {"p": PERIOD})
    per_township = slices.groupby("township_code").size().to_dict()
    assert {r.township_code: int(r.records) for r in summary.itertuples()} == per_township
