"""Ingestion, the spine: landing → raw → staged.

For every regular file under ``landing/<source>/`` (sub-folders included; :mod:`kongchuo.landing` refuses
links, lists hidden and temporary files as ignored, lets files still being written wait, bounds archives and
makes every file name safe and masked):

1. SHA-256 of the bytes. A file whose hash is already in ``raw.files`` (ingested or quarantined) is skipped,
   so re-running any period, or dropping the same file twice, changes nothing.
2. An unchanged copy goes to ``raw/<source>/<sha256><suffix>`` (written to a temporary name, then renamed).
   Neither the landing file nor the raw copy is ever modified; the raw copy is what gets parsed.
3. The raw copy is read in chunks (:mod:`kongchuo.readers`), normalised (:mod:`kongchuo.normalize`) and
   loaded into ``staged.<source>`` together with its ``raw.files`` row in ONE transaction. Attendance CSV files
   that DuckDB reads exactly as pandas does are read by DuckDB's own ``read_csv`` instead, their values
   normalised once per distinct cell (:mod:`kongchuo.fastcsv`, :mod:`warehouse.csv_load`; ``KONGCHUO_FAST_CSV=off``
   turns it off); any other shape, or any problem, goes the pandas path, which words every message.
4. Any problem with the file (encoding, header, unreadable workbook, ...) rolls the transaction back: nothing
   of the file is half-loaded. The file moves to ``quarantine/<source>/<name>`` (``<sha12>_<safe name>`` when
   the name is long or odd) with ``.error.txt`` beside it, leaves landing, and ``raw.files`` records it as
   'quarantined' with the error (the raw copy stays). Other files still go through; the asset reports
   ``quarantined_files`` instead of failing, and every run of the period builds its reports as drafts until a
   replacement lands (:mod:`assets.completeness`). Infrastructure errors (disk, warehouse locked or
   unreachable) are not the file's fault: they fail the run and leave the file in landing for a retry.
5. The current tables are refreshed (:func:`warehouse.views.refresh_current`): registry and census files are
   snapshots that replace their scope; ``landing/confirmations/`` confirms snapshots held for a large drop.

Files that were ingested STAY in landing: the hash register makes that harmless, exporters and people can
see what was delivered, and a bureau may clean landing on its own schedule. Names starting with '.' or
'~$' (Excel lock files) and ``*.tmp``/``*.part`` (copies in progress) are left alone and listed as ignored.

Every staged asset is partitioned monthly like the rest of the monthly job, but ingestion does not depend
on the period: materialising any period ingests whatever new files are in landing. Values that do not
parse become NULL with the raw text kept; they are row-level findings (DQ03), not file errors.

Memory: reading and normalising are chunked (constant memory). DuckDB keeps a transaction's appended rows in
memory until commit (~90 MB per 500k roll-call rows, measured), so one very large file costs memory in
proportion to its size; deliver province-scale extracts split per county or school, or use PostgreSQL,
whose COPY inside a transaction goes to disk.
"""


import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets.common import OWNERS, table_schema
from assets.landing_findings import record_refused
from kongchuo import delivery, landing, masking
from kongchuo.excel import sha256_file
from kongchuo.fastcsv import CsvPlan, plan_csv, utf8_copy
from kongchuo.normalize import parse_flags
from kongchuo.parsing import PARALLEL_MIN_BYTES, ParsedFile, ParseJob, parse_all, parse_file, safe_error
from kongchuo.readers import CHUNK_ROWS, IngestError, detect_encoding
from kongchuo.settings import SOURCES
from kongchuo.sources import SPECS
from warehouse import csv_load, views
from warehouse.csv_load import Loaded, load_csv
from warehouse.home import KongchuoHome
from warehouse.partitions import TIMEZONE, monthly_partitions, period_bounds
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource, is_infrastructure_error
from warehouse.views import refresh_current

CODE_VERSION = "ingest-1"
# The .sql files an ingest step runs (CSV loading, current tables, snapshots, matching): their fingerprint is part
# of the code_version (pipelines.policies), so a changed statement makes the staged tables stale.
SQL_FILES = (*csv_load.SQL_FILES, *views.SQL_FILES)

_DESCRIPTIONS = {
    "registry": "学籍 (student registry) snapshots",
    "attendance": "考勤 (daily roll call)",
    "census": "户籍人口 6–15 (household-register children) snapshots",
    "casework": "劝返记录 (persuasion attempts)",
    "exemptions": "延缓入学/休学 (approved deferrals and suspensions)",
    "home_teaching": "送教上门 (home-teaching visits)",
}


@dataclass
class FileOutcome:
    name: str
    sha: str
    status: str  # ingested | skipped | quarantined
    rows: int = 0
    error: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    skipped_rows: dict[str, int] = field(default_factory=dict)  # total/note/blank lines per kind
    skipped_sheets: list[tuple[str, str]] = field(default_factory=list)  # (sheet, reason)


# --- files ------------------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    """Content hash of a landed file: the key of its raw copy (one implementation: kongchuo.excel.sha256_file)."""
    return sha256_file(path)


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy bytes unchanged to ``dst`` (mode 0640, never following a link) via a short temporary name."""
    landing.copy_private(src, dst)


def landing_files(home: KongchuoHome, source: str) -> list[Path]:
    """The regular files of ``landing/<source>`` (sub-folders included) that are ready to read."""
    return [f.path for f in landing.scan_landing(home.landing(source), settle=0).ready]


def _now() -> dt.datetime:
    """Wall-clock time in Asia/Shanghai, naive (the warehouse TIMESTAMP columns carry no zone)."""
    return dt.datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)


SCRATCH_DIR = ".ingest_scratch"  # parsed parts of files being loaded; removed when the ingest ends
STALE_SCRATCH_SECONDS = 6 * 3600


def remove_stale_scratch(folder: Path, older_than: float = STALE_SCRATCH_SECONDS) -> list[str]:
    """Parts left by an ingest that was killed (SIGKILL, power loss): a folder named ``<pid>-…`` whose process
    is gone is removed at once; an unnamed one (older versions) once it is older than any ingest could be.
    A concurrent ingest's parts are never touched."""
    return landing.remove_dead_leftovers(folder, "*", older_than)


class IngestOutcomes(list):
    """The outcomes of one source's ingest (one per ready landing file), and the landing scan behind them:
    files refused (links), ignored (hidden, temporary) and waiting (still being written)."""

    scan: landing.LandingScan
    snapshot_messages: list[str]


CONFIRMATIONS = "confirmations"  # landing/confirmations/: files naming held snapshots to apply them


# --- loading ----------------------------------------------------------------------------------------

def known_shas(warehouse: WarehouseResource, source: str) -> dict[str, str]:
    df = warehouse.query_df(
        "SELECT file_sha, status FROM raw.files WHERE source = :s AND status IN ('ingested', 'quarantined')",
        {"s": source},
    )
    return dict(zip(df["file_sha"], df["status"]))


def _files_row(**values: Any) -> dict[str, Any]:
    base = dict(file_sha=None, source=None, original_name=None, raw_path=None, size_bytes=None, encoding=None,
                row_count=None, status=None, error=None, ingested_at=_now(), min_date=None, max_date=None,
                run_id=None, header_map=None)
    base.update(values)
    return base


def _insert_files_row(conn: sa.Connection, row: dict[str, Any]) -> None:
    cols = list(row)
    conn.execute(
        sa.text(f"INSERT INTO raw.files ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"), row
    )


def load_parsed(warehouse: WarehouseResource, parsed: ParsedFile, run_id: str | None) -> FileOutcome:
    """Load a parsed file's parts with its raw.files row in one transaction; raises on any problem."""
    job = parsed.job
    rows = 0
    with warehouse.begin() as conn:
        for table in parsed.tables():
            warehouse.insert_frame(conn, f"staged.{job.source}", table)
            rows += table.num_rows
        _insert_files_row(conn, _files_row(
            file_sha=job.sha, source=job.source, original_name=job.name, raw_path=str(job.raw_path),
            size_bytes=job.raw_path.stat().st_size, encoding=parsed.encoding, row_count=rows,
            status="ingested", min_date=parsed.min_date, max_date=parsed.max_date, run_id=run_id,
            header_map=json.dumps(parsed.header_map, ensure_ascii=False),
        ))
    return FileOutcome(job.name, job.sha, "ingested", rows, ignored_columns=parsed.ignored_columns,
                       skipped_rows=parsed.skipped_rows, skipped_sheets=parsed.skipped_sheets)


def quarantine_file(home: KongchuoHome, warehouse: WarehouseResource, source: str, landed: Path, raw_path: Path,
                    sha: str, error: str, run_id: str | None, display: str | None = None) -> FileOutcome:
    """Copy the raw bytes to ``quarantine/<source>/<sha12>_<safe name>`` with an ``.error.txt`` note, record the
    file as quarantined, and remove it from landing (a link put in its place is removed, never followed)."""
    display = display or landing.display_name(landed.name)
    target = home.quarantine / source / landing.quarantine_name(display, sha)
    landing.copy_private(raw_path, target)
    landing.write_private_text(target.with_name(f"{target.name}.error.txt"), (
        f"{error}\n\nfile: {display}\nsource: {source}\nsha256: {sha}\n"
        f"quarantined_at: {_now():%Y-%m-%d %H:%M:%S} ({TIMEZONE})\nrun_id: {run_id}\n"))
    with warehouse.begin() as conn:
        _insert_files_row(conn, _files_row(
            file_sha=sha, source=source, original_name=display, raw_path=str(raw_path),
            size_bytes=raw_path.stat().st_size, status="quarantined", error=error, run_id=run_id,
        ))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(landed)
    return FileOutcome(display, sha, "quarantined", error=error)


def remove_leftovers(home: KongchuoHome) -> None:
    """Parse parts and half-written reports of runs that were killed (their process is gone)."""
    remove_stale_scratch(home.root / SCRATCH_DIR)
    landing.remove_report_partials(home.root / "reports")


def _log_scan(log: Any, source: str, scan: landing.LandingScan) -> None:
    if not log:
        return
    for name, reason in scan.refused:
        log.warning(f"{source}: refused {name}: {reason}")
    for name, reason in scan.ignored:
        log.info(f"{source}: ignored {name}: {reason}")
    for f in scan.waiting:
        log.info(f"{source}: {f.display} is still being written; it is read by the next run")


@dataclass
class _Queue:
    """New files of one ingest: what to parse, and files refused before parsing (archive bombs)."""

    order: list[tuple[landing.Landed, str]] = field(default_factory=list)
    first_landed: dict[str, landing.Landed] = field(default_factory=dict)
    jobs: list[ParseJob] = field(default_factory=list)
    refused_early: list[tuple[landing.Landed, Path, str, str]] = field(default_factory=list)


def _queue_new_files(home: KongchuoHome, source: str, scan: landing.LandingScan, seen: dict[str, str],
                     scratch: Path, chunk_rows: int, townships: tuple[tuple[str, str], ...] = ()) -> _Queue:
    queue = _Queue()
    for landed in list(scan.ready):
        try:
            sha = landing.sha256_regular(landed.path)
            if sha not in seen and sha not in queue.first_landed:
                raw_path = home.raw / source / f"{sha}{landed.path.suffix.lower()[:16]}"
                if not raw_path.exists():
                    landing.copy_private(landed.path, raw_path, expected_sha=sha)
        except landing.NotRegularFile:
            scan.ready.remove(landed)
            scan.refused.append((landed.display, "不是普通文件，拒绝读取 (not a regular file, refused)"))
            continue
        except (landing.FileChanged, FileNotFoundError):
            scan.ready.remove(landed)
            scan.waiting.append(landed)
            continue
        queue.order.append((landed, sha))
        if sha in seen or sha in queue.first_landed:
            continue
        queue.first_landed[sha] = landed
        try:
            landing.check_archive(raw_path, landed.display)
        except IngestError as exc:
            queue.refused_early.append((landed, raw_path, sha, str(exc)))
            continue
        queue.jobs.append(ParseJob(source, raw_path, landed.display, sha, scratch / sha, chunk_rows, townships))
    return queue


def ingest_source(home: KongchuoHome, warehouse: WarehouseResource, source: str, run_id: str | None = None,
                  log: Any = None, chunk_rows: int = CHUNK_ROWS, workers: int | None = None,
                  parallel_min_bytes: int = PARALLEL_MIN_BYTES, as_of: dt.date | None = None,
                  fast_csv: bool | None = None) -> IngestOutcomes:
    """Ingest every new file of ``landing/<source>``; returns one outcome per ready landing file (landing order),
    with the landing scan (refused, ignored, waiting files) as ``.scan``.

    New files are parsed by ``workers`` processes (default ``home.ingest_workers``) when they are large
    together (:mod:`kongchuo.parsing`); this process loads them one by one, in landing order. ``as_of``: the
    period's last day: the current registry and census are each scope's newest snapshot dated up to it.
    ``fast_csv`` (default ``KONGCHUO_FAST_CSV``, on): CSV files DuckDB can read exactly as the pandas path does are
    loaded by DuckDB's own reader (:mod:`warehouse.csv_load`); False reads every file with the pandas path.
    """
    warehouse.ensure_layout()
    seen = known_shas(warehouse, source)
    remove_leftovers(home)
    scratch = home.root / SCRATCH_DIR / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    scan = landing.scan_landing(home.landing(source))
    townships = reference_townships(home, warehouse) if source == "census" else ()
    queue = _queue_new_files(home, source, scan, seen, scratch, chunk_rows, townships)
    _log_scan(log, source, scan)
    outcomes: dict[str, FileOutcome] = {}
    for landed, raw_path, sha, error in queue.refused_early:
        outcomes[sha] = quarantine_file(home, warehouse, source, landed.path, raw_path, sha, error, run_id,
                                        landed.display)
        if log:
            log.error(f"{source}: quarantined {error}")
    plans = _fast_plans(warehouse, source, queue.jobs, fast_csv)
    parsed_files = parse_all([j for j in queue.jobs if j.sha not in plans],
                             home.ingest_workers if workers is None else workers, parallel_min_bytes)
    try:
        for job in queue.jobs:
            outcome = _load_fast(warehouse, source, job, plans[job.sha], run_id, log) if job.sha in plans else None
            if outcome is None:  # the pandas path: parsed by the workers, or here after the fast path declined
                parsed = next(parsed_files) if job.sha not in plans else parse_file(job)
                outcome = _load_or_quarantine(home, warehouse, source, parsed, queue, run_id, log)
            outcomes[job.sha] = outcome
    finally:
        parsed_files.close()  # stops workers still parsing when a load failed
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):  # the parent too, unless another run is using it
            scratch.parent.rmdir()
    result = IngestOutcomes()
    for landed, sha in queue.order:
        first = outcomes.get(sha)
        if first is not None and queue.first_landed[sha] == landed:
            result.append(first)
        else:
            status = first.status if first is not None else seen[sha]
            result.append(FileOutcome(landed.display, sha, "skipped", error=f"already {status}"))
    result.scan = scan
    result.snapshot_messages = refresh_current(
        warehouse, [source], confirmations=landing.confirmation_texts(home.root / "landing" / CONFIRMATIONS),
        as_of=as_of)
    for message in result.snapshot_messages if log else []:
        log.warning(f"{source}: snapshot {message}")
    return result


def fast_csv_enabled() -> bool:
    """``KONGCHUO_FAST_CSV`` (default on): CSV extracts read by DuckDB's own reader where it reads them exactly."""
    return os.environ.get("KONGCHUO_FAST_CSV", "on").strip().lower() not in ("off", "0", "false", "no")


def _fast_plans(warehouse: WarehouseResource, source: str, jobs: list[ParseJob], fast_csv: bool | None
                ) -> dict[str, CsvPlan]:
    """The new files DuckDB reads itself (DuckDB warehouses only; see :mod:`kongchuo.fastcsv`)."""
    if not warehouse.is_duckdb or not (fast_csv_enabled() if fast_csv is None else fast_csv):
        return {}
    plans = {}
    for job in jobs:
        plan = plan_csv(job.raw_path, SPECS[source], job.name)
        if isinstance(plan, CsvPlan):
            plans[job.sha] = plan
    return plans


def _load_fast(warehouse: WarehouseResource, source: str, job: ParseJob, plan: CsvPlan, run_id: str | None,
               log: Any) -> FileOutcome | None:
    """Load one CSV with DuckDB's reader and its raw.files row in one transaction; None when the file is left to
    the pandas path (nothing of it written)."""
    try:
        path = utf8_copy(plan, job.raw_path, job.scratch)

        def files_row(conn: sa.Connection, loaded: Loaded) -> None:
            _insert_files_row(conn, _files_row(
                file_sha=job.sha, source=source, original_name=job.name, raw_path=str(job.raw_path),
                size_bytes=job.raw_path.stat().st_size, encoding=plan.opened.encoding, row_count=loaded.rows,
                status="ingested", min_date=loaded.min_date, max_date=loaded.max_date, run_id=run_id,
                header_map=json.dumps(plan.opened.header_map, ensure_ascii=False),
            ))

        loaded = load_csv(warehouse, plan, path, job.sha, files_row, job.chunk_rows)
    except Exception as exc:  # noqa: BLE001 - the pandas path reads it, and reports any problem in its words
        if is_infrastructure_error(exc):
            raise
        if log:
            log.info(f"{source}: {job.name}: read by the pandas path ({type(exc).__name__}: {str(exc)[:300]})")
        return None
    finally:
        shutil.rmtree(job.scratch, ignore_errors=True)
    if log:
        log.info(f"{source}: ingested {job.name} ({loaded.rows} rows, sha256 {job.sha[:12]})")
    return FileOutcome(job.name, job.sha, "ingested", loaded.rows, ignored_columns=plan.opened.ignored_columns,
                       skipped_rows=loaded.skipped_rows)


def reference_townships(home: KongchuoHome, warehouse: WarehouseResource) -> tuple[tuple[str, str], ...]:
    """(township_code, township_name) for census extracts that name the township only in the address:
    staged.townships when the reference asset has run, else reference/townships.csv (the bureau's or the
    bundled one). Passed to the parse job, which may run in a worker process."""
    df = warehouse.query_df("SELECT township_code, township_name FROM staged.townships")
    if not len(df):
        path = home.reference("townships.csv")
        if not path.exists():
            return ()
        df = read_reference(path, "townships")
    return tuple(zip(df["township_code"].astype(str), df["township_name"].astype(str)))


def _file_problem(source: str, parsed: ParsedFile) -> str | None:
    """DQ01 of a whole registry or census file: more than 5 % invalid IDs makes it a bad delivery
    (kongchuo/delivery.py)."""
    if source not in delivery.DQ01_SOURCES:
        return None
    frames = (t.select([c for c in delivery.COLUMNS if c in t.column_names]).to_pandas() for t in parsed.tables())
    return delivery.file_problem(source, parsed.job.name, frames, parsed.header_map)


def _load_or_quarantine(home: KongchuoHome, warehouse: WarehouseResource, source: str, parsed: ParsedFile,
                        queue: _Queue, run_id: str | None, log: Any) -> FileOutcome:
    job = parsed.job
    try:
        if parsed.error:
            if parsed.infrastructure:
                raise OSError(parsed.error)
            raise IngestError(parsed.error)
        problem = _file_problem(source, parsed)  # a bad delivery, like an unreadable one: quarantined
        if problem:
            raise IngestError(problem)
        outcome = load_parsed(warehouse, parsed, run_id)
        if log:
            log.info(f"{source}: ingested {job.name} ({outcome.rows} rows, sha256 {job.sha[:12]})")
    except Exception as exc:  # noqa: BLE001 - every file problem sends the file to quarantine
        if is_infrastructure_error(exc):
            raise
        error = safe_error(job.name, exc)
        landed = queue.first_landed[job.sha]
        outcome = quarantine_file(home, warehouse, source, landed.path, job.raw_path, job.sha, error, run_id,
                                  landed.display)
        if log:
            log.error(f"{source}: quarantined {error}")
    finally:
        parsed.discard()
    return outcome


# --- metadata ---------------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "(none)"
    clean = [[str(v).replace("|", "\\|").replace("\n", " ") for v in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in clean])


def ingest_metadata(warehouse: WarehouseResource, source: str, outcomes: list[FileOutcome]) -> dict[str, Any]:
    table = f"staged.{source}"
    ingested = [o for o in outcomes if o.status == "ingested"]
    skipped = [o for o in outcomes if o.status == "skipped"]
    quarantined = [o for o in outcomes if o.status == "quarantined"]
    if ingested:
        shas = ", ".join(f"'{o.sha}'" for o in ingested)  # hex digests only: safe to inline
        sample = warehouse.query_df(f"SELECT * FROM {table} WHERE file_sha IN ({shas}) ORDER BY row_no LIMIT 10")
    else:
        sample = warehouse.query_df(f"SELECT * FROM {table} LIMIT 10")
    ignored = {o.name: o.ignored_columns for o in ingested if o.ignored_columns}
    skipped_rows = {o.name: o.skipped_rows for o in ingested if o.skipped_rows}
    skipped_sheets = [[o.name, sheet, reason] for o in ingested for sheet, reason in o.skipped_sheets]
    return {
        "dagster/row_count": int(warehouse.scalar(f"SELECT count(*) FROM {table}")),
        "dagster/table_name": table,
        "dagster/column_schema": table_schema(table),
        "rows_ingested": sum(o.rows for o in ingested),
        "files_ingested": dg.MetadataValue.md(
            _md_table(["file", "sha256", "rows"], [[o.name, o.sha, o.rows] for o in ingested])),
        "files_skipped": dg.MetadataValue.md(
            _md_table(["file", "sha256", "reason"], [[o.name, o.sha, o.error] for o in skipped])),
        "quarantined_files": dg.MetadataValue.md(
            _md_table(["file", "sha256", "error"], [[o.name, o.sha, o.error] for o in quarantined])),
        "quarantined_count": len(quarantined),
        "ignored_columns": dg.MetadataValue.json(ignored),
        # per file: total/note/blank lines passed over, per kind ({"学籍.xls": {"合计": 2, "填表人": 1}})
        "skipped_rows": dg.MetadataValue.json(skipped_rows),
        "skipped_sheets": dg.MetadataValue.md(_md_table(["file", "sheet", "reason"], skipped_sheets)),
        "preview": dg.MetadataValue.md(masking.preview_markdown(sample)),
    }


def landing_metadata(scan: landing.LandingScan) -> dict[str, Any]:
    """Files of landing that were not read, and why (names sanitised and masked)."""
    return {
        "refused_files": dg.MetadataValue.md(_md_table(["file", "reason"], [list(r) for r in scan.refused])),
        "refused_count": len(scan.refused),
        "ignored_files": dg.MetadataValue.md(_md_table(["file", "reason"], [list(r) for r in scan.ignored])),
        "waiting_files": dg.MetadataValue.md(_md_table(["file", "reason"], [
            [f.display, "still being written: read by the next run"] for f in scan.waiting])),
    }


def source_data_version(warehouse: WarehouseResource, source: str, rows: int) -> dg.DataVersion:
    """The staged table's data version: SHA-256 of the set of ingested file hashes and the row count, so a new
    file makes every derived table and report downstream stale in Dagster, and a re-run that found nothing new
    does not."""
    shas = warehouse.query_df("SELECT DISTINCT file_sha FROM raw.files WHERE source = :s AND status = 'ingested' "
                              "ORDER BY file_sha", {"s": source})["file_sha"].tolist()
    return dg.DataVersion(hashlib.sha256(json.dumps([shas, int(rows)]).encode()).hexdigest())


# --- assets -----------------------------------------------------------------------------------------

def build_staged_asset(source: str) -> dg.AssetsDefinition:
    spec = SPECS[source]
    description = (
        f"{spec.label}：读取 landing/{source}/ 中的新文件（CSV 或 XLSX），原样保存到 raw/，"
        f"规范化后写入 staged.{source}；有问题的文件移入 quarantine/。\n\n"
        f"{_DESCRIPTIONS[source]}: every new file in landing/{source}/ (CSV, XLSX or XLS; sub-folders too) is kept unchanged in "
        f"raw/, normalised and loaded into staged.{source} in one transaction per file; a file with a "
        f"problem goes to quarantine/ with the error. Idempotent by file hash: any period ingests whatever "
        f"is new."
    )

    @dg.asset(
        pool=WAREHOUSE_POOL,
        key=dg.AssetKey(["staged", source]),
        group_name="ingest",
        partitions_def=monthly_partitions,
        kinds={"duckdb", "pandas"},
        owners=OWNERS,
        code_version=CODE_VERSION,
        description=description,
        tags={"source": source},
    )
    def _staged(context: dg.AssetExecutionContext, home: KongchuoHome,
                warehouse: WarehouseResource) -> dg.MaterializeResult:
        outcomes = ingest_source(home, warehouse, source, run_id=context.run_id, log=context.log,
                                 as_of=period_bounds(context.partition_key)[1])  # the registry of this period
        meta = ingest_metadata(warehouse, source, outcomes)
        meta.update(landing_metadata(outcomes.scan))
        # refused links and devices: findings the bureau sees, not only a log line (checks/landing_findings.py)
        meta["landing_findings"] = record_refused(warehouse, context.run_id, context.partition_key, source,
                                                  outcomes.scan)
        meta["snapshot_messages"] = dg.MetadataValue.md(
            _md_table(["message"], [[m] for m in outcomes.snapshot_messages]))
        version = source_data_version(warehouse, source, meta["dagster/row_count"])
        meta.update(period=context.partition_key, files_fingerprint=version.value)
        return dg.MaterializeResult(metadata=meta, data_version=version)

    return _staged


_TRUTHY_WORDS = {"农村": True, "乡村": True, "rural": True, "城市": False, "城镇": False, "城区": False,
                 "县镇": False, "urban": False}
REFERENCE_TABLES: dict[str, tuple[str, ...]] = {
    "townships": ("township_code", "township_name", "district_code"),
    "schools": ("school_code", "school_name", "township_code", "stage", "is_rural"),
}


def read_reference(path: Path, table: str) -> pd.DataFrame:
    """A reference CSV (UTF-8 or GBK) with the layout columns; text trimmed, ``is_rural`` as boolean."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=detect_encoding(path))
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    wanted = REFERENCE_TABLES[table]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise dg.Failure(f"{path.name}: row 1 (header): required column '{missing[0]}' missing")
    frame = frame[list(wanted)].apply(lambda s: s.str.strip())
    frame = frame[(frame != "").any(axis=1)]
    if "is_rural" in frame:
        words = frame["is_rural"].str.lower().map(_TRUTHY_WORDS)
        frame["is_rural"] = parse_flags(frame["is_rural"]).fillna(words.astype("boolean"))
    for col in wanted:
        empty = frame[col].isna() | (frame[col].astype(str) == "")
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0]) + 2
            raise dg.Failure(f"{path.name}: row {row}, column '{col}': value missing or not understood")
    return frame.reset_index(drop=True)


CALENDAR_FILE = "school_calendar.csv"


def read_calendar(path: Path) -> pd.DataFrame:
    """``school_calendar.csv``: one row per school day, ``date`` (ISO) and optional ``school_code`` (empty: every
    school without rows of its own). Loaded into ``staged.school_calendar``."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=detect_encoding(path))
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    if "date" not in frame.columns:
        raise dg.Failure(f"{path.name}: row 1 (header): required column 'date' missing")
    frame = frame.apply(lambda s: s.str.strip())
    frame = frame[(frame != "").any(axis=1)]
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().nonzero()[0][0]) + 2
        raise dg.Failure(f"{path.name}: row {row}, column 'date': not an ISO date (YYYY-MM-DD)")
    codes = frame["school_code"] if "school_code" in frame.columns else pd.Series("", index=frame.index)
    out = pd.DataFrame({"date": dates.dt.date.to_numpy(), "school_code": codes.replace("", None).to_numpy()})
    return out.drop_duplicates().reset_index(drop=True)


@dg.asset(
    pool=WAREHOUSE_POOL,
    key=dg.AssetKey(["staged", "reference"]),
    group_name="ingest",
    partitions_def=monthly_partitions,
    kinds={"duckdb", "pandas"},
    owners=OWNERS,
    code_version=CODE_VERSION,
)
def staged_reference(context: dg.AssetExecutionContext, home: KongchuoHome,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """参考数据：乡镇与学校名录（townships.csv、schools.csv），教育局自己的文件优先于项目自带的文件。

    Reference data: townships and schools. The bureau's own files under KONGCHUO_HOME/reference win over
    the bundled ones; every run replaces all rows of staged.townships and staged.schools. The school calendar
    (reference/school_calendar.csv → staged.school_calendar) is optional in rollcall mode and required when
    the attendance mode is absence_only (school days come from it).
    """
    warehouse.ensure_layout()
    frames, origins = {}, {}
    for table in REFERENCE_TABLES:
        path = home.reference(f"{table}.csv")
        if not path.exists():
            raise dg.Failure(f"reference file {table}.csv not found (neither under {home.root / 'reference'} "
                             f"nor bundled)")
        frames[table] = read_reference(path, table)
        origins[table] = str(path)
    calendar = home.reference(CALENDAR_FILE)
    if calendar.exists():
        frames["school_calendar"], origins["school_calendar"] = read_calendar(calendar), str(calendar)
    elif home.attendance_mode == "absence_only":
        raise dg.Failure(f"reference file {CALENDAR_FILE} not found under {home.root / 'reference'}: attendance mode "
                         f"absence_only takes the school days from it (columns date, optional school_code)")
    else:
        frames["school_calendar"] = pd.DataFrame({"date": [], "school_code": []})
    with warehouse.begin() as conn:
        for table, frame in frames.items():
            conn.execute(sa.text(f"DELETE FROM staged.{table}"))
            warehouse.insert_frame(conn, f"staged.{table}", frame)
    context.log.info(", ".join(f"{t}: {len(f)} rows from {origins.get(t, '(no file)')}" for t, f in frames.items()))
    shas = {t: file_sha256(Path(origins[t])) for t in origins}
    version = dg.DataVersion(hashlib.sha256(json.dumps(sorted(shas.items())).encode()).hexdigest())
    return dg.MaterializeResult(data_version=version, metadata={
        "period": context.partition_key,
        "townships_sha256": shas["townships"],
        "schools_sha256": shas["schools"],
        "dagster/row_count": sum(len(f) for f in frames.values()),
        "townships_rows": len(frames["townships"]),
        "schools_rows": len(frames["schools"]),
        "school_calendar_rows": len(frames["school_calendar"]),
        "school_calendar_file": origins.get("school_calendar", "(none)"),
        "attendance_mode": home.attendance_mode,
        "townships_file": dg.MetadataValue.path(origins["townships"]),
        "schools_file": dg.MetadataValue.path(origins["schools"]),
        "dagster/column_schema": table_schema("staged.schools"),
        "preview": dg.MetadataValue.md(masking.preview_markdown(frames["schools"])),
    })


staged_assets: dict[str, dg.AssetsDefinition] = {source: build_staged_asset(source) for source in SOURCES}
ingest_assets: list[dg.AssetsDefinition] = [*staged_assets.values(), staged_reference]

__all__ = ["ingest_assets", "staged_assets", "staged_reference", "ingest_source", "build_staged_asset",
           "FileOutcome", "file_sha256"]
