"""The CLI's cheaper local run (``make demo`` as fast as before, issue 12; Dagster's per-event cost, issue 16):

- the instance ``kongchuo run`` uses writes its event log through :class:`pipelines.instance.PooledSqliteEventLogStorage`
  into the same files Dagster's default SQLite storage reads: a run written that way is read back, event for
  event, by a plain ``DagsterInstance.get()`` (what ``make dev`` / ``make audit`` open), and no WAL is left behind
  once the instance is closed;
- a ``dagster.yaml`` that names its own storage (a deployment's PostgreSQL) is left alone;
- ``kongchuo run --period A --period B`` runs both periods in order in one process with one instance, and stops
  at the first failure (as ``make`` stopped at the first failing command);
- Great Expectations is preloaded only for jobs with checks (the quarterly and R7 jobs have none).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines import cli
from pipelines import run as prun
from pipelines.instance import PooledSqliteEventLogStorage, cli_instance

pytestmark = pytest.mark.fast


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers(context):
    context.log.info("three numbers")
    yield dg.Output([1, 2, 3], metadata={"count": 3})
    yield dg.AssetCheckResult(passed=True, check_name="positive")


@dg.asset
def total(numbers: list[int]) -> int:
    return sum(numbers)


def _events(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.dagster_event.event_type_value if e.dagster_event else "LOG", e.step_key)
            for e in instance.all_logs(run_id)]


def test_pooled_event_log_is_read_back_by_the_default_instance(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(cli.LOCAL_INSTANCE_YAML, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    job = dg.Definitions(assets=[numbers, total], jobs=[dg.define_asset_job("small_job")]).resolve_job_def("small_job")
    with cli_instance(str(home)) as instance:
        assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
        result = job.execute_in_process(instance=instance)
        assert result.success
        written = _events(instance, result.run_id)
    assert not list((home / "history" / "runs").glob("*-wal"))  # closed: checkpointed into the .db files
    with dg.DagsterInstance.get() as plain:
        assert type(plain.event_log_storage) is SqliteEventLogStorage
        assert _events(plain, result.run_id) == written
        assert ("ASSET_MATERIALIZATION", "numbers") in written and ("ASSET_CHECK_EVALUATION", "numbers") in written
        assert ("LOG", "numbers") in written
        assert plain.get_run_by_id(result.run_id).is_success
        latest = plain.get_latest_materialization_event(dg.AssetKey("numbers"))
        assert latest.run_id == result.run_id and latest.asset_materialization.metadata["count"].value == 3
        check = plain.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")])
        assert next(iter(check.values())).run_id == result.run_id


def test_a_dagster_yaml_with_its_own_storage_is_left_alone(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'elsewhere'}\n",
                                       encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with cli_instance(str(home)) as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        assert str(tmp_path / "elsewhere") in instance.event_log_storage._base_dir


def test_run_several_periods_in_order_in_one_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KONGCHUO_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    calls: list[tuple[str, int]] = []

    def fake_run(period: str, job: str | None = None, instance: dg.DagsterInstance | None = None) -> prun.RunOutcome:
        calls.append((period, id(instance)))
        return prun.RunOutcome(period=period, run_id=f"run-{period}", success=not period.endswith("-05"))

    monkeypatch.setattr(prun, "run_period", fake_run)
    assert cli.main(["run", "--period", "2026-06", "--period", "2026-Q2"]) == 0
    assert [p for p, _ in calls] == ["2026-06", "2026-Q2"] and calls[0][1] == calls[1][1]  # one instance
    calls.clear()
    assert cli.main(["run", "--period", "2026-05", "--period", "2026-Q2"]) == 1  # the month failed: no quarter
    assert [p for p, _ in calls] == ["2026-05"]
    calls.clear()
    assert cli.main(["run", "--period", "2026-06"]) == 0 and [p for p, _ in calls] == ["2026-06"]


def test_gx_preloaded_only_for_jobs_with_checks() -> None:
    from pipelines.definitions import defs

    need = {name: prun.runs_checks(defs.resolve_job_def(name))
            for name in ("monthly_job", "ingest_job", "registry_changes_job", "quarterly_job", "daily_warning_job")}
    assert need == {"monthly_job": True, "ingest_job": True, "registry_changes_job": True,
                    "quarterly_job": False, "daily_warning_job": False}


def test_make_demo_runs_the_month_and_its_quarter_in_one_command() -> None:
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text(encoding="utf-8")
    demo = makefile[makefile.index("\ndemo:"):].split("\n\n")[0]
    runs = [line.strip() for line in demo.splitlines() if "kongchuo run" in line]
    assert runs == ["$(BIN)/kongchuo run --sample --period $(PERIOD) --period $(QUARTER)"]
