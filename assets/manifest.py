"""The per-period manifest (``reports/<period>/manifest.json``), built after every report of the period.

The manifest lists only the files the report assets themselves wrote: each report asset records the path and
SHA-256 of every file it wrote in its materialization metadata, and the manifest takes those (the latest
materialization of each report for the period) and keeps a file only while its bytes still have that hash.
A workbook saved into the folder by hand, or a report file edited afterwards, is never listed, so the portal
never serves it (it shows it to district staff as 未登记文件). Each entry carries its report id (R1…R8), Chinese
name and audience (who may read it: ``kongchuo.reports_catalog.AUDIENCES``), all from the registered report spec,
and, for R5, R7 and R8, the township code (R7: also the school code), so the portal scopes by codes and never by
words in a file name, and serves a new report without knowing it.

:func:`manifest_assets` builds one manifest per partition kind over the registered reports of that kind: a report
registered by its spec module is listed without naming it here.
"""


import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import dagster as dg
import pandas as pd

from assets import completeness
from assets.common import OWNERS
from assets.report_files import current_district, remove_stale_partials, source_files, source_files_metadata
from assets.report_skeleton import registered_reports, report_specs
from kongchuo.excel import sha256_file
from warehouse.home import KongchuoHome
from warehouse.partitions import daily_partitions, monthly_partitions, period_bounds, period_of, quarterly_partitions
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource

# The scope codes a report file may carry (R5, R8: township; R7: township and school), which the portal scopes by.
SCOPE_KEYS = ("township_code", "school_code")


def _value(meta: dict[str, Any], key: str) -> Any:
    item = meta.get(key)
    return getattr(item, "value", item)


def recorded_files(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The files one report materialization says it wrote: ``files`` (R3, R5: several) or ``path``/``sha256``."""
    files = _value(meta, "files")
    if isinstance(files, list):
        return [f for f in files if isinstance(f, dict) and f.get("path") and f.get("sha256")]
    path, sha = _value(meta, "path"), _value(meta, "sha256")
    return [{"path": str(path), "sha256": str(sha)}] if path and sha else []


def latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey,
                           partition_key: str) -> tuple[dict[str, Any], str] | None:
    """(metadata, run id) of the latest materialization of ``key`` for a partition (None: never materialized).
    The partition key, not the period: a quarter's key is its first day (``2026-04-01``), its period 2026-Q2."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key]), limit=1)
    if not result.records:
        return None
    record = result.records[0]
    materialization = record.asset_materialization
    return (dict(materialization.metadata), record.run_id) if materialization else None


def written_reports(instance: dg.DagsterInstance, report_keys: Sequence[dg.AssetKey], partition_key: str,
                    folder: Path) -> list[dict[str, Any]]:
    """Manifest entries: every file the report assets wrote into ``folder`` whose bytes still match, each with
    the run id that wrote it (``run_id``: kept out of the manifest file, see :func:`write_manifest`)."""
    entries: list[dict[str, Any]] = []
    specs = report_specs()  # the registered reports (assets.report_skeleton)
    for key in report_keys:
        spec = specs.get(key.path[-1])
        found = latest_materialization(instance, key, partition_key) if spec else None
        meta, run_id = found or ({}, "")
        for f in recorded_files(meta):
            path = Path(f["path"])
            if path.parent.resolve() != folder.resolve() or not path.is_file() or path.is_symlink():
                continue
            if sha256_file(path) != f["sha256"]:  # changed since the run wrote it: not the run's file
                continue
            # the report's name and audience too: the portal serves a report it has no code for by these
            entry = {"file": path.name, "report": spec.report_id, "label": spec.title, "audience": spec.audience,
                     "sha256": f["sha256"], "bytes": path.stat().st_size, "run_id": run_id}
            # the scope codes a per-township or per-school file was written with (report_skeleton.Written)
            entry.update({k: f[k] for k in SCOPE_KEYS if k in f})
            entries.append(entry)
    return sorted(entries, key=lambda e: e["file"])


def write_manifest(folder: Path, reports: list[dict[str, Any]], sources: pd.DataFrame,
                   district_code: str, completeness: dict[str, Any] | None = None) -> Path:
    """Write ``manifest.json`` atomically (and drop ``.partial-*`` files a killed run left behind)."""
    remove_stale_partials(folder)
    # No timestamps or run ids: the same inputs give a byte-identical manifest (run history is in Dagster).
    manifest = {
        "period": folder.name,
        "district_code": district_code,
        "reports": [{k: v for k, v in r.items() if k != "run_id"} for r in reports],
        "sources": [{"source": r.source, "file": r.original_name, "sha256": r.file_sha}
                    for r in sources.itertuples(index=False)],
        **(completeness or {"complete": True}),  # drafts: "complete": false and the inputs still missing
    }
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".partial-{os.getpid()}-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=2)
    target = folder / "manifest.json"
    os.replace(tmp, target)
    return target


RUNS_DDL = ("CREATE TABLE IF NOT EXISTS reports.report_runs (period TEXT NOT NULL, report TEXT NOT NULL, "
            "file TEXT NOT NULL, sha256 TEXT NOT NULL, run_id TEXT NOT NULL, manifest_run_id TEXT NOT NULL)")


def record_report_runs(warehouse: WarehouseResource, period: str, reports: list[dict[str, Any]],
                       manifest_run_id: str) -> None:
    """``reports.report_runs``: the Dagster run that wrote each listed file (the portal's 追溯 page shows it;
    the manifest itself carries no run ids, so identical inputs give an identical manifest)."""
    import sqlalchemy as sa

    rows = pd.DataFrame({"period": period, "report": [r["report"] for r in reports],
                         "file": [r["file"] for r in reports], "sha256": [r["sha256"] for r in reports],
                         "run_id": [r["run_id"] for r in reports], "manifest_run_id": manifest_run_id},
                        columns=["period", "report", "file", "sha256", "run_id", "manifest_run_id"])
    with warehouse.begin() as conn:
        conn.execute(sa.text(RUNS_DDL))
        conn.execute(sa.text("DELETE FROM reports.report_runs WHERE period = :p"), {"p": period})
        warehouse.insert_frame(conn, "reports.report_runs", rows)  # in bulk: a province's day has ~10k R7 files


def build_manifest_asset(name: str, report_keys: Sequence[dg.AssetKey],
                         partitions_def: dg.PartitionsDefinition, group_name: str = "reports") -> dg.AssetsDefinition:
    @dg.asset(pool=WAREHOUSE_POOL, key=dg.AssetKey(["reports", name]), deps=list(report_keys), group_name=group_name, owners=OWNERS,
              partitions_def=partitions_def, kinds={"json"}, code_version="3")
    def _manifest(context: dg.AssetExecutionContext, home: KongchuoHome,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
        """报表清单 Manifest: the report files the pipeline wrote for the period (report id, SHA-256, size) and
        the source files (by content hash) they were built from. Files it did not write are not listed."""
        period = period_of(context)
        folder = home.reports(period)
        reports = written_reports(context.instance, report_keys, context.partition_key, folder)
        sources = source_files(warehouse, period_bounds(period)[1])
        done = completeness.state(warehouse, period)  # incomplete inputs make a draft manifest
        path = write_manifest(folder, reports, sources, current_district(warehouse), done.as_manifest())
        record_report_runs(warehouse, period, reports, context.run_id)
        listed = {r["file"] for r in reports}
        unlisted = sorted(p.name for p in folder.glob("*.xlsx") if not p.name.startswith(".") and p.name not in listed)
        if unlisted:
            context.log.warning(f"manifest {period}: {len(unlisted)} workbook(s) in the folder not written by the "
                                "pipeline are not listed (the portal shows them to district staff as 未登记文件)")
        return dg.MaterializeResult(metadata={
            **source_files_metadata(warehouse, period),
            "path": dg.MetadataValue.path(str(path)),
            "sha256": sha256_file(path),
            "reports": dg.MetadataValue.json([{k: r[k] for k in ("file", "report", "sha256", "run_id")}
                                              for r in reports]),
            "unlisted_files": len(unlisted),
            "source_files": dg.MetadataValue.md(sources[["source", "original_name", "file_sha"]].to_markdown(index=False)
                                                if len(sources) else "(none)"),
            "dagster/row_count": len(sources),
            "complete": done.complete,
        })

    return _manifest


# Per partition kind: the manifest's key, partitions and group. The quarter's manifest (reports/2026-Q2/manifest.json)
# is keyed under reports/quarterly/ so the monthly job, which selects the 'reports' group minus that prefix, never
# picks up a quarterly-partitioned asset.
MANIFESTS: dict[str, tuple[dg.AssetKey, dg.PartitionsDefinition, str]] = {
    "monthly": (dg.AssetKey(["reports", "monthly_manifest"]), monthly_partitions, "reports"),
    "quarterly": (dg.AssetKey(["reports", "quarterly", "manifest"]), quarterly_partitions, "reports"),
    "daily": (dg.AssetKey(["reports", "daily_manifest"]), daily_partitions, "daily"),
}


def manifest_assets() -> list[dg.AssetsDefinition]:
    """The monthly, quarterly and daily manifests, each after every registered report of its partition kind."""
    out = []
    for kind, (key, partitions_def, group) in MANIFESTS.items():
        keys = [r.spec.key for r in registered_reports(kind)]
        built = build_manifest_asset(f"{kind}_manifest", keys, partitions_def, group_name=group)
        out.append(built if built.key == key else built.with_attributes(asset_key_replacements={built.key: key}))
    return out
