"""Open quarantines: quarantined deliveries of a period that no valid replacement has superseded.

Shared by the drafts (``assets/completeness.py``: the period's reports are drafts while any is open) and the
checks (``checks/dq.py``: a registry or census file quarantined for DQ01 or DQ08 at ingest, ``kongchuo.delivery``,
is that check's ERROR in every run of the period until a corrected file lands; an auditor sees it in Dagster).

**Replacement** = a later file of the same source that was ingested and has the same delivery name
(:func:`kongchuo.snapshot_dates.delivery_key`: correction marks aside). **Periods concerned**: a date in the file
name gives its month; a file without one concerns every period from the month before it landed on.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kongchuo.snapshot_dates import date_in_name, delivery_key
from warehouse.partitions import period_bounds
from warehouse.resource import WarehouseResource

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
