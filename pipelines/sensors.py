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

from kongchuo.settings import SOURCES
from pipelines.jobs import ingest_job
from pipelines.partitions import TIMEZONE, monthly_partitions
from kongchuo import landing
from pipelines.resources import KongchuoHome


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
           default_status=dg.DefaultSensorStatus.STOPPED,
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


sensors = [landing_sensor]
