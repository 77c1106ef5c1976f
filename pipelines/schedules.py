"""Schedules (time zone Asia/Shanghai), and how to run backfills.

- ``monthly_schedule``: the 16th of every month at 06:00 runs ``monthly_job`` for the **previous** month
  (late extracts are in; four days of review before the report is due on the 20th).
- ``quarterly_schedule``: the 25th of March, June, September and December at 06:00 runs ``quarterly_job``
  for the **quarter in progress** (data up to that day), so R2 is filed by the quarter's end.

Both are plain ``@schedule``\\ s that compute their partition from the tick's scheduled time.
``build_schedule_from_partitioned_job`` does not fit either: it targets the partitions definition's last
partition, and with ``end_offset=1`` that is the month (or quarter) in progress, so on 16 July it would run
July, not June; its cron also follows the partition cadence (quarter starts: Jan/Apr/Jul/Oct), not the
quarter's last month, and it refuses an explicit ``cron_schedule`` for time-partitioned jobs.
``tests/test_orchestration.py`` evaluates both schedules on real tick times.

Backfills (README). Past months and quarters are re-run from the UI or the CLI:

- UI (``dagster dev`` or webserver + ``dagster-daemon``): Jobs → ``monthly_job`` → Partitions →
  select e.g. 2026-03…2026-05 → Launch backfill (or Assets → select the graph → Materialize → partition range).
- CLI, one run per month::

      dagster job backfill -m pipelines.definitions -j monthly_job --from 2026-03 --to 2026-05 --noprompt
      dagster job backfill -m pipelines.definitions -j quarterly_job --partitions 2026-04-01 --noprompt

  (quarterly partition keys are the quarter's first day; reports go to ``reports/2026-Q2``).
- ``kongchuo run --period 2026-04`` runs one period in-process, the way the CLI does it for users.

Run backfills one run at a time and oldest first: DuckDB allows one writer, and the case ledger folds the
months in order (``assets.ledger``). With the daemon, set in ``$DAGSTER_HOME/dagster.yaml``::

    run_queue:
      max_concurrent_runs: 1

Job backfills submit the months in order and the queue starts them in that order; asset backfills from the
UI also order them, because ``ledger/case_events`` depends on its own previous month.
(``dagster asset materialize --partition-range`` needs single-run backfill policies on every asset, which a
per-month graph does not have; use ``dagster job backfill``.)
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from kongchuo.settings import automation_on
from pipelines.jobs import monthly_job, quarterly_job
from warehouse.partitions import TIMEZONE, monthly_partitions, quarter_label, quarterly_partitions

# Running by default wherever a daemon runs (a bureau installs it and it works); KONGCHUO_AUTOMATION=off
# starts it stopped (kongchuo.settings.automation_on).
AUTOMATION_STATUS = (dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED)

MONTHLY_CRON = "0 6 16 * *"
QUARTERLY_CRON = "0 6 25 3,6,9,12 *"


def previous_month_key(when: dt.datetime) -> str:
    """Partition key of the month before ``when`` in Asia/Shanghai: 2026-07-16 06:00 → '2026-06'."""
    local = when.astimezone(ZoneInfo(TIMEZONE)) if when.tzinfo else when
    return (local.date().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


def current_quarter_key(when: dt.datetime) -> str:
    """Quarterly partition key of the quarter containing ``when``: 2026-06-25 → '2026-04-01' (2026-Q2)."""
    local = when.astimezone(ZoneInfo(TIMEZONE)) if when.tzinfo else when
    return f"{local.year}-{3 * ((local.month - 1) // 3) + 1:02d}-01"


def _scheduled_time(context: dg.ScheduleEvaluationContext) -> dt.datetime:
    return context.scheduled_execution_time or dt.datetime.now(ZoneInfo(TIMEZONE))


@dg.schedule(cron_schedule=MONTHLY_CRON, execution_timezone=TIMEZONE, job=monthly_job,
             name="monthly_schedule", default_status=AUTOMATION_STATUS,
             description="每月16日06:00 运行上月月度作业 On the 16th at 06:00, the monthly job for the previous month.")
def monthly_schedule(context: dg.ScheduleEvaluationContext):
    key = previous_month_key(_scheduled_time(context))
    if not monthly_partitions.has_partition_key(key):
        return dg.SkipReason(f"month {key} is before the first partition")
    return dg.RunRequest(partition_key=key, run_key=f"monthly_{key}", tags={"kongchuo/period": key})


@dg.schedule(cron_schedule=QUARTERLY_CRON, execution_timezone=TIMEZONE, job=quarterly_job,
             name="quarterly_schedule", default_status=AUTOMATION_STATUS,
             description="3/6/9/12月25日06:00 运行本季度作业 On the 25th of a quarter's last month, R2 for that quarter.")
def quarterly_schedule(context: dg.ScheduleEvaluationContext):
    key = current_quarter_key(_scheduled_time(context))
    if not quarterly_partitions.has_partition_key(key):
        return dg.SkipReason(f"quarter {quarter_label(key)} is before the first partition")
    return dg.RunRequest(partition_key=key, run_key=f"quarterly_{quarter_label(key)}",
                         tags={"kongchuo/period": quarter_label(key)})


schedules = [monthly_schedule, quarterly_schedule]
