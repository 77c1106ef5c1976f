"""Open quarantines: quarantined deliveries of a period that no valid replacement has superseded.

Shared by the drafts (``assets/completeness.py``: the period's reports are drafts while any is open) and the
checks (``checks/dq.py``: a registry or census file quarantined for DQ01 at ingest or for DQ08 by the registry's
check step, :mod:`kongchuo.delivery`, is that check's ERROR in every run of the period until a corrected file
lands; an auditor sees it in Dagster).

**Replacement** = a later file of the same source that was ingested and has the same delivery name
(:func:`kongchuo.snapshot_dates.delivery_key`: correction marks aside). **Periods concerned**: a date in the file
name gives its month; a file without one concerns every period from the month before it landed on.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from kongchuo import delivery, landing
from kongchuo.snapshot_dates import date_in_name, delivery_key
from warehouse.partitions import TIMEZONE, period_bounds
from warehouse.resource import WarehouseResource
from warehouse.views import refresh_current

REASON = "已隔离，待重新报送 (quarantined: send a corrected file)"
COLUMNS = ["source", "file", "error", "since", "reason", "file_sha"]


def concerns(name: str, landed_at: dt.datetime, start: dt.date, end: dt.date) -> bool:
    named = date_in_name(name, landed_at)
    if named is not None:
        return start <= named <= end
    month_before = (landed_at.date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return end >= month_before


def open_quarantines(warehouse: WarehouseResource, period: str, source: str | None = None) -> pd.DataFrame:
    """Quarantined files of ``period`` (of ``source``, or every source) without a valid replacement: source, file,
    error, since, reason, file_sha."""
    files = warehouse.query_df(
        "SELECT file_sha, source, original_name, status, error, ingested_at FROM raw.files "
        "WHERE status IN ('ingested', 'quarantined') ORDER BY ingested_at")
    if source is not None:
        files = files[files["source"] == source]
    start, end = period_bounds(period)
    rows = []
    for q in files[files["status"] == "quarantined"].itertuples(index=False):
        landed = pd.Timestamp(q.ingested_at).to_pydatetime()
        later = files[(files["status"] == "ingested") & (files["source"] == q.source)
                      & (files["ingested_at"] >= q.ingested_at)]
        key = delivery_key(q.original_name)
        if any(delivery_key(n) == key for n in later["original_name"]):
            continue
        if concerns(q.original_name, landed, start, end):
            rows.append({"source": q.source, "file": q.original_name, "error": q.error or "", "since": landed,
                         "reason": REASON, "file_sha": q.file_sha})
    return pd.DataFrame(rows, columns=COLUMNS)


def quarantine_loaded(warehouse: WarehouseResource, quarantine_dir: Path, file_sha: str, error: str,
                      run_id: str | None) -> None:
    """Quarantine a file that was loaded before it could be judged (DQ08 needs the reference data the run loads):
    its raw copy goes to ``quarantine/<source>/`` with an ``.error.txt`` note, as at ingest, and ``raw.files`` marks
    it 'quarantined', so the current tables drop it at their next refresh (they read ingested files only), later
    runs skip its hash, and the period's reports are drafts until a replacement lands. Its staged rows stay, as
    loaded, out of every current table."""
    row = warehouse.query_df("SELECT source, original_name, raw_path FROM raw.files WHERE file_sha = :s",
                             {"s": file_sha}).iloc[0]
    target = quarantine_dir / row["source"] / landing.quarantine_name(row["original_name"], file_sha)
    if Path(row["raw_path"]).is_file():
        landing.copy_private(Path(row["raw_path"]), target)
    landing.write_private_text(target.with_name(f"{target.name}.error.txt"), (
        f"{error}\n\nfile: {row['original_name']}\nsource: {row['source']}\nsha256: {file_sha}\n"
        f"quarantined_at: {dt.datetime.now(ZoneInfo(TIMEZONE)):%Y-%m-%d %H:%M:%S} ({TIMEZONE})\nrun_id: {run_id}\n"))
    with warehouse.begin() as conn:
        conn.execute(sa.text("UPDATE raw.files SET status = 'quarantined', error = :e, run_id = :r "
                             "WHERE file_sha = :s"), {"e": error, "r": run_id, "s": file_sha})


def judge_loaded_files(warehouse: WarehouseResource, quarantine_dir: Path, file_shas: list[str], run_id: str | None,
                       as_of: dt.date) -> list[str]:
    """DQ08 on whole registry files (:mod:`kongchuo.delivery`): each ingested file of ``file_shas`` naming a code
    the loaded reference data does not know is quarantined (:func:`quarantine_loaded`), then the current registry
    is refreshed as of ``as_of`` (the previous snapshot of the file's scope is back in force). Returns the
    quarantined file hashes; none without reference data (DQ08 cannot be judged)."""
    ref = delivery.Reference(
        frozenset(warehouse.query_df("SELECT school_code FROM staged.schools")["school_code"].astype(str)),
        frozenset(warehouse.query_df("SELECT township_code FROM staged.townships")["township_code"].astype(str)))
    if not ref.schools or not file_shas:
        return []
    done = []
    for sha in sorted(set(file_shas)):
        f = warehouse.query_df("SELECT source, original_name, header_map FROM raw.files WHERE file_sha = :s "
                               "AND status = 'ingested'", {"s": sha})
        if f.empty or f["source"].iloc[0] not in delivery.DQ08_SOURCES:
            continue
        rows = warehouse.query_df(f"SELECT {', '.join(delivery.COLUMNS)} FROM staged.registry WHERE file_sha = :s "
                                  "ORDER BY row_no", {"s": sha})
        header_map = json.loads(f["header_map"].iloc[0] or "{}")
        error = delivery.file_problem("registry", f["original_name"].iloc[0], [rows], header_map, ref)
        if error:
            quarantine_loaded(warehouse, quarantine_dir, sha, error, run_id)
            done.append(sha)
    if done:
        refresh_current(warehouse, ["registry"], as_of=as_of)
    return done
