"""The landing sensor: a new or changed file in any ``landing/<source>/`` folder starts an ingestion run
(``ingest_job``) for the current month's partition (Asia/Shanghai).

The cursor is the JSON list of ``[path, mtime_ns, size]`` of every file seen (paths relative to
``KONGCHUO_HOME``), so a file re-sent under the same name with new content (new mtime or size) counts as
new. The run key is derived from the new entries, so the same landing never starts two runs. Partial
uploads (names starting with ``.`` or ``~$``) are ignored until renamed.
"""

import datetime as dt
import hashlib
import json
from zoneinfo import ZoneInfo

import dagster as dg

from assets.early_warning import new_school_days
from kongchuo import landing
from kongchuo.settings import SOURCES, automation_on, warehouse_url
from pipelines.jobs import daily_warning_job, ingest_job, monthly_job
from warehouse.home import KongchuoHome
from warehouse.partitions import TIMEZONE, daily_partitions, monthly_partitions
from warehouse.resource import WarehouseResource

# Running by default wherever a daemon runs (a bureau installs it and it works); KONGCHUO_AUTOMATION=off
# starts it stopped (kongchuo.settings.automation_on).
AUTOMATION_STATUS = (dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED)


def scan_landing(home: KongchuoHome) -> list[list]:
    """``[path, mtime_ns, size]`` of every file in the landing folders, sorted."""
    entries = []
    for source in SOURCES:
        folder = home.landing(source)
        if not folder.is_dir():
            continue
        for f in landing.scan_landing(folder, settle=0).ready:  # sub-folders too; links are never followed
            entries.append([f"landing/{source}/{f.display}", f.mtime_ns, f.size])
    return sorted(entries)


def current_month_key(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(ZoneInfo(TIMEZONE))).astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m")


@dg.sensor(job=ingest_job, name="landing_sensor", minimum_interval_seconds=60,
           default_status=AUTOMATION_STATUS,
           description="新文件入库 A new file in landing/<source>/ starts ingestion for the current month.")
def landing_sensor(context: dg.SensorEvaluationContext, home: KongchuoHome):
    seen = {tuple(e) for e in json.loads(context.cursor)} if context.cursor else set()
    current = scan_landing(home)
    new = [e for e in current if tuple(e) not in seen]
    if not new:
        return dg.SkipReason("no new files in landing/")
    key = current_month_key()
    digest = hashlib.sha256(json.dumps(new).encode("utf-8")).hexdigest()[:16]
    sources = sorted({e[0].split("/")[1] for e in new})
    context.update_cursor(json.dumps(current))
    if not monthly_partitions.has_partition_key(key):
        return dg.SkipReason(f"month {key} is not a partition")
    return dg.RunRequest(partition_key=key, run_key=f"landing_{digest}",
                         tags={"kongchuo/new_files": str(len(new)), "kongchuo/sources": ",".join(sources)})


# R7 within minutes of a day's roll call landing: after an ingest (or monthly) run succeeds, one daily run per
# school day its new roll-call files hold, for the last RECENT_DAYS days (older days: `kongchuo warn --to`).
RECENT_DAYS = 14


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[ingest_job, monthly_job],
                      request_job=daily_warning_job, name="daily_warning_sensor", minimum_interval_seconds=30,
                      default_status=AUTOMATION_STATUS,
                      description="每日预警 After new roll-call files are ingested, R7 for each school day they hold.")
def daily_warning_sensor(context: dg.RunStatusSensorContext):

    today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    warehouse = WarehouseResource(url=warehouse_url())
    try:
        days = new_school_days(warehouse, context.dagster_run.run_id, today)
    finally:
        warehouse.dispose()
    recent = [d for d in days if d >= (today - dt.timedelta(days=RECENT_DAYS)).isoformat()]
    for day in recent:
        if daily_partitions.has_partition_key(day):
            yield dg.RunRequest(partition_key=day, run_key=f"warn_{day}_{context.dagster_run.run_id}")


sensors = [landing_sensor, daily_warning_sensor]
