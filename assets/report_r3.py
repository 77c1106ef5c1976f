"""R3 一生一表: one sheet per case open at the end of the month, with the child's whole ledger history.

The workbook goes to the people who work the case (school, township, bureau): it carries the full ID
number and name, which never appear in logs or metadata. The first sheet is an index of the cases.

One workbook per county (the district_code of the case's township in staged.townships; a case without a
known township belongs to the run's district). A single-county run writes one workbook under the usual
name (``建安区_2026年10月_一生一表.xlsx``); a prefecture or province run writes one per county, each named
for its county, in the same folder, all listed in the manifest.

At province scale (253,192 open cases in 15 counties) the work is: the open cases and the children's
particulars, computed once into temporary tables (~3 s); per county, its rows fetched column-wise as Arrow
(~0.1 s); and per county, ~2 s of Python and zlib to build the sheets, render their XML and deflate them
(:mod:`kongchuo.one_form`, :mod:`kongchuo.excel`). With several counties the last part runs in up to two
worker processes (``spawn``; only this process touches the warehouse) while this process queries the next
county; memory holds a few counties' Arrow tables and, in each worker, one county's rows and one sheet.
"""

import contextlib
import os
import warnings
from collections import deque
from concurrent.futures import Future
from typing import Iterable, Iterator

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets.common import OWNERS
from assets.derived import STAGED
from assets.ledger import CASE_EVENTS, EVENT_LABELS, STATE_LABELS, state_as_of_sql
from assets.report_files import (
    DRAFT_MARK,
    current_district,
    draft_notice,
    file_part,
    replace_cells,
    report_metadata,
    source_files_metadata,
    versioned,
)
from kongchuo.districts import district_name, month_label
from kongchuo.one_form import CASE_COLUMNS, EVENT_COLUMNS, write_county
from kongchuo.reports_catalog import REPORT_NAMES
from kongchuo.workers import can_start_workers, main_script_hidden, spawn_executor
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.views import REGISTRY_PERSON_KEY_R

R3 = dg.AssetKey(["reports", "r3_one_student_one_form"])
REPORT_ID = "R3"
TITLE = REPORT_NAMES[REPORT_ID]

OPEN_CASES_SQL = f"""
    SELECT * FROM ({state_as_of_sql(before=False)}) s WHERE s.state <> 'closed'
"""

# Who the child is, for the people working the case: their registry record (active first), census fallback.
# The registry is cut down to the cases' persons BEFORE the window: over a province's whole registry (15M
# rows) the window took ~9 s per county workbook; over the cases' records it takes a fraction of a second.
PERSON_SQL = f"""
    WITH k AS ({{keys}}),
    reg AS (
        SELECT {REGISTRY_PERSON_KEY_R} AS person_key, r.id_number, r.student_no, r.name, r.gender,
               r.birth_date, r.school_code, coalesce(r.school_name, s.school_name) AS school_name, r.grade,
               r.class_name, r.status, coalesce(s.township_code, r.township_code) AS township_code,
               r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
               r.is_disabled, r.is_in_difficulty,
               row_number() OVER (PARTITION BY {REGISTRY_PERSON_KEY_R}
                                  ORDER BY CASE WHEN r.status = 'active' THEN 0 ELSE 1 END, r.school_code) AS rn
        FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
        WHERE {REGISTRY_PERSON_KEY_R} IN (SELECT person_key FROM k)
    )
    SELECT k.person_key, coalesce(r.id_number, c.id_number, k.id_number) AS id_number,
           coalesce(r.student_no, k.student_no) AS student_no, coalesce(r.name, c.name) AS name,
           coalesce(r.gender, c.gender) AS gender, coalesce(r.birth_date, c.birth_date) AS birth_date,
           coalesce(r.school_code, k.school_code) AS school_code, r.school_name, r.grade, r.class_name, r.status,
           coalesce(r.township_code, k.township_code, c.township_code) AS township_code, t.township_name,
           c.village, r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
           coalesce(r.is_disabled, c.is_disabled) AS is_disabled, r.is_in_difficulty
    FROM k
    LEFT JOIN reg r ON r.person_key = k.person_key AND r.rn = 1
    LEFT JOIN staged.census_current c ON c.id_number = k.person_key
    LEFT JOIN staged.townships t ON t.township_code = coalesce(r.township_code, k.township_code, c.township_code)
"""

# Each open case with its county; a case whose township is unknown belongs to the run's district (:fallback).
CASES_SQL = f"""
    SELECT o.*, coalesce(t.district_code, :fallback) AS county
    FROM ({OPEN_CASES_SQL}) o LEFT JOIN staged.townships t ON t.township_code = o.township_code
"""

# The open cases (with their county) and the children's particulars are computed once per run into temporary
# tables of the asset's connection; each county's rows are then read from them. (Per county, the open-cases
# state query ran three times and the registry was scanned once: ~1.4 s a county, 21 s for a province.)
_CASES_TABLE, _PEOPLE_TABLE = "r3_open_cases", "r3_people"
_KEYS_SQL = f"SELECT person_key, id_number, student_no, school_code, township_code FROM {_CASES_TABLE}"
_PREPARE = (f"CREATE TEMPORARY TABLE {_CASES_TABLE} AS {CASES_SQL}",
            f"CREATE TEMPORARY TABLE {_PEOPLE_TABLE} AS {PERSON_SQL.format(keys=_KEYS_SQL)}")
_CASE_SELECT = {"person_key": "c.person_key", "state": "c.state", "attempt_count": "c.attempt_count"}
# A county's cases in sheet order, each with the child's particulars (kongchuo.one_form.CASE_COLUMNS).
COUNTY_CASES_SQL = (
    "SELECT " + ", ".join(f"{_CASE_SELECT.get(col, 'p.' + col)} AS {col}" for col in CASE_COLUMNS)
    + f" FROM {_CASES_TABLE} c JOIN {_PEOPLE_TABLE} p ON p.person_key = c.person_key"
    " WHERE c.county = :county ORDER BY c.township_code, c.school_code, c.person_key")

# Each event with the name of the file that caused it (raw.files knows the landing names by hash) and, for a
# persuasion record, its row in that file (the casework row of the same child, date and file).
_SOURCE_FILE = "f.name || coalesce(' 第' || CAST(c.row_no AS TEXT) || '行', '') AS source_file"
_EVENT_SELECT = ", ".join(_SOURCE_FILE if col == "source_file" else "e." + col for col in EVENT_COLUMNS)
HISTORY_SQL = f"""
    SELECT {_EVENT_SELECT} FROM ledger.case_events e
    LEFT JOIN (SELECT file_sha, min(original_name) AS name FROM raw.files GROUP BY file_sha) f
           ON f.file_sha = e.source_file_sha
    LEFT JOIN (SELECT id_number, attempt_date, file_sha, min(row_no) AS row_no FROM staged.casework
               WHERE id_number IN (SELECT person_key FROM {_CASES_TABLE} WHERE county = :county)
               GROUP BY id_number, attempt_date, file_sha) c
           ON e.source = 'casework' AND c.id_number = e.person_key AND c.attempt_date = e.event_date
              AND c.file_sha = e.source_file_sha
    WHERE e.created_for_period <= :period
      AND e.person_key IN (SELECT person_key FROM {_CASES_TABLE} WHERE county = :county)
    ORDER BY e.person_key, e.created_for_period, e.event_seq
"""

# Rendering and compressing a county's workbook is ~2 s of Python and zlib per 17,000 cases; with several
# counties it runs in worker processes while this process queries the next county. Below this many open
# cases in all, starting workers (~0.5 s each) is not worth it.
PARALLEL_MIN_CASES = 20_000


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _columns(conn: sa.Connection, is_duckdb: bool, sql: str, params: dict):
    """A query's result column by column: an Arrow table on DuckDB (fetched in bulk, pickled to a worker at
    almost no cost), else a dict of column lists."""
    result = conn.execute(sa.text(sql), params)
    if is_duckdb:
        with warnings.catch_warnings():  # "Arrow output on a DB-API result makes an extra copy": it is small
            warnings.simplefilter("ignore", UserWarning)
            return result.cursor.to_arrow_table()
    keys, rows = list(result.keys()), result.fetchall()
    return {k: [r[i] for r in rows] for i, k in enumerate(keys)}


def _workers(open_cases: int, workbooks: int) -> int:
    """Worker processes for the workbooks: none for one workbook or a few cases, else up to two."""
    if workbooks < 2 or open_cases < PARALLEL_MIN_CASES or not can_start_workers():
        return 0  # (a daemonic process may not start processes)
    return max(0, min(2, os.cpu_count() or 1, workbooks))


def _write_counties(jobs: Iterable[tuple], workers: int) -> list[tuple[str, int]]:
    """Run :func:`kongchuo.one_form.write_county` on each job (its arguments); the results in the jobs' order.

    With workers, a job is fetched (the ``jobs`` iterator queries the warehouse) while earlier ones are
    written; at most ``workers + 1`` jobs wait or run at a time, so memory holds a few counties' rows."""
    if workers < 1:
        return [write_county(*job) for job in jobs]
    results: list[tuple[str, int]] = []
    pending: deque[Future] = deque()
    with spawn_executor(workers) as pool:
        try:
            for job in jobs:
                with main_script_hidden():  # workers are started in submit()
                    pending.append(pool.submit(write_county, *job))
                while len(pending) > workers:
                    results.append(pending.popleft().result())
            while pending:
                results.append(pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()
    return results



@dg.asset(pool=WAREHOUSE_POOL, key=R3, deps=[CASE_EVENTS, STAGED["registry"], STAGED["census"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel"},
          code_version="2")
def r3_one_student_one_form(context: dg.AssetExecutionContext, home: KongchuoHome,
                            warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R3 一生一表 One student, one form: one sheet per case open at the month's end with the child's
    particulars and the whole history of the case (every ledger event with reason, evidence and source file);
    one workbook per county."""
    period = period_of(context)
    replace_cells(warehouse, period, REPORT_ID, f"""
        SELECT :period, :report, coalesce(school_code, 'unknown'), 'open_cases', person_key
        FROM ({OPEN_CASES_SQL}) o""", {"period": period})
    home_district = current_district(warehouse)
    label = month_label(period)
    folder = home.reports(period)
    labels = (dict(STATE_LABELS), dict(EVENT_LABELS))
    notice = draft_notice(warehouse, period)  # 草稿 while a delivery of the period is in quarantine
    sources: dict = {}
    # One connection for the queries: the temporary tables live in it (and vanish with its rollback). Nothing
    # may open another warehouse connection while it is held (one pooled DuckDB connection per thread).
    with contextlib.ExitStack() as held:
        conn = held.enter_context(warehouse.engine.connect())
        conn.execute(sa.text(_PREPARE[0]), {"period": period, "fallback": home_district})
        conn.execute(sa.text(_PREPARE[1]))
        counties = [str(c) for c, in conn.execute(
            sa.text(f"SELECT DISTINCT county FROM {_CASES_TABLE} ORDER BY county"))]
        total_cases = int(conn.execute(sa.text(f"SELECT count(*) FROM {_CASES_TABLE}")).scalar())
        if set(counties) <= {home_district}:  # one county (or no open case): one workbook, the usual name
            targets = [(home_district, folder / f"{district_name(home_district)}_{label}_{TITLE}.xlsx")]
        else:
            targets = [(c, folder / f"{file_part(district_name(c))}_{label}_{TITLE}.xlsx") for c in counties]
        targets = [(c, versioned(p, notice is not None)) for c, p in targets]

        def jobs() -> Iterator[tuple]:
            for county, path in targets:
                params = {"period": period, "county": county}
                yield (str(path), district_name(county), period, *labels,
                       _columns(conn, warehouse.is_duckdb, COUNTY_CASES_SQL, params),
                       _columns(conn, warehouse.is_duckdb, HISTORY_SQL, params), notice)
            # Every county fetched: release the connection, and read the source-file metadata while the
            # workers finish the last workbooks.
            held.close()
            sources.update(source_files_metadata(warehouse, period))

        results = _write_counties(jobs(), _workers(total_cases, len(targets)))
    written = [(path, sha, n) for (_, path), (sha, n) in zip(targets, results)]
    # Counties with no open case this time: an older R3 workbook of the period must not linger.
    keep = {p.name for p, _, _ in written}
    for old in folder.glob(f"*_{label}_{TITLE}*.xlsx") if folder.exists() else []:
        if old.name not in keep and old.stem.endswith((TITLE, f"{TITLE}_{DRAFT_MARK}")):
            old.unlink()
    total = sum(n for _, _, n in written)
    context.log.info(f"R3 {period}: {total} open cases in {len(written)} workbook(s)")
    path, sha, _ = written[0]
    meta = {**report_metadata(path, sha, total), **sources} if len(written) == 1 else {
        "path": dg.MetadataValue.path(str(folder)), "dagster/row_count": total, **sources}
    meta["open_cases"] = total
    meta["workbooks"] = len(written)
    meta["files"] = dg.MetadataValue.json([{"path": str(p), "sha256": h, "open_cases": n} for p, h, n in written])
    return dg.MaterializeResult(metadata=meta)
