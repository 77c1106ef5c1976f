"""Where reports go, what they are called, the cell drill-down table and the per-period manifest.

Every count in a report is computed from ``reports.cells`` (one row per report, row, column and case key),
so each number can be traced to the cases behind it (``kongchuo explain``) and never disagrees with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets import completeness
from kongchuo.districts import common_region, district_name, month_label
from kongchuo.excel import Sheet, mark_draft
from warehouse.home import KongchuoHome
from warehouse.partitions import period_bounds
from warehouse.resource import WarehouseResource
from warehouse.sql import load, render
from warehouse.views import SCOPES_TABLE

MIN_COUNTY_SHARE = 0.01  # a county counts towards a multi-county label when it holds >= 1 % of the records


def current_district(warehouse: WarehouseResource) -> str:
    """The region the data belongs to, for report titles and file names.

    One district: the one holding most current registry records (the bundled reference data covers several
    districts, so it cannot say which one is being reported). Several counties each holding at least
    :data:`MIN_COUNTY_SHARE` of the records (a prefecture or province run): their common prefecture
    (``411000``) or province (``410000``) code, named in :mod:`kongchuo.districts`."""
    counts = warehouse.query_df(load("report_files/district_counts"))
    if counts.empty:
        return str(warehouse.scalar("SELECT min(district_code) FROM staged.townships") or "")
    total = int(counts["n"].sum())
    counties = [str(c) for c, n in zip(counts["code"], counts["n"]) if int(n) >= MIN_COUNTY_SHARE * total]
    if len(counties) > 1:
        region = common_region(counties)
        if region:
            return region
    return str(counts["code"].iloc[0])


def file_part(name: str) -> str:
    """A name (district, township) made safe as part of a file name."""
    return re.sub(r'[\\/:*?"<>|\s]', "_", str(name))


def report_path(home: KongchuoHome, warehouse: WarehouseResource, period: str, title: str) -> Path:
    """``reports/<period>/建安区_2026年10月_<title>.xlsx`` — named for people; ``…_<title>_草稿.xlsx`` while the
    period's inputs are not whole (draft hook: :mod:`assets.completeness`), and the other version is removed."""
    base = f"{district_name(current_district(warehouse))}_{month_label(period)}_{title}.xlsx"
    return draft_or_final(home.reports(period) / base, warehouse, period)


def draft_or_final(final: Path, warehouse: WarehouseResource, period: str) -> Path:
    """``final`` while the period's inputs are whole; else ``<name>_草稿.xlsx``, whose workbook gets the notice
    sheet first and 【草稿】 titles (:func:`kongchuo.excel.mark_draft`). The other version is removed."""

    draft = final.with_name(f"{final.stem}_{DRAFT_MARK}{final.suffix}")
    done = completeness.state(warehouse, period)
    if done.complete:
        draft.unlink(missing_ok=True)
        return final
    final.unlink(missing_ok=True)
    mark_draft(draft, completeness.notice_sheet(done))
    return draft


DRAFT_MARK = "草稿"


def draft_notice(warehouse: WarehouseResource, period: str) -> Sheet | None:
    """The first sheet of the period's drafts (:func:`assets.completeness.notice_sheet`), or None when the
    inputs are whole. For writers that cannot use :func:`draft_or_final`'s hook because they write in worker
    processes (R3): they pass the notice to the writer themselves."""
    done = completeness.state(warehouse, period)
    return None if done.complete else completeness.notice_sheet(done)


def versioned(final: Path, draft: bool) -> Path:
    """``final`` or its ``_草稿`` twin; the other version is removed so a period never shows both."""
    twin = final.with_name(f"{final.stem}_{DRAFT_MARK}{final.suffix}")
    (final if draft else twin).unlink(missing_ok=True)
    return twin if draft else final


def replace_cells(warehouse: WarehouseResource, period: str, report: str, cells_sql: str, params: dict[str, Any]) -> None:
    """Rebuild the drill-down rows of one report and period from ``cells_sql``
    (which selects ``period, report, row_key, column_key, case_key``)."""
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM reports.cells WHERE period = :period AND report = :report"),
                     {"period": period, "report": report})
        conn.execute(sa.text(f"INSERT INTO reports.cells (period, report, row_key, column_key, case_key) {cells_sql}"),
                     {**params, "period": period, "report": report})


def cell_counts(warehouse: WarehouseResource, period: str, report: str) -> pd.DataFrame:
    """Counts per (row_key, column_key) of one report: a wide frame indexed by row_key."""
    df = warehouse.query_df(
        "SELECT row_key, column_key, count(DISTINCT case_key) AS n FROM reports.cells "
        "WHERE period = :p AND report = :r GROUP BY row_key, column_key", {"p": period, "r": report})
    if df.empty:
        return pd.DataFrame()
    return df.pivot(index="row_key", columns="column_key", values="n").fillna(0).astype(int)


def report_metadata(path: Path, sha: str, rows: int, warehouse: WarehouseResource | None = None,
                    period: str | None = None) -> dict[str, Any]:
    """A report file's path, SHA-256 and row count; with ``warehouse`` and ``period`` also the period and the
    source files it was built from (:func:`source_files_metadata`)."""
    meta: dict[str, Any] = {"path": dg.MetadataValue.path(str(path)), "sha256": sha, "dagster/row_count": rows}
    if warehouse is not None and period is not None:
        meta.update(source_files_metadata(warehouse, period))
    return meta


def source_files_metadata(warehouse: WarehouseResource, period: str) -> dict[str, Any]:
    """The period and the ingested files (source, file name, SHA-256) a period's output is built from, plus one
    fingerprint of that set: materialization metadata that ties every derived table and report to its inputs."""

    files = source_files(warehouse, period_bounds(period)[1])
    shas = sorted(files["file_sha"].tolist())
    return {
        "period": period,
        "source_files": dg.MetadataValue.json(
            [{"source": r.source, "file": r.original_name, "sha256": r.file_sha}
             for r in files.itertuples(index=False)]),
        "source_files_count": len(shas),
        "source_files_fingerprint": hashlib.sha256("\n".join(shas).encode()).hexdigest(),
    }


def source_files(warehouse: WarehouseResource, period_end: dt.date) -> pd.DataFrame:
    """The ingested files a period's outputs are built from: the registry and census snapshot files the current
    tables hold (``staged.current_scopes``, a small table: no scan of the current records) and every event file
    whose dates start on or before the period end. About 20 assets of a run ask; each asks the warehouse (nothing
    is kept in process memory, so every executor gives the same answer)."""
    return warehouse.query_df(render("report_files/source_files", scopes=SCOPES_TABLE), {"end": period_end})


STALE_PARTIAL_SECONDS = 3600


def remove_stale_partials(folder: Path, older_than: float = STALE_PARTIAL_SECONDS) -> list[str]:
    removed = []
    for p in folder.glob(".partial-*"):
        if time.time() - p.stat().st_mtime > older_than:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed
