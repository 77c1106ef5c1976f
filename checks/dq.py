"""DQ01–DQ10 as Dagster asset checks (DESIGN.md, Checks): person/record consistency (人籍一致) and data quality.

Each check queries the warehouse through :class:`WarehouseResource`, writes its offending records to
``checks.findings`` (delete-then-insert per run and check), and returns an ``AssetCheckResult`` whose
metadata holds counts and at most 10 masked rows. Severity ``error`` checks about the whole extract (DQ10) are
``blocking``: when they fail with ``AssetCheckSeverity.ERROR`` Dagster does not materialize the assets downstream in
the same run. DQ01 and DQ08 are errors *for a file* ("One bad file never stops the rest of the district's work",
DESIGN): such a registry or census file is quarantined (:mod:`kongchuo.delivery`: DQ01 at ingest, DQ08 by the
registry's check step below, before anything downstream reads the registry), the previous snapshot of its scope
stays in force and the period's reports are drafts; the check lists the file as its ERROR in every run of the
period until a corrected file lands, without blocking anything.
"""



from typing import Any, Callable, Iterator

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from checks import gx_suites, rules
from kongchuo import delivery, idnumber
from kongchuo.check_names import (
    CHECK_IDS,
    DQ01_VALID_ID_NUMBER,
    DQ02_ID_MATCHES_BIRTH_GENDER,
    DQ03_REQUIRED_VALUES,
    DQ04_DUPLICATE_REGISTRY,
    DQ05_REGISTERED_ABSENT,
    DQ06_PRESENT_UNREGISTERED,
    DQ07_AGE_FITS_GRADE,
    DQ08_KNOWN_CODES,
    DQ09_ROW_COUNT_CHANGE,
    DQ10_EXTRACT_COVERS_PERIOD,
)
from kongchuo.labels import ID_PROBLEM_LABELS, period_label
from warehouse import findings as fnd
from warehouse import quarantines
from warehouse.home import KongchuoHome
from warehouse.partitions import period_bounds, period_of, school_year_reference_date
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource

STAGED = {s: dg.AssetKey(["staged", s]) for s in ("registry", "attendance", "census")}
ROSTER = dg.AssetKey(["derived", "roster"])

DQ01_ERROR_RATE = delivery.DQ01_ERROR_RATE
CHUNK_ROWS = 100_000

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def _params(context: dg.AssetCheckExecutionContext) -> dict[str, Any]:
    period = period_of(context)
    if not period:
        raise dg.Failure("检查需要分区运行 checks need a partitioned run (dagster/partition tag)")
    start, end = period_bounds(period)
    ref = school_year_reference_date(start)
    return {"period": period, "start": start, "end": end, "run_id": context.run.run_id,
            "ref_year": ref.year, "ref_md": ref.month * 100 + ref.day}


def _query(warehouse: WarehouseResource, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    return warehouse.query_df(sql, params)


def _result(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, p: dict[str, Any], *,
            asset: dg.AssetKey, name: str, source: str, findings: pd.DataFrame, error: bool,
            extra: dict[str, Any] | None = None, row_count: int | None = None,
            gx: gx_suites.GxOutcome | None = None, passed: bool | None = None) -> dg.AssetCheckResult:
    check_id = CHECK_IDS[name]
    if "severity" not in findings.columns:
        findings = findings.assign(severity="error" if error else "warn")
    ok = (findings.empty and (gx is None or gx.success)) if passed is None else passed
    fnd.write_findings(warehouse, run_id=p["run_id"], period=p["period"], check_id=check_id, source=source,
                       findings=findings, passed=ok, row_count=row_count)
    meta = fnd.result_metadata(findings, extra)
    meta.update({"check_id": check_id, "period": p["period"], "source": source})
    if row_count is not None:
        meta["row_count"] = int(row_count)
    if gx is not None:
        meta["gx_success"] = gx.success
        meta["gx_rows_validated"] = gx.rows
        meta["gx_sampled"] = gx.sampled
        meta["gx_expectations"] = dg.MetadataValue.md(gx.markdown())
    severity = ERROR if error else WARN
    if not ok:
        context.log.warning(f"{name} [{check_id}] {source} {p['period']}: {len(findings)} finding(s), "
                            f"severity {severity.value}")
    return dg.AssetCheckResult(asset_key=asset, check_name=name, passed=ok, severity=severity, metadata=meta)


def _check(asset: dg.AssetKey, name: str, zh: str, en: str, blocking: bool) -> Callable:
    return dg.asset_check(asset=asset, name=name, blocking=blocking, description=f"{zh}\n\n{en}", pool=WAREHOUSE_POOL,
                          metadata={"check_id": CHECK_IDS[name]})


def _member(asset: dg.AssetKey, name: str, zh: str, en: str, blocking: bool) -> Callable:
    """Like :func:`_check`, but the function is not a step of its own: it joins a multi-asset check (one step
    for several checks that take milliseconds each), keeping its own spec (name, asset, blocking, description)."""
    def wrap(fn: Callable) -> Callable:
        fn.spec = dg.AssetCheckSpec(name, asset=asset, blocking=blocking, description=f"{zh}\n\n{en}",
                                    metadata={"check_id": CHECK_IDS[name]})
        return fn
    return wrap


def _iter_chunks(warehouse: WarehouseResource, sql: str, params: dict[str, Any]):
    """The rows of ``sql`` as frames of about :data:`CHUNK_ROWS` rows (bounded memory). On DuckDB the chunks
    come out column-wise (``fetch_df_chunk``): far faster than building frames from fetched row tuples, the
    cost that dominated DQ01 and DQ02 on a large registry."""
    if warehouse.is_duckdb:
        with warehouse.engine.connect() as conn:
            cursor = conn.execute(sa.text(sql), params).cursor
            while True:
                frame = cursor.fetch_df_chunk(max(1, CHUNK_ROWS // 2048))  # vectors of 2,048 rows
                if frame.empty:
                    break
                yield frame
        return
    with warehouse.engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(sa.text(sql), params)
        cols = list(result.keys())
        while True:
            rows = result.fetchmany(CHUNK_ROWS)
            if not rows:
                break
            yield pd.DataFrame(rows, columns=cols)


# --- DQ01 / DQ02: ID numbers (Python, kongchuo.idnumber, chunked) -----------------------------------------

FINDING_COLUMNS = ["record_key", "school_code", "file_sha", "row_no", "detail"]


def registry_problem_text(why: pd.Series) -> pd.Series:
    """The registry's DQ01 detail: the problem in Chinese (R5's fix list shows it to schools)."""
    return "身份证件号无效（GB 11643-1999）：" + why.astype(str).map(ID_PROBLEM_LABELS).fillna("无效")


def id_problems(warehouse: WarehouseResource, sql: str, p: dict[str, Any], *, person: bool,
                problem_text: Callable[[pd.Series], pd.Series] = registry_problem_text
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(DQ01 findings, DQ02 findings, per-file rows/bad) over the rows of ``sql`` (record_key, school_code,
    file_sha, row_no, id_number, birth_date, gender), chunk by chunk, in one pass: DQ02 (``person``) reads the same
    IDs as DQ01. The one implementation for every source (checks/id_checks.py covers the others)."""
    bad1, bad2, totals = [], [], []
    for chunk in _iter_chunks(warehouse, sql, p):
        why = idnumber.problem_series(chunk["id_number"])
        invalid = why.notna().to_numpy()
        totals.append(chunk.assign(bad=invalid).groupby("file_sha", as_index=False).agg(
            rows=("bad", "size"), bad=("bad", "sum")))
        b1 = chunk.loc[invalid, FINDING_COLUMNS[:4]].copy()
        b1["detail"] = problem_text(why[invalid]).to_numpy()
        bad1.append(b1)
        if person:
            bad2.append(_birth_gender_problems(chunk.loc[~invalid]))
    f1 = pd.concat(bad1, ignore_index=True) if bad1 else pd.DataFrame(columns=FINDING_COLUMNS)
    f2 = pd.concat(bad2, ignore_index=True) if bad2 else pd.DataFrame(columns=FINDING_COLUMNS)
    per_file = (pd.concat(totals).groupby("file_sha", as_index=False).sum() if totals
                else pd.DataFrame(columns=["file_sha", "rows", "bad"]))
    return f1, f2, per_file


def _birth_gender_problems(valid: pd.DataFrame) -> pd.DataFrame:
    if valid.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    birth_bad, gender_bad = idnumber.birth_gender_mismatch(valid["id_number"], valid["birth_date"], valid["gender"])
    sel = birth_bad | gender_bad
    out = valid.loc[sel, FINDING_COLUMNS[:4]].copy()
    out["detail"] = [idnumber.mismatch_text(b, g) for b, g in zip(birth_bad[sel], gender_bad[sel])]
    return out


def _id_findings(warehouse: WarehouseResource, p: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(DQ01 findings, DQ02 findings, per-file totals) over the current registry, in one pass over its IDs."""
    return id_problems(warehouse, rules.ID_ROWS_SQL, p, person=True)


def dq01_severity(found: pd.DataFrame, per_file: pd.DataFrame) -> tuple[pd.DataFrame, set[str], int]:
    """DQ01's rule: a file with more than :data:`DQ01_ERROR_RATE` invalid IDs is an error, its findings 'error',
    the rest 'warn'. Returns (findings with severity, the error files, the number of IDs checked)."""
    per_file = per_file.assign(rate=per_file["bad"] / per_file["rows"].clip(lower=1))
    error_files = set(per_file.loc[per_file["rate"] > DQ01_ERROR_RATE, "file_sha"])
    found["severity"] = found["file_sha"].map(lambda f: "error" if f in error_files else "warn")
    return found, error_files, int(per_file["rows"].sum()) if len(per_file) else 0


def quarantined_files(warehouse: WarehouseResource, p: dict[str, Any], source: str, check_id: str) -> pd.DataFrame:
    """Findings (severity error, one per file) for the open quarantines of ``source`` that ``check_id`` put there
    (:mod:`kongchuo.delivery`: DQ01 at ingest, DQ08 in the registry's check step): the check shows them in every
    run of the period until a file with the same delivery name replaces them."""
    q = quarantines.open_quarantines(warehouse, p["period"], source)
    q = q.loc[q["error"].map(lambda e: check_id in delivery.check_ids_in(e)).astype(bool)]
    return pd.DataFrame({"record_key": None, "school_code": None, "file_sha": q["file_sha"].astype(object),
                         "row_no": None, "detail": q["error"].astype(object), "severity": "error"},
                        columns=[*FINDING_COLUMNS, "severity"])


_DQ01_DESCRIPTION = (
    "DQ01 身份证件号有效：符合 GB 11643-1999 校验码，含真实出生日期。某文件无效率超过 5% 为该文件的错误：入库时隔离该文件，"
    "该范围原有数据继续有效，本期报表为草稿，直至更正文件报送（不阻断全区其他工作）；否则为警告并列出。\n\n"
    "DQ01 id_number is a valid 18-character resident ID (GB 11643-1999 check digit, a real date of birth). "
    "Error for a file when more than 5% fail: the file is quarantined at ingest, its scope's previous data stays, "
    "the period's reports are drafts until a corrected file lands (nothing else is blocked); else a warning with "
    "the list.")
_DQ02_DESCRIPTION = (
    "DQ02 出生日期、性别与身份证件号一致（第7–14位为出生日期，第17位奇数为男）。警告。\n\n"
    "DQ02 birth_date and gender agree with the ID number (digits 7–14; 17th digit odd = male). Warning.")


_ID_SPECS = [dg.AssetCheckSpec(DQ01_VALID_ID_NUMBER, asset=STAGED["registry"], blocking=False,
                               description=_DQ01_DESCRIPTION, metadata={"check_id": CHECK_IDS[DQ01_VALID_ID_NUMBER]}),
             dg.AssetCheckSpec(DQ02_ID_MATCHES_BIRTH_GENDER, asset=STAGED["registry"], blocking=False,
                               description=_DQ02_DESCRIPTION,
                               metadata={"check_id": CHECK_IDS[DQ02_ID_MATCHES_BIRTH_GENDER]})]


# DQ01 and DQ02 read the same ID numbers: computed together (one pass over the registry) inside the registry's
# check step (:func:`registry_checks`), so nothing is kept in process memory between steps and every executor
# gives the same findings.
def dq01_dq02_registry_id_numbers(context: dg.AssetCheckExecutionContext,
                                  warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    found1, found2, per_file = _id_findings(warehouse, p)
    yield _dq01_result(context, warehouse, p, found1, per_file)
    yield _result(context, warehouse, p, asset=STAGED["registry"], name=DQ02_ID_MATCHES_BIRTH_GENDER,
                  source="registry", findings=found2, error=False)


def _dq01_result(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, p: dict[str, Any],
                 found: pd.DataFrame, per_file: pd.DataFrame) -> dg.AssetCheckResult:
    found, error_files, total = dq01_severity(found, per_file)
    held = quarantined_files(warehouse, p, "registry", "DQ01")
    found = pd.concat([found, held], ignore_index=True) if len(held) else found
    gx = gx_suites.validate_sql_frame(
        "dq01", warehouse, rules.REGISTRY_IDS_SQL, p,
        gx_suites.dq01_expectations(DQ01_ERROR_RATE))
    extra = {"ids_checked": total, "invalid_rate": round((len(found) - len(held)) / total, 4) if total else 0.0,
             "files_over_5_percent": len(error_files) + len(held), "files_quarantined": len(held)}
    return _result(context, warehouse, p, asset=STAGED["registry"], name=DQ01_VALID_ID_NUMBER, source="registry",
                   findings=found, error=bool(error_files) or len(held) > 0, extra=extra, gx=gx, passed=found.empty)


# --- DQ03: required values (SQL findings + GX suite), per source ------------------------------------------

def _dq03(source: str):
    @_check(STAGED[source], DQ03_REQUIRED_VALUES,
            f"DQ03 {source}: 必填列存在且非空；代码在取值范围内；日期可解析。逐条列出文件、工作表、行、列（警告，不阻断："
            f"该值记为空，缺少人员标识的行不进入现行表）。缺少必填列或无法读取的文件被隔离，报表成为草稿。",
            f"DQ03 {source}: required columns present and non-null, codes in their value sets, dates parse; "
            "each bad value named by file, sheet, row and column as a warning (row-level: the value is NULL, a row "
            "left without a person key is not in the current tables; one bad row never stops the district). A file "
            "missing required columns or unreadable is quarantined instead and the period's reports become drafts.",
            blocking=True)  # WARN never blocks; blocking=True keeps the check before the derived tables
    def _fn(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        fnd.ensure_tables(warehouse)
        p = {**_params(context), "source": source}
        found = _query(warehouse, rules.dq03_sql(source), p)
        quarantined = _query(warehouse, rules.QUARANTINED_SQL, p)
        gx = gx_suites.validate_sql_frame(f"dq03_{source}", warehouse, rules.scope_sql(source), p,
                                          gx_suites.dq03_expectations(source))
        by_column = found.groupby("col").size().to_dict() if len(found) else {}
        # A quarantined file makes the period's reports drafts (assets/completeness.py), it does not block them;
        # row-level problems are warnings: "One bad file never stops the rest of the district's work" (DESIGN).
        all_found = found.drop(columns=["col"])
        extra = {"bad_values_by_column": dg.MetadataValue.json({str(k): int(v) for k, v in by_column.items()}),
                 "quarantined_files_this_run": int(len(quarantined))}
        return _result(context, warehouse, p, asset=STAGED[source], name=DQ03_REQUIRED_VALUES, source=source,
                       findings=all_found, error=False, extra=extra, gx=gx)

    _fn.__name__ = f"dq03_required_values_{source}"
    return _fn


# --- DQ04 / DQ07 / DQ08: registry rules in SQL ---------------------------------------------------------------

@_member(STAGED["registry"], DQ04_DUPLICATE_REGISTRY,
        "DQ04 一人至多一条在读学籍（重复学籍）。警告，列出。",
        "DQ04 one person, at most one active registry record (duplicate registry). Warning, listed.",
        blocking=True)  # WARN never blocks; blocking=True makes the R5 fix list wait for it
def dq04_duplicate_registry(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                            home: KongchuoHome | None = None) -> dg.AssetCheckResult:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    return _result(context, warehouse, p, asset=STAGED["registry"], name=DQ04_DUPLICATE_REGISTRY, source="registry",
                   findings=_query(warehouse, rules.DQ04_SQL, p), error=False)


@_member(STAGED["registry"], DQ07_AGE_FITS_GRADE,
        "DQ07 年龄与年级相符（8月31日周岁减年级应在 5..8 之间）。警告。",
        "DQ07 age fits grade (age on 31 August minus grade within 5..8). Warning.",
        blocking=True)  # WARN never blocks; blocking=True makes the R5 fix list wait for it
def dq07_age_fits_grade(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                        home: KongchuoHome | None = None) -> dg.AssetCheckResult:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    return _result(context, warehouse, p, asset=STAGED["registry"], name=DQ07_AGE_FITS_GRADE, source="registry",
                   findings=_query(warehouse, rules.DQ07_SQL, p), error=False)


@_member(STAGED["registry"], DQ08_KNOWN_CODES,
        "DQ08 学校标识码、乡镇代码存在于参考数据中。错误：含未知代码的学籍文件整体隔离（列出代码、文件、行、列），"
        "该范围原有数据继续有效，本期报表为草稿，直至更正文件报送；不阻断全区其他工作。",
        "DQ08 school and township codes exist in the reference data. Error: a registry file with unknown codes is "
        "quarantined whole before the derived tables read it (codes named with file, row and column), its scope's "
        "previous data stays, the period's reports are drafts until a corrected file lands; nothing else is "
        "blocked.", blocking=False)
def dq08_known_codes(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                     home: KongchuoHome) -> dg.AssetCheckResult:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    found = _query(warehouse, rules.DQ08_SQL, p)
    # each file with unknown codes is quarantined whole before anything downstream reads the registry (this step
    # holds blocking checks); rows still listed after that are there without reference data to judge them
    if len(found) and quarantines.judge_loaded_files(warehouse, home.quarantine, found["file_sha"].dropna().tolist(),
                                                     p["run_id"], p["end"]):
        found = _query(warehouse, rules.DQ08_SQL, p)
    held = quarantined_files(warehouse, p, "registry", "DQ08")
    found = pd.concat([found.assign(severity="error"), held], ignore_index=True) if len(held) else found
    return _result(context, warehouse, p, asset=STAGED["registry"], name=DQ08_KNOWN_CODES, source="registry",
                   findings=found, error=True, extra={"files_quarantined": len(held)})


# --- DQ09: row count change, per source (GX on the one-row count frame) -------------------------------------

def _dq09_spec(source: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DQ09_ROW_COUNT_CHANGE, asset=STAGED[source], blocking=False, metadata={"check_id": CHECK_IDS[DQ09_ROW_COUNT_CHANGE]},
        description=f"DQ09 {source}: 行数较上一期变化超过 10%。警告。\n\n"
                    f"DQ09 {source}: row count moved more than 10% from the previous period. Warning.")


def _dq09(source: str):
    def _fn(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
            p: dict[str, Any]) -> dg.AssetCheckResult:
        count = int(warehouse.scalar(rules.row_count_sql(source), p) or 0)
        previous = fnd.previous_row_count(warehouse, "DQ09", source, p["period"])
        found = pd.DataFrame(columns=["record_key", "school_code", "file_sha", "row_no", "detail"])
        gx = None
        if previous is not None:
            gx = gx_suites.run_suite(f"dq09_{source}", pd.DataFrame({"row_count": [count]}),
                                     gx_suites.dq09_expectations(previous, rules.ROW_COUNT_CHANGE))
            change = (count - previous) / previous if previous else (0.0 if count == 0 else 1.0)
            if abs(change) > rules.ROW_COUNT_CHANGE:
                found = pd.DataFrame([{"detail": f"记录数由上期 {previous} 条变为 {count} 条（{change:+.1%}）"}])
        extra = {"previous_row_count": -1 if previous is None else previous}
        return _result(context, warehouse, p, asset=STAGED[source], name=DQ09_ROW_COUNT_CHANGE, source=source,
                       findings=found, error=False, extra=extra, row_count=count, gx=gx, passed=found.empty)

    return _fn


_DQ09_SOURCES = ("registry", "attendance", "census")


# One step for the three row counts (a few milliseconds each; as three steps Dagster's per-step cost dominated);
# each is still its own check on its own staged asset.
@dg.multi_asset_check(specs=[_dq09_spec(s) for s in _DQ09_SOURCES], can_subset=True, pool=WAREHOUSE_POOL,
                      name="staged__dq09_row_count_change",
                      description="DQ09 登记、考勤、户籍行数较上一期变化超过 10%。警告。各来源分别报告，一个步骤内运行。\n\n"
                                  "DQ09 registry, attendance and census row count change over 10 % from the previous "
                                  "period. Warning. Reported per source, run in one step.")
def dq09_row_count_change(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    fnd.ensure_tables(warehouse)
    p = _params(context)
    for source in _DQ09_SOURCES:
        if dg.AssetCheckKey(STAGED[source], DQ09_ROW_COUNT_CHANGE) in context.selected_asset_check_keys:
            yield _dq09(source)(context, warehouse, p)


# --- DQ05 / DQ06 / DQ10: period-based, on the roster ------------------------------------------------------

NOT_APPLICABLE = "not applicable in absence_only mode"


@_check(ROSTER, DQ05_REGISTERED_ABSENT,
        "DQ05 在读学籍本期无任何考勤（人在籍不在校、空挂学籍）。警告，列出，供辍学规则使用。仅缺勤考勤模式（absence_only）下不适用（无记录即出勤），直接通过。",
        "DQ05 active registry record with no attendance in the period (registered but absent). Warning, listed; "
        "feeds the dropout rules. Not applicable in absence_only attendance mode (a child without rows was "
        "present): passes with metadata saying so.", blocking=True)  # WARN never blocks; blocking=True makes reports wait for it
def dq05_registered_absent(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                           home: KongchuoHome) -> dg.AssetCheckResult:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    if home.attendance_mode == "absence_only":
        return _result(context, warehouse, p, asset=ROSTER, name=DQ05_REGISTERED_ABSENT, source="registry",
                       findings=pd.DataFrame(columns=["record_key", "school_code", "file_sha", "row_no", "detail"]),
                       error=False, extra={"attendance_mode": home.attendance_mode, "applicable": NOT_APPLICABLE})
    return _result(context, warehouse, p, asset=ROSTER, name=DQ05_REGISTERED_ABSENT, source="registry",
                   findings=_query(warehouse, rules.DQ05_SQL, p), error=False,
                   extra={"attendance_mode": home.attendance_mode})


@_check(ROSTER, DQ06_PRESENT_UNREGISTERED,
        "DQ06 有考勤但在该校无在读学籍（在校无籍）。警告，列出。",
        "DQ06 attendance for a person with no active registry record at that school (present but unregistered). "
        "Warning, listed. In absence_only attendance mode: absence rows for such a person.",
        blocking=True)  # WARN never blocks; blocking=True makes reports wait for it
def dq06_present_unregistered(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                              home: KongchuoHome) -> dg.AssetCheckResult:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    return _result(context, warehouse, p, asset=ROSTER, name=DQ06_PRESENT_UNREGISTERED, source="attendance",
                   findings=_query(warehouse, rules.DQ06_SQL, p), error=False,
                   extra={"attendance_mode": home.attendance_mode})


@_check(ROSTER, DQ10_EXTRACT_COVERS_PERIOD,
        "DQ10 数据覆盖所报告的期间（有当期学籍，考勤覆盖至期末）。错误（阻断下游）。",
        "DQ10 the extracts cover the period being reported (a current registry; roll call up to the period's end, "
        "school holidays excepted; in absence_only attendance mode the school calendar up to the period's end and "
        "absence rows up to its last school day). Error (blocking).", blocking=True)
def dq10_extract_covers_period(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                               home: KongchuoHome) -> dg.AssetCheckResult:
    fnd.ensure_tables(warehouse)
    p = _params(context)
    problems: list[dict[str, Any]] = []
    registry_rows = int(warehouse.scalar(rules.REGISTRY_ROWS_SQL) or 0)
    if registry_rows == 0:
        problems.append({"source": "registry", "detail": "无当期学籍数据"})
    cov = _query(warehouse, rules.COVERAGE_SQL, p).iloc[0]
    month = p["start"].month
    n = int(cov["n"] or 0)
    absence_only = home.attendance_mode == "absence_only"
    extra_meta: dict[str, Any] = {"attendance_mode": home.attendance_mode}
    if absence_only:
        # The days come from the calendar: it must reach the period's end; absence rows must reach its last
        # school day (with thousands of children on the roll somebody is absent every day).
        cal = _query(warehouse, rules.CALENDAR_COVERAGE_SQL, p).iloc[0]
        days = int(cal["n"] or 0)
        extra_meta.update(calendar_school_days=days, calendar_last_day=str(cal["last_day"]))
        if days == 0 and month not in (7, 8):
            problems.append({"source": "attendance",
                             "detail": f"校历{period_label(p['period'])}无上课日"})
        elif days and month not in rules.HOLIDAY_MONTHS:
            cal_last = pd.Timestamp(cal["last_day"]).date()
            gap = (p["end"] - cal_last).days
            if gap > rules.COVERAGE_GAP_DAYS:
                problems.append({"source": "attendance", "detail": f"校历只到 {cal_last}，距期末 {p['end']} 还有 {gap} 天"})
            elif n == 0:
                problems.append({"source": "attendance",
                                 "detail": f"{period_label(p['period'])}无缺勤记录"})
            else:
                last = pd.Timestamp(cov["last_day"]).date()
                gap = (cal_last - last).days
                if gap > rules.COVERAGE_GAP_DAYS:
                    problems.append({"source": "attendance",
                                     "detail": f"缺勤记录只到 {last}，距最后上课日 {cal_last} 还有 {gap} 天"})
    elif n == 0 and month not in (7, 8):
        problems.append({"source": "attendance", "detail": f"{period_label(p['period'])}无考勤数据"})
    elif n and month not in rules.HOLIDAY_MONTHS:
        last = pd.Timestamp(cov["last_day"]).date()
        gap = (p["end"] - last).days
        if gap > rules.COVERAGE_GAP_DAYS:
            problems.append({"source": "attendance",
                             "detail": f"考勤只到 {last}，距期末 {p['end']} 还有 {gap} 天"})
    found = pd.DataFrame(problems, columns=["source", "detail"])
    for source in ("registry", "attendance"):
        fnd.write_findings(warehouse, run_id=p["run_id"], period=p["period"], check_id="DQ10", source=source,
                           findings=found.loc[found["source"] == source, ["detail"]].assign(severity="error"),
                           passed=found.empty)
    meta = {"check_id": "DQ10", "period": p["period"], "registry_rows": registry_rows, "roll_call_rows": n,
            "first_roll_call": str(cov["first_day"]), "last_roll_call": str(cov["last_day"]),
            "problems": dg.MetadataValue.md("\n".join(f"- {r.source}: {r.detail}" for r in found.itertuples())
                                            or "(none)"), **extra_meta}
    if not found.empty:
        context.log.warning(f"{DQ10_EXTRACT_COVERS_PERIOD} [DQ10] {p['period']}: {len(found)} problem(s)")
    return dg.AssetCheckResult(asset_key=ROSTER, check_name=DQ10_EXTRACT_COVERS_PERIOD, passed=found.empty,
                               severity=ERROR, metadata=meta)


_REGISTRY_MEMBERS = (dq08_known_codes, dq04_duplicate_registry, dq07_age_fits_grade)


# The registry's five SQL/ID checks in one step (0.1–0.7 s each on a district, where each step of its own cost
# Dagster about as much again). Each keeps its spec. DQ04 and DQ07 are blocking WARN checks, so the assets
# downstream of staged/registry wait for this step, in which DQ08 quarantines files with unknown codes; DQ01 and
# DQ08 report ERROR without blocking.
@dg.multi_asset_check(specs=[*_ID_SPECS, *(fn.spec for fn in _REGISTRY_MEMBERS)], can_subset=True,
                      pool=WAREHOUSE_POOL, name="staged__registry_checks",
                      description="学籍 DQ01、DQ02、DQ04、DQ07、DQ08，一个步骤内逐项检查，各自报告。\n\n"
                                  "Registry DQ01, DQ02, DQ04, DQ07 and DQ08, each reported as its own check, run in one step.")
def registry_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                    home: KongchuoHome) -> Iterator[dg.AssetCheckResult]:
    selected = context.selected_asset_check_keys
    for fn in _REGISTRY_MEMBERS:  # DQ08 first: it may quarantine a file, which DQ04/DQ07 then no longer list
        if fn.spec.key in selected:
            yield fn(context, warehouse, home)
    if any(spec.key in selected for spec in _ID_SPECS):
        for result in dq01_dq02_registry_id_numbers(context, warehouse):
            if dg.AssetCheckKey(result.asset_key, result.check_name) in selected:
                yield result


dq_checks: list[dg.AssetChecksDefinition] = [
    registry_checks,
    *[_dq03(s) for s in ("registry", "attendance", "census")],
    dq09_row_count_change,
    dq05_registered_absent,
    dq06_present_unregistered,
    dq10_extract_covers_period,
]
