"""Run a period's graph through Dagster and say plainly what happened (used by the CLI and tests)."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field

import dagster as dg

from checks import gx_suites
from kongchuo import settings
from pipelines.instance import cli_instance
from warehouse.resource import WarehouseResource


@dataclass
class RunOutcome:
    period: str
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failed_checks: list[tuple[str, str, str]] = field(default_factory=list)  # (asset, check, severity)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        reports = settings.reports_dir(settings.kongchuo_home(), self.period)
        lines = [f"运行 run {self.run_id} period {self.period}: {'成功 OK' if self.success else '失败 FAILED'}"]
        for asset, check, severity in self.failed_checks:
            lines.append(f"  检查未通过 check failed [{severity}] {asset}: {check}")
        if self.skipped:
            lines.append("  未生成 not materialized (blocked upstream): " + ", ".join(self.skipped))
        if self.error:
            lines.append(f"  错误 error: {self.error}")
        if self.success:
            lines.append(f"报表 reports: {reports}")
            lines += [f"  {p.name}" for p in sorted(reports.glob("*")) if not p.name.startswith(".")]
        return "\n".join(lines)


def job_for(period: str) -> str:
    if len(period) == 10:  # a school day '2026-10-20': R7
        return "daily_warning_job"
    return "quarterly_job" if "Q" in period else "monthly_job"


def warn_days(first: str, last: str | None = None, instance: dg.DagsterInstance | None = None,
              defs: dg.Definitions | None = None) -> list[RunOutcome]:
    """``kongchuo warn``: ingest whatever is in landing, then R7 for each day from ``first`` to ``last``
    (a backfill; each day's list depends only on the roll call up to that day)."""
    import datetime as dt

    start = dt.date.fromisoformat(first)
    end = dt.date.fromisoformat(last) if last else start
    instance = instance or local_instance()
    outcomes = [run_period(start.strftime("%Y-%m"), job="ingest_job", instance=instance, defs=defs)]
    day = start
    while day <= end:
        outcomes.append(run_period(day.isoformat(), instance=instance, defs=defs))
        day += dt.timedelta(days=1)
    return outcomes


def partition_key_for(period: str) -> str:
    """'2026-Q4' -> quarterly partition key '2026-10-01'; months are their own key."""
    if "Q" in period:
        return f"{period[:4]}-{3 * int(period[-1]) - 2:02d}-01"
    return period


def local_instance() -> dg.DagsterInstance:
    """The instance of ``DAGSTER_HOME`` (:func:`pipelines.instance.cli_instance`: its event log written through
    pooled connections) under a file lock: two runs started at once on a fresh ``DAGSTER_HOME`` would otherwise
    race to create the SQLite run storage (and one fails on its alembic version table)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.get()
    with open(os.path.join(home, ".instance.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = cli_instance(home)
            instance.get_runs_count()  # touches run and event storage so they are created inside the lock
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


def runs_checks(job_def: dg.JobDefinition) -> bool:
    """Whether the job runs asset checks: only they use Great Expectations, whose import the run then starts early
    (the quarterly and R7 jobs have none and skip it)."""
    return bool(job_def.asset_layer.asset_graph.asset_check_keys)


def run_period(period: str, job: str | None = None, instance: dg.DagsterInstance | None = None,
               defs: dg.Definitions | None = None, raise_on_error: bool = False) -> RunOutcome:
    if defs is None:
        from pipelines.definitions import defs as loaded

        defs = loaded
    layout = WarehouseResource(url=settings.warehouse_url())
    layout.ensure_layout()
    layout.dispose()  # DuckDB: do not keep the file locked outside the run's own connection
    instance = instance or local_instance()
    job_def = defs.resolve_job_def(job or job_for(period))
    # Console at INFO (KONGCHUO_LOG_LEVEL): step-by-step DEBUG events stay in the run's event log for the UI.
    log_level = os.environ.get("KONGCHUO_LOG_LEVEL", "INFO").upper()
    if runs_checks(job_def):
        gx_suites.preload()
    result = job_def.execute_in_process(
        partition_key=partition_key_for(period), instance=instance, raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}})
    outcome = RunOutcome(period=period, run_id=result.run_id, success=result.success)
    planned: set[str] = set()
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            outcome.materialized.append(event.asset_key.to_user_string())
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if not ev.passed:
                outcome.failed_checks.append(
                    (ev.asset_key.to_user_string(), ev.check_name, ev.severity.value))
        elif event.event_type_value == "ASSET_MATERIALIZATION_PLANNED":
            planned.add(event.asset_key.to_user_string())
        elif event.event_type_value == "STEP_FAILURE" and outcome.error is None:
            outcome.error = str(event.event_specific_data.error.message).strip().splitlines()[0][:300]
    outcome.skipped = sorted(planned - set(outcome.materialized))
    # A blocking check failing with ERROR (DQ10) leaves assets unmaterialized: the run failed. DQ01/DQ08 fail with
    # ERROR without blocking (their bad file was quarantined and the reports are drafts): listed in the
    # summary, the district's run went through ("One bad file never stops the rest of the district's work").
    if outcome.skipped:
        outcome.success = False
    return outcome
