"""``checks.findings``: one row per offending record per run, and the masked metadata of a check result.

Writes are idempotent per (run_id, check_id, source): delete, then insert — re-running a check in the same
run replaces its rows, and every earlier run's rows stay queryable. ``checks.evaluations`` keeps one row per
check evaluation (also when it found nothing) with the row count DQ09 compares against.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from kongchuo.masking import preview_markdown
from warehouse.resource import WarehouseResource
from warehouse.sql import render

FINDING_COLUMNS = ["run_id", "period", "check_id", "source", "record_key", "school_code", "file_sha", "row_no",
                   "detail", "severity", "checked_at"]
PREVIEW_ROWS = 10

def ensure_tables(warehouse: WarehouseResource) -> None:
    warehouse.ensure_layout()


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def write_findings(warehouse: WarehouseResource, *, run_id: str, period: str, check_id: str, source: str,
                   findings: pd.DataFrame, passed: bool, row_count: int | None = None) -> None:
    """Replace the findings (and the evaluation row) of one check on one source in one run."""
    checked_at = now()
    df = findings.copy()
    for col in ("record_key", "school_code", "file_sha", "row_no", "detail"):
        if col not in df.columns:
            df[col] = None
    if "severity" not in df.columns:
        df["severity"] = "warn"
    df = df.assign(run_id=run_id, period=period, check_id=check_id, source=source, checked_at=checked_at)
    df = df[FINDING_COLUMNS]
    df["row_no"] = pd.array(df["row_no"], dtype="Int64")
    for col in ("run_id", "period", "check_id", "source", "record_key", "school_code", "file_sha", "detail",
                "severity"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    severity = "error" if (df["severity"] == "error").any() else "warn"
    keys = {"run_id": run_id, "check_id": check_id, "source": source}
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM checks.findings WHERE run_id = :run_id AND check_id = :check_id "
                             "AND source = :source"), keys)
        conn.execute(sa.text("DELETE FROM checks.evaluations WHERE run_id = :run_id AND check_id = :check_id "
                             "AND source = :source"), keys)
        warehouse.insert_frame(conn, "checks.findings", df)
        conn.execute(sa.text(
            "INSERT INTO checks.evaluations (run_id, period, check_id, source, passed, severity, finding_count, "
            "row_count, checked_at) VALUES (:run_id, :period, :check_id, :source, :passed, :severity, :n, "
            ":row_count, :checked_at)"),
            {**keys, "period": period, "passed": passed, "severity": severity, "n": len(df),
             "row_count": row_count, "checked_at": checked_at})


def previous_row_count(warehouse: WarehouseResource, check_id: str, source: str, period: str) -> int | None:
    """Row count of the latest evaluation of an earlier period (None when there is none)."""
    value = warehouse.scalar(
        "SELECT row_count FROM checks.evaluations WHERE check_id = :c AND source = :s AND period < :p "
        "AND row_count IS NOT NULL ORDER BY period DESC, checked_at DESC LIMIT 1",
        {"c": check_id, "s": source, "p": period})
    return None if value is None else int(value)


def latest_run_findings_sql(check_ids: tuple[str, ...]) -> str:
    """SELECT of the findings of the latest evaluation of each (check, source) for the period ``:p``."""
    return render("checks/latest_run_findings", check_ids=", ".join(f"'{c}'" for c in check_ids))


def latest_run_findings(warehouse: WarehouseResource, period: str, check_ids: tuple[str, ...]) -> pd.DataFrame:
    """Findings of the latest evaluation of each (check, source) for the period."""
    return warehouse.query_df(
        f"SELECT * FROM ({latest_run_findings_sql(check_ids)}) q "
        "ORDER BY check_id, school_code, record_key, file_sha, row_no", {"p": period})


def result_metadata(findings: pd.DataFrame, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts and at most 10 offending rows, masked (kongchuo.masking) — safe for the Dagster event log."""
    shown = [c for c in ("record_key", "school_code", "file_sha", "row_no", "detail", "severity")
             if c in findings.columns]
    sample = findings[shown].head(PREVIEW_ROWS).copy()
    if "file_sha" in sample.columns:
        sample["file_sha"] = sample["file_sha"].map(lambda v: v[:12] if isinstance(v, str) else v)
    meta: dict[str, Any] = {
        "finding_count": int(len(findings)),
        "offending_rows (masked, ≤10)": dg.MetadataValue.md(preview_markdown(sample, PREVIEW_ROWS)),
    }
    if len(findings) and "school_code" in findings.columns:
        meta["schools_affected"] = int(findings["school_code"].nunique())
    meta.update(extra or {})
    return meta
