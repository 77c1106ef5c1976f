"""DQ01–DQ10 asset checks, checks.findings and the R5 fix list on a temp DuckDB warehouse built here.

Staged tables are filled directly (no ingestion); stub assets stand in for ``staged.*`` and
``derived.roster`` so the real checks and the real R5 asset run inside ``dagster.materialize``.
"""



import datetime as dt
import uuid

import dagster as dg
import pandas as pd

from checks import dq_checks
from kongchuo.check_names import CHECK_IDS, DQ01_VALID_ID_NUMBER, DQ03_REQUIRED_VALUES, DQ08_KNOWN_CODES
from kongchuo.idnumber import make_id
from kongchuo.masking import mask_id
from warehouse.layout import staged_columns
from warehouse.partitions import monthly_partitions, period_bounds, period_of
from warehouse.resource import WarehouseResource

PERIOD = "2026-10"
T1, T2 = "411003100", "411003101"
S1, S2, S3 = "4110031001", "4110031002", "4110031003"
RUN0 = "ingest-run"


# --------------------------------------------------------------------------------------------- fixtures

def _views(warehouse) -> None:
    try:
        from warehouse.views import view_statements
    except ImportError:  # pragma: no cover - before ingestion landed
        stmts = [f"CREATE OR REPLACE VIEW staged.{s}_current AS SELECT * FROM staged.{s}"
                 for s in ("registry", "attendance", "census")]
    else:
        stmts = view_statements()
    warehouse.execute(stmts)


def _file(sha: str, source: str, name: str, status: str = "ingested", run_id: str = RUN0) -> dict:
    return {"file_sha": sha, "source": source, "original_name": name, "raw_path": f"raw/{sha}", "size_bytes": 1,
            "encoding": "utf-8", "row_count": 0, "status": status, "error": None if status == "ingested" else "坏表头",
            "ingested_at": dt.datetime(2026, 11, 1, 8, 0), "min_date": None, "max_date": None, "run_id": run_id,
            "header_map": None}


def _insert(warehouse, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = [c for c in staged_columns(table.split(".")[1])] if table.startswith("staged.") and table not in (
        "staged.schools", "staged.townships") else list(rows[0])
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    with warehouse.begin() as conn:
        warehouse.insert_frame(conn, table, df)


class District:
    """A small district with one planted case per rule; ``expected`` maps check id -> record keys."""

    def __init__(self, n_good: int = 40):
        self.registry: list[dict] = []
        self.attendance: list[dict] = []
        self.expected: dict[str, set[str]] = {k: set() for k in CHECK_IDS.values()}
        self.names: dict[str, str] = {}
        self.seq = 0
        for i in range(n_good):
            self.student(S1 if i % 2 else S2)

    def student(self, school: str, *, grade: int = 4, born: dt.date = dt.date(2016, 5, 1), gender: str = "M",
                status: str = "active", attend: bool = True, id_number: str | None = None,
                file_sha: str = "reg1", **over) -> dict:
        self.seq += 1
        idn = id_number or make_id("411003", born, 2 * self.seq + (1 if gender == "M" else 0))
        rec = {"file_sha": file_sha, "row_no": self.seq + 1, "student_no": "G" + idn, "id_number": idn,
               "id_number_raw": idn, "name": f"张小{'明亮红军华'[self.seq % 5]}{self.seq}", "gender": gender,
               "birth_date": born, "birth_date_raw": born.isoformat(), "school_code": school, "school_name": "x",
               "grade": grade, "grade_raw": str(grade), "class_name": "1班", "status": status, "status_raw": "在读",
               "township_code": T1}
        rec.update(over)
        self.registry.append(rec)
        self.names[rec["student_no"]] = rec["name"]
        if attend:
            self.attend(rec["student_no"], rec["id_number"], school)
        return rec

    def attend(self, student_no, id_number, school, file_sha="att1"):
        d = dt.date(2026, 10, 8)
        while d <= dt.date(2026, 10, 30):
            if d.weekday() < 5:
                self.attendance.append({"file_sha": file_sha, "row_no": len(self.attendance) + 2,
                                        "student_no": student_no, "id_number": id_number, "school_code": school,
                                        "date": d, "date_raw": d.isoformat(), "status": "present",
                                        "status_raw": "出勤"})
            d += dt.timedelta(days=1)

    def plant_warnings(self) -> None:
        """One planted case for each warn rule (DQ01 below 5%, DQ02, DQ04, DQ05, DQ06, DQ07)."""
        bad = self.student(S1, attend=False)
        good = bad["id_number"]
        wrong = good[:17] + ("0" if good[-1] != "0" else "1")
        bad.update(id_number=wrong, id_number_raw=wrong, student_no="G" + wrong)
        self.attend(bad["student_no"], wrong, S1)
        self.expected["DQ01"].add(bad["student_no"])
        r = self.student(S1, born=dt.date(2016, 5, 1))
        r["birth_date"] = dt.date(2016, 6, 1)
        self.expected["DQ02"].add(r["student_no"])
        r = self.student(S2, gender="F")
        r["gender"] = "M"
        self.expected["DQ02"].add(r["student_no"])
        a = self.student(S1)
        b = self.student(S2, id_number=a["id_number"], attend=False)
        b["student_no"] = "L" + a["id_number"][:12]
        self.names[a["student_no"]], self.names[b["student_no"]] = a["name"], b["name"]
        self.attend(b["student_no"], b["id_number"], S2)
        self.expected["DQ04"] |= {a["student_no"], b["student_no"]}
        r = self.student(S2, attend=False)
        self.expected["DQ05"].add(r["student_no"])
        ghost = make_id("411003", dt.date(2015, 2, 2), 777)
        self.attend("G" + ghost, ghost, S1)
        self.names["G" + ghost] = "李四海"
        self.expected["DQ06"].add("G" + ghost)
        r = self.student(S1, grade=8, born=dt.date(2016, 5, 1))
        self.expected["DQ07"].add(r["student_no"])

    def load(self, warehouse, census: list[dict] | None = None) -> None:
        _insert(warehouse, "raw.files", [_file("reg1", "registry", "建安区学籍_2026-10.xlsx"),
                                         _file("att1", "attendance", "考勤_2026-10.csv"),
                                         _file("cen1", "census", "户籍.csv")])
        _insert(warehouse, "staged.townships", [
            {"township_code": T1, "township_name": "东城街道", "district_code": "411003"},
            {"township_code": T2, "township_name": "五女店镇", "district_code": "411003"}])
        _insert(warehouse, "staged.schools", [
            {"school_code": S1, "school_name": "东城小学", "township_code": T1, "stage": "小学", "is_rural": False},
            {"school_code": S2, "school_name": "五女店一中", "township_code": T2, "stage": "初中", "is_rural": True},
            {"school_code": S3, "school_name": "东城二小", "township_code": T1, "stage": "小学", "is_rural": False}])
        _insert(warehouse, "staged.registry", self.registry)
        _insert(warehouse, "staged.attendance", self.attendance)
        _insert(warehouse, "staged.census", census or [
            {"file_sha": "cen1", "row_no": 2, "id_number": r["id_number"], "name": r["name"], "gender": r["gender"],
             "birth_date": r["birth_date"], "birth_date_raw": "x", "township_code": T1, "residence_status": "resident",
             "residence_status_raw": "在户"} for r in self.registry[:5]])
        _views(warehouse)


ROSTER_STUB_SQL = """
    (period, person_key, id_number, student_no, school_code, township_code, grade, birth_date, status,
     attendance_days)
    SELECT :period, coalesce(r.id_number, r.student_no), r.id_number, r.student_no, r.school_code, r.township_code,
           r.grade, r.birth_date, r.status,
           (SELECT count(DISTINCT a.date) FROM staged.attendance_current a
             WHERE a.student_no = r.student_no AND a.school_code = r.school_code
               AND a.date BETWEEN :start AND :end)
    FROM staged.registry_current r
"""


def _stubs() -> list[dg.AssetsDefinition]:

    out = []
    for source in ("registry", "attendance", "census"):
        @dg.asset(key=["staged", source], partitions_def=monthly_partitions, group_name="ingest",
                  name=None)
        def _staged(context) -> None:
            return None

        out.append(_staged)

    @dg.asset(key=["derived", "roster"], deps=[dg.AssetKey(["staged", s]) for s in ("registry", "attendance")],
              partitions_def=monthly_partitions, group_name="derived")
    def roster(context, warehouse: WarehouseResource) -> None:
        period = period_of(context)
        start, end = period_bounds(period)
        warehouse.replace_period("derived.roster", period, ROSTER_STUB_SQL, {"start": start, "end": end})

    out.append(roster)
    return out


def run(resources, period: str = PERIOD, raise_on_error: bool = True, instance=None):
    from assets.fix_list import fix_list_assets

    return dg.materialize([*_stubs(), *fix_list_assets, *dq_checks], partition_key=period, resources=resources,
                          instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=raise_on_error)


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def findings(warehouse, run_id: str) -> dict[str, set[str]]:
    df = warehouse.query_df("SELECT check_id, record_key FROM checks.findings WHERE run_id = :r", {"r": run_id})
    return {k: set(g["record_key"].dropna()) for k, g in df.groupby("check_id")}


def _masked(keys: set[str]) -> list[str]:
    return sorted(mask_id(k) for k in keys)[:5]


# --------------------------------------------------------------------------------------------- tests

def test_check_names_descriptions_and_blocking():
    specs = {(s.asset_key.to_user_string(), s.name): s for c in dq_checks for s in c.check_specs}
    assert {n for _, n in specs} == set(CHECK_IDS)
    for (asset, name), spec in specs.items():
        assert name.startswith(CHECK_IDS[name].lower() + "_")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.description), name  # Chinese
        assert any(ch.isascii() and ch.isalpha() for ch in spec.description), name  # English
    blocking = {n for (_, n), s in specs.items() if s.blocking}
    assert {"dq03_required_values", "dq10_extract_covers_period"} <= blocking
    # DQ01 and DQ08 are errors for a file: the file is quarantined at ingest, the district goes on (issue 13)
    assert not {n for (_, n), s in specs.items() if s.blocking and n in ("dq01_valid_id_number", "dq08_known_codes")}
    assert ("staged/attendance", "dq03_required_values") in specs and ("staged/census", "dq09_row_count_change") in specs
    assert {a for a, n in specs if n in ("dq05_registered_absent", "dq06_present_unregistered",
                                         "dq10_extract_covers_period")} == {"derived/roster"}


def test_planted_warnings_precision_recall(warehouse, resources, kongchuo_home):
    d = District()
    d.plant_warnings()
    d.load(warehouse)
    result = run(resources)
    assert result.success
    ev = evaluations(result)
    got = findings(warehouse, result.run_id)
    for check_id in ("DQ01", "DQ02", "DQ04", "DQ05", "DQ06", "DQ07"):
        want, have = d.expected[check_id], got.get(check_id, set())
        assert have == want, (check_id, len(want), len(have), _masked(want ^ have))
    for check_id in ("DQ03", "DQ08", "DQ10"):
        assert not got.get(check_id), check_id
    assert not ev[("registry", DQ01_VALID_ID_NUMBER)].passed
    assert ev[("registry", DQ01_VALID_ID_NUMBER)].severity == dg.AssetCheckSeverity.WARN
    assert ev[("registry", DQ03_REQUIRED_VALUES)].passed and ev[("registry", DQ08_KNOWN_CODES)].passed
    assert ev[("roster", "dq10_extract_covers_period")].passed
    # GX ran inside the checks
    meta = ev[("registry", DQ03_REQUIRED_VALUES)].metadata
    assert meta["gx_success"].value is True and meta["gx_rows_validated"].value == len(d.registry)
    assert "expect_column_values_to_not_be_null" in meta["gx_expectations"].value
    # the report exists, one workbook per township with findings
    files = sorted((kongchuo_home / "reports" / PERIOD).glob("*.xlsx"))
    assert [f.name for f in files] == ["建安区_2026年10月_人籍不一致整改清单_东城街道.xlsx",
                                       "建安区_2026年10月_人籍不一致整改清单_五女店镇.xlsx"]


def test_metadata_is_masked(warehouse, resources):
    d = District()
    d.plant_warnings()
    d.load(warehouse)
    result = run(resources)
    text = " ".join(str(e) for e in result.all_events)
    text += " ".join(str(e.metadata) for e in result.get_asset_check_evaluations())
    leaked = [k for k in {r["id_number"] for r in d.registry} | set(d.names) if k in text]
    leaked += [n for n in d.names.values() if n in text]
    assert not leaked, f"{len(leaked)} identifiers leaked, e.g. {_masked(set(leaked))}"
    preview = evaluations(result)[("registry", "dq04_duplicate_registry")].metadata
    md = preview["offending_rows (masked, ≤10)"].value
    assert "*" in md and "同一人有 2 条在读学籍" in md


def test_findings_idempotent_and_history_kept(warehouse, resources):
    d = District()
    d.plant_warnings()
    d.load(warehouse)
    instance = dg.DagsterInstance.ephemeral()
    first = run(resources, instance=instance)
    n1 = warehouse.scalar("SELECT count(*) FROM checks.findings WHERE run_id = :r", {"r": first.run_id})
    # re-executing a check in the same run replaces its rows
    from warehouse import findings as fnd

    df = warehouse.query_df("SELECT * FROM checks.findings WHERE run_id = :r AND check_id = 'DQ04'", {"r": first.run_id})
    fnd.write_findings(warehouse, run_id=first.run_id, period=PERIOD, check_id="DQ04", source="registry",
                       findings=df, passed=False)
    assert warehouse.scalar("SELECT count(*) FROM checks.findings WHERE run_id = :r", {"r": first.run_id}) == n1
    second = run(resources, instance=instance)
    runs = warehouse.query_df("SELECT run_id, count(*) AS n FROM checks.findings GROUP BY run_id")
    assert set(runs["run_id"]) == {first.run_id, second.run_id}
    assert runs["n"].nunique() == 1
    cols = set(warehouse.query_df("SELECT * FROM checks.findings LIMIT 1").columns)
    assert {"run_id", "period", "check_id", "source", "record_key", "school_code", "file_sha", "row_no", "detail",
            "severity", "checked_at"} <= cols


def test_dq03_names_file_row_column_and_does_not_block(warehouse, resources, kongchuo_home):
    """A row-level DQ03 problem (one unparsable birth date) is a warning naming file, row and column: it never
    stops the district's run (issue 13, README "Bad rows and bad files"); the R5 fix list is still written."""
    d = District()
    d.plant_warnings()
    bad = d.student(S1)
    bad.update(birth_date=None, birth_date_raw="2016-13-45")
    d.load(warehouse)
    # a previous period's report must stay untouched
    old = kongchuo_home / "reports" / "2026-09" / "建安区_2026年09月_人籍不一致整改清单_东城街道.xlsx"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"previous")
    result = run(resources, raise_on_error=False)
    ev = evaluations(result)
    e = ev[("registry", DQ03_REQUIRED_VALUES)]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    assert e.metadata["gx_success"].value is False
    rows = warehouse.query_df("SELECT * FROM checks.findings WHERE run_id = :r AND check_id = 'DQ03'",
                              {"r": result.run_id})
    assert len(rows) == 1
    detail = rows["detail"].iloc[0]
    assert "建安区学籍_2026-10.xlsx" in detail and f"第{bad['row_no']}行" in detail and "birth_date" in detail
    assert "unparseable" in detail and "2016-13-45" in detail
    mats = {k.to_user_string() for k in result.get_asset_materialization_events_keys()} if hasattr(
        result, "get_asset_materialization_events_keys") else {
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "derived/roster" in mats and "reports/r5_fix_list" in mats
    assert list((kongchuo_home / "reports" / PERIOD).glob("*整改清单*.xlsx"))
    assert set(rows["severity"]) == {"warn"}
    assert old.read_bytes() == b"previous"
    text = " ".join(str(ev) for ev in result.all_events)
    assert DQ03_REQUIRED_VALUES in text


def test_quarantined_file_in_this_run_is_counted_not_blocking(warehouse, resources):
    """Issue 13: a quarantined file makes the period's reports drafts (assets/completeness.py); it no longer fails
    DQ03 and so no longer stops the district's run."""
    d = District()
    d.load(warehouse)

    class _Run(dg.ConfigurableResource):
        pass

    instance = dg.DagsterInstance.ephemeral()
    # the quarantine row carries the run id of the run that checks it: plant it through a pre-step
    run_id = str(uuid.uuid4())
    _insert(warehouse, "raw.files", [_file("bad1", "attendance", "考勤坏.csv", status="quarantined", run_id=run_id)])
    from assets.fix_list import fix_list_assets

    defs = dg.Definitions(assets=[*_stubs(), *fix_list_assets], asset_checks=dq_checks, resources=resources)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key=PERIOD, instance=instance, run_id=run_id, raise_on_error=False)
    e = evaluations(result)[("attendance", DQ03_REQUIRED_VALUES)]
    assert e.passed
    assert e.metadata["quarantined_files_this_run"].value == 1


def test_dq01_error_over_five_percent_shows_error_without_blocking(warehouse, resources):
    """Rows already in the warehouse (loaded here directly, as before the file-level rule judged files at ingest):
    DQ01 is still an ERROR an auditor sees, and no longer holds back the district's derived tables."""
    d = District(n_good=10)
    for _ in range(2):
        r = d.student(S1)
        r["id_number"] = r["id_number"][:17] + ("0" if r["id_number"][-1] != "0" else "1")
    d.load(warehouse)
    result = run(resources, raise_on_error=False)
    e = evaluations(result)[("registry", DQ01_VALID_ID_NUMBER)]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    assert e.metadata["files_over_5_percent"].value == 1
    mats = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "derived/roster" in mats and "reports/r5_fix_list" in mats


def test_dq08_unknown_school_is_an_error_that_does_not_block(warehouse, resources):
    d = District(n_good=10)
    d.student("9999999999")
    d.load(warehouse)
    result = run(resources, raise_on_error=False)
    e = evaluations(result)[("registry", DQ08_KNOWN_CODES)]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    assert "reports/r5_fix_list" in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_dq10_and_dq09(warehouse, resources):
    d = District(n_good=10)
    d.attendance = [a for a in d.attendance if a["date"] <= dt.date(2026, 10, 15)]  # extract stops mid-month
    d.load(warehouse)
    instance = dg.DagsterInstance.ephemeral()
    result = run(resources, raise_on_error=False, instance=instance)
    e = evaluations(result)[("roster", "dq10_extract_covers_period")]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    assert "reports/r5_fix_list" not in {x.asset_key.to_user_string() for x in result.get_asset_materialization_events()}
    # DQ09: the next month with 50% more registry rows warns (compared with 2026-10's evaluation)
    more = District(n_good=5)
    for r in more.registry:
        r.update(file_sha="reg2", row_no=r["row_no"] + 1000, student_no="G" + r["id_number"][:-4] + "9999")
    _insert(warehouse, "staged.registry", more.registry[:5])
    nxt = run(resources, period="2026-11", raise_on_error=False, instance=instance)
    e9 = evaluations(nxt)[("registry", "dq09_row_count_change")]
    assert e9.metadata["previous_row_count"].value == 10


def test_r5_workbook_content(warehouse, resources, kongchuo_home):
    from python_calamine import CalamineWorkbook

    d = District()
    d.plant_warnings()
    d.load(warehouse)
    result = run(resources)
    mat = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["reports", "r5_fix_list"]]
    meta = mat[0].materialization.metadata
    files = meta["files"].value
    assert len(files) == 2 and all(len(f["sha256"]) == 64 for f in files)
    path = kongchuo_home / "reports" / PERIOD / "建安区_2026年10月_人籍不一致整改清单_东城街道.xlsx"
    wb = CalamineWorkbook.from_path(str(path))
    assert wb.sheet_names == ["东城小学"]
    rows = wb.get_sheet_by_name("东城小学").to_python()
    flat = [str(c) for row in rows for c in row]
    text = " ".join(flat)
    assert "建安区2026年10月人籍不一致整改清单" in text
    ghost = next(iter(d.expected["DQ06"]))
    assert ghost in text  # full key in the report: the school must find the record
    dup = next(k for k in d.expected["DQ04"] if k.startswith("G"))
    assert dup[1:] in flat and d.names[dup] in flat  # full ID and name
    assert "重复学籍" in text and "请核实并注销多余学籍" in text
    checks_in_sheet = [r[1] for r in rows if r and r[1] in ("DQ04", "DQ05", "DQ06", "DQ07")]
    in_s1 = {c: sum(1 for x in checks_in_sheet if x == c) for c in set(checks_in_sheet)}
    assert in_s1 == {"DQ04": 1, "DQ06": 1, "DQ07": 1}
    # re-running gives the same bytes
    sha = {f["path"]: f["sha256"] for f in files}
    again = run(resources)
    mat2 = [m for m in again.get_asset_materialization_events() if m.asset_key.path == ["reports", "r5_fix_list"]]
    assert {f["path"]: f["sha256"] for f in mat2[0].materialization.metadata["files"].value} == sha
