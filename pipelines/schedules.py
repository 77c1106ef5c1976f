"""Schedules (time zone Asia/Shanghai), and how to run backfills.

- ``monthly_schedule``: the 16th of every month at 06:00 runs ``monthly_job`` for the **previous** month
  (late extracts are in; four days of review before the report is due on the 20th).
- ``quarterly_schedule``: the 25th of March, June, September and December at 06:00 runs ``quarterly_job``
  for the **quarter in progress** (data up to that day), so R2 is filed by the quarter's end.
- ``r8_weekly_schedule``: every Monday at 06:00 from the term's first school day until its R8 deadline (term
  start + 2 months), ``registry_changes_job`` for the month holding the day before (the week just ended).
- ``r8_final_schedule``: daily at 06:00, it runs only on the deadline itself: the final R8 of the term, for the
  month holding the day before. The term comes from ``reference/school_calendar.csv`` under KONGCHUO_HOME when
  present, else 1 September / the end of the Spring Festival holiday (:mod:`kongchuo.terms`).

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

from kongchuo import terms
from kongchuo.settings import automation_on, kongchuo_home
from pipelines.jobs import monthly_job, quarterly_job, registry_changes_job
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


R8_WEEKLY_CRON = "0 6 * * 1"
R8_FINAL_CRON = "0 6 * * *"


def reference_calendar() -> list[dt.date]:
    """School days of ``reference/school_calendar.csv`` under KONGCHUO_HOME (rows without a school code, else all);
    empty when there is none. The schedules run in the daemon: they read the file, never the warehouse."""
    import csv

    path = kongchuo_home() / "reference" / "school_calendar.csv"
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = [(r.get("date") or "").strip() for r in csv.DictReader(fh) if not (r.get("school_code") or "").strip()]
    except OSError:
        return []
    out = []
    for text in rows:
        try:
            out.append(dt.date.fromisoformat(text))
        except ValueError:
            continue
    return sorted(set(out))


def r8_window(day: dt.date, calendar: list[dt.date] | None = None) -> tuple[terms.Term, dt.date]:
    """The term in progress on ``day`` and its R8 deadline."""
    term = terms.current_term(day, reference_calendar() if calendar is None else calendar)
    return term, terms.review_deadline(term)


def _local_day(when: dt.datetime) -> dt.date:
    return (when.astimezone(ZoneInfo(TIMEZONE)) if when.tzinfo else when).date()


def _r8_request(day: dt.date, term_name: str, kind: str, run_key: str) -> dg.RunRequest | dg.SkipReason:
    """R8 for the month holding the day before ``day`` (the registry as it stood when the tick fired)."""
    key = (day - dt.timedelta(days=1)).strftime("%Y-%m")
    if not monthly_partitions.has_partition_key(key):
        return dg.SkipReason(f"month {key} is before the first partition")
    return dg.RunRequest(partition_key=key, run_key=run_key,
                         tags={"kongchuo/period": key, "kongchuo/r8": kind, "kongchuo/term": term_name})


@dg.schedule(cron_schedule=R8_WEEKLY_CRON, execution_timezone=TIMEZONE, job=registry_changes_job,
             name="r8_weekly_schedule", default_status=AUTOMATION_STATUS,
             description="开学后每周一06:00 生成学籍异动梳理 R8 weekly from the term's start until its deadline.")
def r8_weekly_schedule(context: dg.ScheduleEvaluationContext):
    day = _local_day(_scheduled_time(context))
    term, deadline = r8_window(day)
    if not term.first_day < day < deadline:
        return dg.SkipReason(f"{day} is outside {term.name}'s R8 window ({term.first_day} .. {deadline})")
    return _r8_request(day, term.name, "weekly", run_key=f"r8_weekly_{day}")


@dg.schedule(cron_schedule=R8_FINAL_CRON, execution_timezone=TIMEZONE, job=registry_changes_job,
             name="r8_final_schedule", default_status=AUTOMATION_STATUS,
             description="开学后两个月当日06:00 生成本学期最终学籍异动梳理 R8 final run at term start + 2 months.")
def r8_final_schedule(context: dg.ScheduleEvaluationContext):
    day = _local_day(_scheduled_time(context))
    term, deadline = r8_window(day)
    if day != deadline:
        return dg.SkipReason(f"{term.name}'s R8 deadline is {deadline}")
    return _r8_request(day, term.name, "final", run_key=f"r8_final_{term.name}")


schedules = [monthly_schedule, quarterly_schedule, r8_weekly_schedule, r8_final_schedule]
