"""The generator's real export shapes (kongchuo.generate.shapes), read back with python-calamine and the csv
module (never with the project's readers): the files have the shapes meta.json says, and together they hold
exactly the records of the same district written tidy.

Never prints IDs or names: messages carry counts, file names and column names only."""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from kongchuo.generate import Rates, generate
from kongchuo.generate.shapes import MAX_ROWS, SHAPES, plan, shaped_indices
from kongchuo.sources import SPECS, normalize_header

START, END = dt.date(2026, 3, 2), dt.date(2026, 6, 30)
RATES = Rates(EX_CENSUS=0.03, EX_DEATH=0.01)  # enough 迁出/死亡 children for 注销 in the public-security files
SOURCES = ("registry", "attendance", "census", "casework", "exemptions", "home_teaching")
NOTE_STARTS = ("合计", "填表人", "说明", "制表")
GRADE_WORDS = {w: i for i, w in enumerate(
    ["", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级"])}
GRADE_WORDS.update({"初一": 7, "初二": 8, "初三": 9})


@pytest.fixture(scope="module")
def districts(tmp_path_factory) -> dict[str, Path]:
    """The same district tidy, with every file shaped, and with half of them shaped."""
    root = tmp_path_factory.mktemp("shapes")
    out = {}
    for name, share in (("tidy", 0.0), ("all", 1.0), ("half", 0.5)):
        out[name] = root / name
        generate("411003", 700, 11, START, END, out[name], rates=RATES, real_shapes=share)
    return out


def _meta(root: Path) -> dict:
    return json.loads((root / "meta.json").read_text(encoding="utf-8"))


def _files(root: Path, source: str | None = None, shape: str | None = None) -> list[dict]:
    return [f for f in _meta(root)["files"] if f["source"] in SOURCES and (source is None or f["source"] == source)
            and (shape is None or f.get("shape") == shape)]


# ------------------------------------------------------------------------------ independent reading

def _sheets(path: Path, fmt: str, visible_only: bool = True) -> list[tuple[str, list[list[object]]]]:
    """(sheet name, rows) of a workbook's sheets, or the one table of a CSV."""
    if fmt in ("xlsx", "xls"):
        wb = CalamineWorkbook.from_path(str(path))
        return [(m.name, wb.get_sheet_by_name(m.name).to_python(skip_empty_area=False))
                for m in wb.sheets_metadata if not visible_only or m.visible == SheetVisibleEnum.Visible]
    raw = path.read_bytes()
    text = raw[3:].decode("utf-8") if raw.startswith(b"\xef\xbb\xbf") else None
    if text is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gbk")
    return [("csv", list(csv.reader(io.StringIO(text))))]


def _text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if v is None else str(v).strip()


def _table(rows: list[list[object]], key_names: set[str]) -> tuple[list[object], list[list[object]], list, list]:
    """Split a sheet into (lines above, header, data rows, lines below): the header is the first row holding a
    key column name; data ends at the first 合计/填表人/说明/制表 line."""
    at = next(i for i, r in enumerate(rows) if key_names & {_clean(c) for c in r})
    data, below = [], []
    for r in rows[at + 1:]:
        first = next((_text(c) for c in r if _text(c)), "")
        if below or first.startswith(NOTE_STARTS):
            below.append(r)
        elif first:
            data.append(r)
    return rows[:at], rows[at], data, below


def _clean(cell: object) -> str:
    return normalize_header(_text(cell).replace("\n", "").replace("★", "").replace("（必填）", ""))


def _date(v: object) -> str:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (int, float)):
        return (dt.date(1899, 12, 30) + dt.timedelta(days=int(v))).isoformat()
    s = str(v).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            pass
    if re.fullmatch(r"\d{6}", s):  # 入学年月 201409
        return f"{s[:4]}-{s[4:]}-01"
    raise AssertionError(f"unreadable date format {re.sub(r'[0-9]', '9', s)}")


# canonical names of the real shapes' own headers (the tidy ones come from kongchuo.sources)
REAL_NAMES = {
    "registry": {"个人标识码": "student_no", "学籍辅号": "aux_student_no", "身份证件号": "id_number",
                 "户口所在地行政区划": "hukou_region_code", "是否进城务工人员随迁子女": "is_migrant"},
    "census": {"公民身份号码": "id_number", "人员状态": "person_state", "注销原因": "cancel_reason",
               "户籍地址": "address", "村(居)委会": "village"},
    "exemptions": {"申请类别": "kind", "批准时间": "approved_on", "缓学期限": "term", "身份证件号": "id_number"},
    "attendance": {"是否请假": "on_leave", "请假类型": "leave_type", "考勤状态": "status"},
}


# a table's header row is the first row naming an ID or student-number column
KEY_HEADERS = {normalize_header(name) for spec in SPECS.values() for col in spec.columns
               if col.name in ("id_number", "student_no") for name in (col.label, *col.aliases)} | {"个人标识码", "公民身份号码"}


def _column_names(source: str, shape: str, header: list[object]) -> list[str | None]:
    aliases = SPECS[source].alias_map
    real = {normalize_header(k): v for k, v in REAL_NAMES.get(source, {}).items()}
    own = shape in ("national", "public_security", "deferral_roster", "leave_flags")
    return [(real.get(_clean(h)) if own else None) or aliases.get(_clean(h)) for h in header]


def _records(root: Path, entry: dict) -> list[dict]:
    """Every record of one file as {canonical column: cell}, from its visible sheets."""
    source, shape = entry["source"], entry.get("shape", "tidy")
    path = root / entry["path"]
    out = []
    for _, rows in _sheets(path, entry["format"]):
        above, header, data, _ = _table(rows, KEY_HEADERS)
        if shape == "month_grid":
            out += _grid_records(above, header, data, entry["periods"][0])
            continue
        names = _column_names(source, shape, header)
        out += [{n: v for n, v in zip(names, r) if n} for r in data]
    return out


def _grid_records(above, header, data, period: str) -> list[dict]:
    code = next(_text(r[0]).split("：", 1)[1] for r in above if _text(r[0]).startswith("学校标识码："))
    key = _clean(header[1])
    keytype = "student_no" if "学籍" in key else "id_number"
    marks = {"√": "出勤", "病": "病假", "事": "事假", "旷": "旷课"}
    out = []
    for r in data:
        for col, cell in zip(header[3:], r[3:]):
            if _text(cell):
                out.append({keytype: r[1], "school_code": code, "date": f"{period}-{int(_text(col)):02d}",
                            "status": marks[_text(cell)]})
    return out


STATUS = {"出勤": "present", "迟到": "present", "早退": "present", "病假": "sick_leave", "事假": "personal_leave",
          "旷课": "unexcused", "present": "present", "sick_leave": "sick_leave", "personal_leave": "personal_leave",
          "unexcused": "unexcused"}
REG_STATUS = {"在读": "active", "在籍": "active", "转入": "active", "休学": "suspended", "转出": "transferred_out",
              "辍学": "dropped_out", "毕业": "graduated", "死亡": "deceased"}
GENDER = {"男": "M", "1": "M", "女": "F", "2": "F"}
FLAG = {"是": True, "Y": True, "1": True, "否": False, "N": False, "0": False,
        "非留守儿童": False, "单亲留守儿童": True, "双亲留守儿童": True}


def _grade(v: object) -> int:
    t = _text(v)
    return int(t.removesuffix("年级")) if t.removesuffix("年级").isdigit() else GRADE_WORDS[t]


def _canonical(source: str, rec: dict, towns: dict[str, str]) -> tuple:
    """One record as a comparable tuple of canonical values (what the tidy file says, however spelled)."""
    t = lambda c: _text(rec.get(c))  # noqa: E731
    if source == "registry":
        return (t("student_no"), t("id_number"), t("name"), GENDER[t("gender")], _date(rec["birth_date"]),
                t("school_code"), _grade(rec["grade"]), REG_STATUS[t("status")], _date(rec["enrolled_on"])[:7],
                t("township_code"), FLAG[t("is_left_behind")], FLAG[t("is_disabled")], t("guardian_phone"))
    if source == "attendance":
        status = t("status")
        if status == "请假":
            status = t("leave_type")
        return (t("student_no"), t("id_number"), t("school_code"), _date(rec["date"]), STATUS[status])
    if source == "census":
        return (t("id_number"), t("name"), GENDER[t("gender")], _date(rec["birth_date"]), _township(rec, towns),
                _residence(rec), t("village"), FLAG[t("is_disabled")])
    if source == "exemptions":
        until = _term_end(t("term")) if "term" in rec else _date(rec["valid_until"])[:7]
        return (t("id_number"), t("kind"), _date(rec["approved_on"]), until)
    if source == "casework":
        return (t("id_number"), _date(rec["attempt_date"]), t("method"), t("result"), t("dropout_reason"))
    return (t("id_number"), _date(rec["visit_date"]), float(t("class_hours")), t("teacher"))


def _township(rec: dict, towns: dict[str, str]) -> str:
    if "township_code" in rec:
        return _text(rec["township_code"])
    found = [code for name, code in towns.items() if name in _text(rec["address"])]
    assert len(found) == 1, f"户籍地址 names {len(found)} reference townships"
    return found[0]


def _residence(rec: dict) -> str:
    if "person_state" not in rec:
        return _text(rec["residence_status"])
    state, reason = _text(rec["person_state"]), _text(rec.get("cancel_reason"))
    if state == "注销":
        assert reason in ("迁出", "出国", "死亡"), "注销 without a known 注销原因"
        return "死亡" if reason == "死亡" else "迁出"
    assert not reason, "注销原因 on a record that is not 注销"
    return {"正常": "在户", "外出": "外出"}[state]


TERM_RANGE = r"(\d{4})\.(\d{2})(?:\.\d{2})?-(\d{4})\.(\d{2})(?:\.\d{2})?"  # months, or with days


def _term_end(term: str) -> str:
    m = re.fullmatch(TERM_RANGE, term)
    assert m, "缓学期限 is not a range like 2026.09-2027.08 or 2026.09.10-2027.07.15"
    return f"{m[3]}-{m[4]}"


def _towns(root: Path) -> dict[str, str]:
    df = pd.read_csv(root / "reference" / "townships.csv", dtype=str)
    return dict(zip(df["township_name"], df["township_code"]))


def _all_records(root: Path, source: str) -> Counter:
    towns = _towns(root)
    return Counter(_canonical(source, rec, towns) for f in _files(root, source) for rec in _records(root, f))


# ------------------------------------------------------------------------------ tests

def test_default_is_tidy(districts):
    meta = _meta(districts["tidy"])
    assert all("shape" not in f for f in meta["files"])
    assert {f["format"] for f in meta["files"]} <= {"csv-utf8", "csv-utf8-bom", "csv-gbk", "xlsx"}


def test_every_source_in_three_real_shapes(districts):
    for source in SOURCES:
        files = _files(districts["all"], source)
        assert {f["shape"] for f in files} == set(SHAPES[source]), source
        suffixes = {Path(f["path"]).suffix for f in files}
        assert {f["format"] for f in files if f["shape"] == "legacy_xls"} == {"xls"} and ".xls" in suffixes, source


def test_share_spreads_over_files(districts):
    for source in SOURCES:
        files = _files(districts["half"], source)
        shaped = [i for i, f in enumerate(files) if f["shape"] != "tidy"]
        assert shaped == shaped_indices(len(files), 0.5), source
        assert len(shaped) == len(files) // 2 and len(shaped) >= 1, source


def test_cli_option(tmp_path, capsys):
    from pipelines.cli import main

    out = tmp_path / "cli"
    assert main(["generate", "--students", "300", "--seed", "3", "--out", str(out), "--real-shapes", "0.5"]) == 0
    shapes = Counter(f["shape"] for f in _files(out))
    assert shapes["tidy"] and sum(shapes.values()) - shapes["tidy"] >= 6
    with pytest.raises(SystemExit):
        main(["generate", "--out", str(tmp_path / "no"), "--real-shapes", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err


def test_plan_keeps_each_shape_within_what_it_can_hold():
    big = MAX_ROWS["legacy_xls"] + 1
    assert plan("registry", [100] * 6, 0.0) == ["tidy"] * 6
    assert plan("registry", [100] * 6, 1.0) == list(SHAPES["registry"]) * 2
    # a file too big for an .xls sheet or an XLSX form takes the next shape that fits, or stays tidy
    assert plan("attendance", [big, big, big], 1.0) == ["leave_flags", "month_grid", "leave_flags"]
    assert plan("casework", [big] * 3, 1.0) == ["titled_csv"] * 3
    assert plan("registry", [big], 1.0) == ["tidy"]
    assert all(len(shaped_indices(n, s)) == int(n * s) for n in range(1, 40) for s in (0.1, 0.25, 0.5, 0.75, 1.0))


def test_ground_truth_unchanged(districts):
    for name in ("all", "half"):
        assert (districts[name] / "ground_truth.csv").read_bytes() == \
            (districts["tidy"] / "ground_truth.csv").read_bytes(), name
        assert _meta(districts[name])["case_counts"] == _meta(districts["tidy"])["case_counts"]


def test_shaped_output_is_reproducible(districts, tmp_path):
    again = tmp_path / "again"
    generate("411003", 700, 11, START, END, again, rates=RATES, real_shapes=1.0)
    digest = lambda root: {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
                           for p in sorted(root.rglob("*")) if p.is_file()}
    assert digest(again) == digest(districts["all"])


def test_magic_bytes(districts):
    root = districts["all"]
    for f in _files(root):
        head = (root / f["path"]).read_bytes()[:8]
        if f["format"] == "xls":
            assert head == bytes.fromhex("d0cf11e0a1b11ae1"), f["path"]  # OLE2 compound document
        elif f["format"] == "xlsx":
            assert head[:4] == b"PK\x03\x04", f["path"]
        else:
            assert not head.startswith((b"PK", bytes.fromhex("d0cf11e0"))), f["path"]


@pytest.mark.parametrize("shape", ["legacy_xls", "titled_xlsx", "titled_csv", "township_survey"])
def test_forms_have_title_total_and_signature_rows(districts, shape):
    root = districts["all"]
    files = _files(root, shape=shape)
    assert files
    for f in files:
        (sheet, rows), = _sheets(root / f["path"], f["format"])
        records = _records(root, f)
        title, unit_line = [_text(c) for c in rows[0] if _text(c)], [_text(c) for c in rows[1] if _text(c)]
        assert len(title) == 1 and title[0].startswith("建安区"), f["path"]
        assert unit_line[0].startswith("填报单位（盖章）：") and unit_line[-1].startswith("填报日期："), f["path"]
        assert _text(rows[2][0]) == "序号"
        notes = [_text(h) for h in rows[2] if _text(h).endswith("（必填）")]
        assert (len(notes) >= 5) == (shape == "township_survey"), f"（必填） notes: {notes}"
        total, signatures = rows[-2], rows[-1]
        assert _text(total[0]) == "合计" and re.fullmatch(rf"共{len(records)}[人条]", _text(total[-1])), f["path"]
        assert not any(_text(c) for c in total[1:-1]), "the 合计 row has cells under the data columns"
        assert len(records) == f["rows"] == len(rows) - 5, f["path"]
        assert _text(signatures[0]).startswith("填表人：")
        checker = "复核人（签名）：" if shape == "township_survey" else "审核人："
        assert any(_text(c).startswith(checker) for c in signatures), f["path"]


def test_per_grade_workbook_has_hidden_stale_sheet(districts):
    root = districts["all"]
    files = _files(root, "registry", "per_grade")
    assert files
    assert {f["format"] for f in files} == {"xlsx", "xls"}  # hidden sheets both ways (openpyxl's and xlwt's)
    for f in files:
        wb = CalamineWorkbook.from_path(str(root / f["path"]))
        hidden = [m.name for m in wb.sheets_metadata if m.visible != SheetVisibleEnum.Visible]
        visible = [m.name for m in wb.sheets_metadata if m.visible == SheetVisibleEnum.Visible]
        assert len(hidden) == 1 and hidden[0] == wb.sheets_metadata[0].name, f["path"]
        assert len(visible) >= 2 and set(visible) <= set(GRADE_WORDS), f["path"]
        for name, rows in _sheets(root / f["path"], f["format"], visible_only=False):
            names = _column_names("registry", "per_grade", rows[0])
            grade, status = names.index("grade"), names.index("status")
            assert len(rows) > 1, name
            if name in hidden:  # last term's rows: every one 辍学, so counting them would plant false SD4
                assert {_text(r[status]) for r in rows[1:]} == {"辍学"}
            else:
                assert {_grade(r[grade]) for r in rows[1:]} == {GRADE_WORDS[name]}, name
        assert len(_records(root, f)) == f["rows"]


def test_month_grid_layout(districts):
    root = districts["all"]
    files = _files(root, "attendance", "month_grid")
    assert files
    school_days = {d for f in _files(districts["tidy"], "attendance") for d in _attendance_dates(districts["tidy"], f)}
    for f in files:
        period = f["periods"][0]
        year, month = int(period[:4]), int(period[5:])
        n_days = calendar.monthrange(year, month)[1]
        sheets = _sheets(root / f["path"], "xlsx")
        assert len(sheets) >= 1
        for name, rows in sheets:
            assert _text(rows[0][0]) == f"{year}年{month}月学生考勤表"
            assert _text(rows[1][0]) == f"学校标识码：{name}" and re.fullmatch(r"\d{10}", name)
            above, header, data, below = _table(rows, {_clean(rows[2][1])})
            assert _text(header[2]) == "姓名" and [_text(h) for h in header[3:]] == [str(d) for d in range(1, n_days + 1)]
            assert sum(bool(_text(r[2])) for r in data) >= len(data) * 0.9, "names missing from the grid"
            cells = Counter(_text(c) for r in data for c in r[3:])
            assert set(cells) <= {"√", "病", "事", "旷", ""} and cells["√"] > 0
            marked = {f"{period}-{int(_text(h)):02d}" for k, h in enumerate(header[3:], start=3)
                      if any(_text(r[k]) for r in data)}
            assert marked <= school_days, "a mark on a day without roll call"
            assert any(f"{period}-{d:02d}" not in marked for d in range(1, n_days + 1)), "no blank day"
            assert [_text(r[0]).split("：")[0] for r in below] == ["说明", "制表"]
        assert len(_records(root, f)) == f["rows"]


def _attendance_dates(root: Path, f: dict) -> set[str]:
    return {_date(rec["date"]) for rec in _records(root, f)}


def test_national_registry_export(districts):
    root = districts["all"]
    files = _files(root, "registry", "national")
    assert files
    for f in files:
        (_, rows), = _sheets(root / f["path"], f["format"])
        header = [_text(h) for h in rows[0]]
        assert header[:2] == ["个人标识码", "学籍辅号"] and "姓名★" in header and "身份证件号★" in header
        assert any("\n" in h for h in header), "no wrapped header"
        col = {h.replace("\n", "").replace("★", ""): i for i, h in enumerate(header)}
        data = rows[1:]
        assert all(re.fullmatch(r"[GJL]\w{15,18}", _text(r[col["个人标识码"]])) for r in data)
        assert all(_text(r[col["学籍辅号"]]) != _text(r[col["个人标识码"]]) for r in data)
        assert all(re.fullmatch(r"(19|20)\d{6}", _text(r[col["出生日期"]])) for r in data)
        assert all(re.fullmatch(r"20\d{2}(0[1-9]|1[0-2])", _text(r[col["入学年月"]])) for r in data)
        assert {_text(r[col["性别"]]) for r in data} == {"1", "2"}
        assert {_text(r[col["是否留守儿童"]]) for r in data} <= {"非留守儿童", "单亲留守儿童", "双亲留守儿童"}
        assert {_text(r[col["学籍状态"]]) for r in data} <= set(REG_STATUS)


def test_public_security_extract(districts):
    root = districts["all"]
    files = _files(root, "census", "public_security")
    assert files
    states, reasons = Counter(), Counter()
    for f in files:
        (_, rows), = _sheets(root / f["path"], f["format"])
        header = [_text(h) for h in rows[0]]
        assert "公民身份号码" in header and "户籍地址" in header
        assert not {"乡镇代码", "乡镇(街道)代码", "乡镇街道代码"} & set(header), "a township code column"
        states.update(_text(r[header.index("人员状态")]) for r in rows[1:])
        reasons.update(_text(r[header.index("注销原因")]) for r in rows[1:])
    assert set(states) <= {"正常", "注销", "外出"} and states["正常"] and states["注销"]
    assert set(reasons) <= {"", "迁出", "死亡", "出国"} and reasons["迁出"] + reasons["出国"] and reasons["死亡"]


def test_deferral_roster(districts):
    root = districts["all"]
    (f,) = _files(root, "exemptions", "deferral_roster")
    records = _records(root, f)
    assert records and all("valid_until" not in r for r in records)
    assert all(re.fullmatch(TERM_RANGE, _text(r["term"])) for r in records)
    assert {_text(r["kind"]) for r in records} <= {"延缓入学", "休学"}


def test_leave_flags(districts):
    root = districts["all"]
    files = _files(root, "attendance", "leave_flags")
    assert files
    seen = Counter()
    for f in files:
        for r in _records(root, f):
            status, on_leave, kind = _text(r["status"]), _text(r["on_leave"]), _text(r.get("leave_type"))
            assert (on_leave == "是") == (status == "请假") and (kind != "") == (status == "请假")
            seen[status] += 1
    assert {"出勤", "迟到", "早退", "请假", "旷课"} <= set(seen)


@pytest.mark.parametrize("source", SOURCES)
def test_union_of_shapes_equals_the_tidy_records(districts, source):
    want = _all_records(districts["tidy"], source)
    assert sum(want.values()) == sum(f["rows"] for f in _files(districts["tidy"], source))
    for name in ("all", "half"):
        got = _all_records(districts[name], source)
        missing, extra = want - got, got - want
        assert not missing and not extra, (f"{name} {source}: {sum(got.values())} records, want "
                                           f"{sum(want.values())}; {sum(missing.values())} missing, "
                                           f"{sum(extra.values())} not in the tidy files")


# ------------------------------------------------------------------------------ end to end, through the real job

@pytest.fixture(scope="module")
def shaped_run():
    """A district with every file in a real shape (every source in >= 3 shapes) through the monthly and
    quarterly jobs (tests/district_run.py's helpers), as tests/test_rules.py runs the tidy one."""
    import shutil
    import tempfile

    import dagster as dg
    from district_run import MONTHS, QUARTER, DistrictRun, install_district, run_periods

    root = Path(tempfile.mkdtemp(prefix="kongchuo-shaped-"))
    generated, home = root / "generated", root / "home"
    generate("411003", 1500, 11, START, END, generated, real_shapes=1.0)
    install_district(generated, home)
    instance = dg.DagsterInstance.ephemeral()
    outcomes = run_periods(home, (*MONTHS, QUARTER), instance)
    truth = pd.read_csv(generated / "ground_truth.csv", dtype=str, keep_default_na=False)
    yield DistrictRun(home=home, generated=generated, truth=truth, outcomes=outcomes, instance=instance)
    shutil.rmtree(root, ignore_errors=True)


def test_shaped_district_covers_every_source_in_three_shapes(shaped_run):
    for source in SOURCES:
        assert len({f["shape"] for f in _files(shaped_run.generated, source)} - {"tidy"}) >= 3, source


def test_shaped_runs_succeeded(shaped_run):
    for period, outcome in shaped_run.outcomes.items():
        assert outcome.success, f"{period}: {outcome.error} skipped={outcome.skipped} failed={outcome.failed_checks}"


def test_shaped_files_all_ingested_none_quarantined(shaped_run):
    files = shaped_run.warehouse.query_df("SELECT source, original_name, status FROM raw.files")
    quarantined = files.loc[files["status"] == "quarantined", "original_name"].tolist()
    assert not quarantined, f"quarantined: {quarantined}"
    held = shaped_run.home / "quarantine"
    assert not held.exists() or not [p.name for p in held.rglob("*") if p.is_file()]
    landed = {Path(f["path"]).name for f in _files(shaped_run.generated)}
    assert set(files.loc[files["status"] == "ingested", "original_name"]) == landed


def _ingest_metadata(run, source: str) -> list[dict]:
    import dagster as dg

    result = run.instance.fetch_materializations(dg.AssetKey(["staged", source]), limit=100)
    return [r.asset_materialization.metadata for r in result.records]


def test_skipped_rows_listed_in_ingest_metadata(shaped_run):
    for source in SOURCES:
        skipped, sheets = {}, ""
        for md in _ingest_metadata(shaped_run, source):
            if "skipped_rows" in md:
                skipped.update(md["skipped_rows"].value)
            if "skipped_sheets" in md:
                sheets += md["skipped_sheets"].value
        for f in _files(shaped_run.generated, source):
            name = Path(f["path"]).name
            if f["shape"] in ("legacy_xls", "titled_xlsx", "titled_csv", "township_survey"):
                assert skipped.get(name, {}).get("合计") == 1 and skipped[name].get("填表人") == 1, (name, skipped.get(name))
            elif f["shape"] == "month_grid":
                n_sheets = len(_sheets(shaped_run.generated / f["path"], "xlsx"))
                assert skipped.get(name, {}).get("说明") == n_sheets, (name, skipped.get(name))
            elif f["shape"] == "per_grade":
                assert name in sheets and "hidden" in sheets, name


# SD6 (小升初未升学) too: a spring month is 30+ days after the autumn term's start, so the graduates of grade 6
# without a new record are SD6 in March–May (kongchuo.terms.sd6_autumn_start), in every registry shape.
@pytest.mark.parametrize("rule", ["SD1", "SD2", "SD3", "SD4", "SD5", "SD6"])
def test_shaped_suspected_dropout_rule(shaped_run, rule):
    from district_run import assert_same

    got_df = shaped_run.warehouse.query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    got = {(p, k) for p, k, rules in got_df.itertuples(index=False) if rule in rules.split(",")}
    want = shaped_run.truth_pairs(rule)
    assert want, f"the generator planted no {rule} case"
    assert_same(rule, got, want)


@pytest.mark.parametrize("case,away", [("OOS", False), ("OOS_AWAY", True)])
def test_shaped_out_of_school(shaped_run, case, away):
    from district_run import assert_same

    df = shaped_run.warehouse.query_df("SELECT period, id_number, verify_elsewhere FROM derived.out_of_school")
    got = {(p, i) for p, i, v in df.itertuples(index=False) if bool(v) == away}
    want = shaped_run.truth_pairs(case)
    assert want
    assert_same(case, got, want)


def test_shaped_home_teaching_and_escalations(shaped_run):
    from district_run import MONTHS, assert_same

    from assets.ledger import state_as_of_sql

    df = shaped_run.warehouse.query_df(
        "SELECT period, id_number FROM derived.home_teaching_compliance WHERE NOT compliant")
    want = shaped_run.truth_pairs("HT_NONCOMPLIANT", "id_number")
    assert want
    assert_same("HT_NONCOMPLIANT", set(map(tuple, df.itertuples(index=False))), want)
    escalated = set()
    for period in MONTHS:
        states = shaped_run.warehouse.query_df(state_as_of_sql(before=False), {"period": period})
        escalated |= {(period, k) for k, s in zip(states["person_key"], states["state"]) if s == "escalated"}
    want = shaped_run.truth_pairs("ESC")
    assert want
    assert_same("ESC", escalated, want)
