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
import sqlalchemy as sa

from assets.derived import STAGED
from assets.ledger import CASE_EVENTS, EVENT_LABELS, STATE_LABELS, state_as_of_sql
from assets.report_files import DRAFT_MARK, draft_notice, file_part, source_files_metadata, versioned
from assets.report_skeleton import (
    PERSON_SQL_FILES,
    Built,
    ReportRun,
    ReportSpec,
    Written,
    period_files,
    person_sql,
    register_report,
)
from kongchuo.districts import district_name, month_label
from kongchuo.one_form import CASE_COLUMNS, EVENT_COLUMNS, write_county
from kongchuo.reports_catalog import REPORT_NAMES
from kongchuo.workers import can_start_workers, main_script_hidden, spawn_executor
from warehouse import sql

R3 = dg.AssetKey(["reports", "r3_one_student_one_form"])
REPORT_ID = "R3"
TITLE = REPORT_NAMES[REPORT_ID]

SQL_FILES = ("reports/r3_open_cases", "reports/r3_cells", "reports/r3_cases", "reports/r3_history", *PERSON_SQL_FILES)  # policies: code_version
OPEN_CASES_SQL = sql.render("reports/r3_open_cases", cases=state_as_of_sql(before=False))
CELLS_PARTS = {"open_cases": OPEN_CASES_SQL}
CELLS_SQL = sql.render("reports/r3_cells", **CELLS_PARTS)

# Each open case with its county (a case whose township is unknown: the run's district).
CASES_SQL = sql.render("reports/r3_cases", open_cases=OPEN_CASES_SQL)

# The open cases (with their county) and the children's particulars are computed once per run into temporary
# tables of the asset's connection; each county's rows are then read from them. (Per county, the open-cases
# state query ran three times and the registry was scanned once: ~1.4 s a county, 21 s for a province.)
_CASES_TABLE, _PEOPLE_TABLE = "r3_open_cases", "r3_people"
_KEYS_SQL = f"SELECT person_key, id_number, student_no, school_code, township_code FROM {_CASES_TABLE}"
_PREPARE = (f"CREATE TEMPORARY TABLE {_CASES_TABLE} AS {CASES_SQL}",
            f"CREATE TEMPORARY TABLE {_PEOPLE_TABLE} AS {person_sql(_KEYS_SQL)}")
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
HISTORY_SQL = sql.render("reports/r3_history", event_select=_EVENT_SELECT, cases_table=_CASES_TABLE)

# Rendering and compressing a county's workbook is ~2 s of Python and zlib per 17,000 cases; with several
# counties it runs in worker processes while this process queries the next county. Below this many open
# cases in all, starting workers (~0.5 s each) is not worth it.
PARALLEL_MIN_CASES = 20_000


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



def build(run: ReportRun) -> Built:
    """One workbook per county of the open cases (the usual name for one county), written by
    :func:`kongchuo.one_form.write_county`, in worker processes for a province."""
    warehouse, period = run.warehouse, run.period
    home_district = run.district_code()
    label = month_label(period)
    folder = run.home.reports(period)
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
    written = [Written(path, sha, n, {"open_cases": n}) for (_, path), (sha, n) in zip(targets, results)]
    total = sum(w.rows for w in written)
    run.context.log.info(f"R3 {period}: {total} open cases in {len(written)} workbook(s)")
    # one workbook: its path and hash, as every single-file report; several: the folder
    where = ({"path": dg.MetadataValue.path(str(written[0].path)), "sha256": written[0].sha256}
             if len(written) == 1 else {"path": dg.MetadataValue.path(str(folder))})
    return Built(written, total, {**where, **sources, "open_cases": total})


SPEC = ReportSpec(
    REPORT_ID, R3,
    description="""R3 一生一表 One student, one form: one sheet per case open at the month's end with the child's
    particulars and the whole history of the case (every ledger event with reason, evidence and source file);
    one workbook per county.""",
    deps=[CASE_EVENTS, STAGED["registry"], STAGED["census"], STAGED["reference"]],
    build=build, cells="r3_cells", cells_parts=CELLS_PARTS, params=lambda run: {"period": run.period},
    kinds=frozenset({"excel"}), code_version="2", listing="files", sources=False,
    # Counties with no open case this time: an older R3 workbook of the period must not linger.
    stale_files=lambda run: [p for p in period_files(run, f"*_{month_label(run.period)}_{TITLE}*.xlsx")
                             if p.stem.endswith((TITLE, f"{TITLE}_{DRAFT_MARK}"))])
r3_one_student_one_form = register_report(SPEC, __name__)
