"""Files as bureaus really send them (DESIGN.md "Files as bureaus really send them", REAL_EXPORTS.md).

Each shape is written as real bytes (.xls by xlwt, .xlsx by openpyxl, CSV), read through the real reader
(:func:`kongchuo.readers.open_source_file` + :func:`kongchuo.normalize.normalize_frame`) and, for the
workbooks, ingested end to end into a real DuckDB warehouse through the Dagster asset. Expected values are
worked out by hand from the fixture rows.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any, Sequence

import dagster as dg
import pandas as pd
import pytest

from assets.ingest import staged_assets
from kongchuo import idnumber
from kongchuo.normalize import normalize_frame
from kongchuo.readers import ID_AS_NUMBER, IngestError, open_source_file
from kongchuo.sources import SPECS, normalize_header
from tests.conftest import write_extract

BORN = dt.date(2011, 1, 1)
IDS = [idnumber.make_id("411003", BORN, i) for i in range(201, 241)]
NAMES = ["张小明", "李明", "王小红", "赵四", "欧阳娜娜", "陈一一", "刘晓东", "孙丽", "周杰", "吴芳"] * 4
SCHOOL = "4110030001"
PERIOD = "2026-10"


# --- writers ---------------------------------------------------------------------------------------------

def xls_bytes(sheets: Sequence[tuple[str, Sequence[Sequence[Any]], int]]) -> bytes:
    """An Excel 97-2003 workbook: (sheet name, rows, visibility 0 visible / 1 hidden / 2 very hidden)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for name, rows, visibility in sheets:
        sheet = book.add_sheet(name)
        sheet.visibility = visibility
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None and value != "":
                    sheet.write(r, c, value)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[Sequence[Any]], str]]) -> bytes:
    """An .xlsx workbook: (sheet name, rows, state 'visible' / 'hidden' / 'veryHidden')."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows, state in sheets:
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        sheet.sheet_state = state
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def read(path: Path, source: str, townships: tuple[tuple[str, str], ...] = ()) -> tuple[pd.DataFrame, Any]:
    """The real reader and normaliser, as a parse job runs them."""
    opened = open_source_file(path, SPECS[source])
    frames = [normalize_frame(SPECS[source], c.assign(file_sha="x"), townships) for c in opened.chunks()]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), opened


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- a national-registry style .xls: sheets per grade, a hidden one, titles, totals, signatures ----------

REG_HEADER = ["序号", "全国学籍号*", "身份证件号★", "★姓名", "性别", "出生日期（必填）", "学校标识码", "年级", "班级",
              "学籍\n状态", "是否留守儿童", "学籍辅号", "身份证件类型"]


def reg_row(n: int, i: int, grade: str, status: str = "在籍", left: str = "非留守儿童", id_cell: Any = None) -> list:
    return [n, f"G{IDS[i]}", IDS[i] if id_cell is None else id_cell, NAMES[i], "1" if i % 2 == 0 else "2",
            "20110101", SCHOOL, grade, "1班", status, left, f"FZ{i:04d}", "居民身份证"]


def registry_xls() -> bytes:
    title = ["建安区实验学校2026年秋季学生学籍名册"]
    unit = ["填报单位（盖章）：建安区实验学校", "", "", "", "", "", "", "", "填报日期：2026年9月10日"]
    grade7 = [title, unit, REG_HEADER,
              reg_row(1, 0, "七年级", left="单亲留守儿童"),
              reg_row(2, 1, "七年级", status="保留学籍", left="双亲留守儿童"),
              reg_row(3, 2, "七年级", status="退学"),
              ["合计", "", "", "3人"],
              [],
              ["填表人：王老师", "", "", "", "审核人：李校长"]]
    grade8 = [title, REG_HEADER,
              reg_row(1, 3, "八年级"),
              reg_row(2, 5, "八年级", id_cell=float(IDS[5])),  # typed as a number: the tail is lost
              ["", "小计", "", "", "", "", "", "", "", "", "", "", ""],
              ["制表：教务处"]]
    notes = [["说明：本表由学籍系统导出"], ["各年级一个工作表"]]
    old = [REG_HEADER, reg_row(1, 6, "七年级"), reg_row(2, 7, "七年级")]  # last term's sheet, hidden
    return xls_bytes([("七年级", grade7, 0), ("八年级", grade8, 0), ("填表说明", notes, 0), ("上学期", old, 1)])


def test_xls_every_visible_sheet_titles_totals_and_notes(tmp_path: Path) -> None:
    frame, opened = read(write(tmp_path, "学籍_建安区.xls", registry_xls()), "registry")
    assert [t.sheet for t in opened.tables] == ["七年级", "八年级"]
    skipped = dict(opened.skipped_sheets)
    assert set(skipped) == {"填表说明", "上学期"} and "hidden" in skipped["上学期"]
    assert "缺少必填列" in skipped["填表说明"] and "填表说明" in skipped["填表说明"]
    assert dict(opened.skipped_rows) == {"合计": 1, "空行": 1, "填表人": 1, "小计": 1, "制表": 1}
    # 3 pupils on 七年级 (rows 4-6), 2 on 八年级 (rows 3-4); nothing from the hidden sheet
    assert frame["sheet"].tolist() == ["七年级"] * 3 + ["八年级"] * 2
    assert frame["row_no"].tolist() == [4, 5, 6, 3, 4]
    assert frame["student_no"].tolist() == [f"G{IDS[i]}" for i in (0, 1, 2, 3, 5)]
    assert frame["aux_student_no"].tolist() == [f"FZ{i:04d}" for i in (0, 1, 2, 3, 5)]
    assert frame["status"].tolist() == ["active", "suspended", "dropped_out", "active", "active"]
    assert frame["is_left_behind"].tolist() == [True, True, False, False, False]
    assert frame["is_left_behind_raw"].tolist()[:3] == ["单亲留守儿童", "双亲留守儿童", "非留守儿童"]
    assert frame["gender"].tolist() == ["M", "F", "M", "F", "F"]
    assert frame["birth_date"].astype(str).unique().tolist() == ["2011-01-01"]
    assert frame["grade"].tolist() == [7, 7, 7, 8, 8]
    assert frame["id_number"].iloc[:4].tolist() == IDS[:4]


def test_xls_id_typed_as_number_is_a_row_error(tmp_path: Path) -> None:
    frame, _ = read(write(tmp_path, "学籍_建安区.xls", registry_xls()), "registry")
    lost = frame.iloc[4]
    assert pd.isna(lost["id_number"]) and lost["id_number_raw"] is not None
    assert lost["row_error"] == f"学籍_建安区.xls 工作表「八年级」第 4 行 C 列（身份证件号★）：{ID_AS_NUMBER}"
    assert IDS[5] not in lost["row_error"] and IDS[5][:15] not in lost["row_error"]
    assert frame["row_error"].iloc[:4].isna().all()


def test_xls_end_to_end(kongchuo_home: Path, resources, dagster_instance, warehouse) -> None:
    write_extract(kongchuo_home / "landing" / "registry" / "学籍_建安区.xls", data=registry_xls())
    result = dg.materialize([staged_assets["registry"]], partition_key=PERIOD, resources=resources,
                            instance=dagster_instance)
    assert result.success
    md = result.get_asset_materialization_events()[-1].materialization.metadata
    assert md["rows_ingested"].value == 5 and md["quarantined_count"].value == 0
    assert md["skipped_rows"].value == {"学籍_建安区.xls": {"合计": 1, "空行": 1, "填表人": 1, "小计": 1, "制表": 1}}
    assert "上学期" in md["skipped_sheets"].value and "填表说明" in md["skipped_sheets"].value
    staged = warehouse.query_df("SELECT sheet, row_no, student_no, aux_student_no, id_number, status, row_error "
                                "FROM staged.registry ORDER BY sheet, row_no")
    assert staged["sheet"].tolist() == ["七年级"] * 3 + ["八年级"] * 2
    assert staged["status"].tolist() == ["active", "suspended", "dropped_out", "active", "active"]
    assert staged["id_number"].isna().tolist() == [False, False, False, False, True]
    assert staged["row_error"].notna().sum() == 1 and "第 4 行 C 列" in staged["row_error"].dropna().iloc[0]
    # the row whose ID was lost stays its own record (keyed by its student number), never merged
    current = warehouse.scalar("SELECT count(*) FROM staged.registry_current")
    assert current == 5


# --- .xlsx: several visible sheets and a very hidden one, decorated headers, national names ---------------

XLSX_HEADER = ["个人标识码", "身份证件类型", "身份证件号\n(必填)", "姓名★", "＊性别", "出生日期（必填）", "学校标识码（必填）",
               "年级", "班级（选填）", "学籍状态", "是否进城务工人员随迁子女", "是否残疾", "户口所在地", "入学年月"]


def xlsx_row(i: int, id_cell: Any = None, status: str = "在读") -> list:
    return [f"G{IDS[i]}", "居民身份证", IDS[i] if id_cell is None else id_cell, NAMES[i], 1 if i % 2 == 0 else 2,
            "20110101", SCHOOL, "初一", "1班", status, "是" if i == 10 else "否", "非残疾" if i != 11 else "残疾",
            "411003", "201709"]


def registry_xlsx() -> bytes:
    class1 = [["建安区第一中学七年级（1）班学生名册（2026年秋季学期，按全国中小学生学籍信息管理系统导出格式整理）"],
              ["填报单位（盖章）：", "", "建安区第一中学"], ["填报日期：2026年9月"], XLSX_HEADER,
              xlsx_row(10), xlsx_row(11), xlsx_row(12, id_cell="4.11003E+17"),
              ["总计", "", "", "3"], ["复核人：", "", "", "", "说明：无"]]
    class2 = [XLSX_HEADER, xlsx_row(13), xlsx_row(14, status="转出"), [], xlsx_row(15)]
    old = [XLSX_HEADER, xlsx_row(16), xlsx_row(17)]
    return xlsx_bytes([("七（1）班", class1, "visible"), ("七（2）班", class2, "visible"),
                       ("2025春", old, "veryHidden")])


def test_xlsx_sheets_decorated_headers_and_national_names(tmp_path: Path) -> None:
    frame, opened = read(write(tmp_path, "学籍_一中.xlsx", registry_xlsx()), "registry")
    assert [t.sheet for t in opened.tables] == ["七（1）班", "七（2）班"]
    assert opened.skipped_sheets == [("2025春", "隐藏工作表 hidden sheet")]
    assert dict(opened.skipped_rows) == {"总计": 1, "复核人": 1, "空行": 1}
    assert opened.tables[0].header_row == 4 and "身份证件类型" in opened.tables[0].ignored_columns
    assert frame["row_no"].tolist() == [5, 6, 7, 2, 3, 5]
    assert frame["student_no"].tolist() == [f"G{IDS[i]}" for i in (10, 11, 12, 13, 14, 15)]
    assert frame["gender"].tolist() == ["M", "F", "M", "F", "M", "F"]
    assert frame["is_migrant"].tolist() == [True] + [False] * 5
    assert frame["is_disabled"].tolist() == [False, True, False, False, False, False]
    assert frame["enrolled_on"].astype(str).unique().tolist() == ["2017-09-01"]
    assert frame["hukou_region_code"].unique().tolist() == ["411003"]
    assert frame["status"].tolist() == ["active"] * 4 + ["transferred_out", "active"]
    sci = frame.iloc[2]
    assert pd.isna(sci["id_number"]) and sci["id_number_raw"] == "4.11003E+17"
    assert sci["row_error"] == f"学籍_一中.xlsx 工作表「七（1）班」第 7 行 C 列（身份证件号 (必填)）：{ID_AS_NUMBER}"


@pytest.mark.parametrize("decorated,plain", [
    ("★姓名", "姓名"), ("姓名★", "姓名"), ("*学籍状态", "学籍状态"), ("学籍状态＊", "学籍状态"),
    ("出生\n日期", "出生日期"), ("出生日期（必填）", "出生日期"), ("班级(选填)", "班级"), ("　学 校 标 识 码　", "学校标识码"),
    ("村（社区）", "村(社区)"), ("身份证件号\r\n（必填）★", "身份证件号"),
])
def test_header_decorations(decorated: str, plain: str) -> None:
    assert normalize_header(decorated) == normalize_header(plain)
    assert SPECS["registry"].alias_map.get(normalize_header(decorated)) == SPECS["registry"].alias_map.get(
        normalize_header(plain)) or SPECS["census"].alias_map.get(normalize_header(decorated))


def test_aux_student_no_is_never_student_no() -> None:
    registry = SPECS["registry"].alias_map
    assert registry[normalize_header("学籍辅号")] == "aux_student_no"
    assert registry[normalize_header("个人标识码")] == "student_no"
    assert normalize_header("学籍辅号") not in SPECS["attendance"].alias_map


def test_csv_ids_from_excel_numbers(tmp_path: Path) -> None:
    """A CSV saved from a sheet whose ID column was a number shows 4.11003E+17: a row error. A lone 18-digit ID
    ending 000 with a wrong check digit stays an (invalid) ID for DQ01: one mistyped ID must not block a district."""
    cut = IDS[20][:15] + "000"
    assert idnumber.check_digit(cut[:17]) != "0"  # so the check digit proves the tail is lost
    rows = [["全国学籍号", "身份证号", "姓名", "性别", "出生日期", "学校标识码", "年级", "学籍状态"],
            [f"G{IDS[20]}", "4.11003E+17", NAMES[0], "男", "2011-01-01", SCHOOL, "1", "在读"],
            [f"G{IDS[21]}", cut, NAMES[1], "女", "2011-01-01", SCHOOL, "1", "在读"],
            [f"G{IDS[22]}", IDS[22], NAMES[2], "男", "2011-01-01", SCHOOL, "1", "在读"]]
    path = write_extract(tmp_path / "学籍.csv", rows)
    frame, _ = read(path, "registry")
    assert frame["id_number"].isna().tolist() == [True, False, False]
    assert frame["id_number"].iloc[1] == cut and not idnumber.is_valid(cut)
    assert frame["row_error"].iloc[0] == f"学籍.csv 第 2 行 B 列（身份证号）：{ID_AS_NUMBER}"
    assert frame["row_error"].iloc[1:].isna().all()


# --- attendance: leave columns, and the class teacher's month grid --------------------------------------

def test_attendance_leave_columns(tmp_path: Path) -> None:
    rows = [["学籍号", "学校标识码", "日期", "是否请假", "请假类型"],
            ["G1", SCHOOL, "2026-10-09", "是", "病假"],
            ["G2", SCHOOL, "2026-10-09", "是", "事假"],
            ["G3", SCHOOL, "2026-10-09", "否", ""],
            ["G4", SCHOOL, "2026-10-09", "是", ""],
            ["G5", SCHOOL, "2026-10-09", "也许", ""]]
    frame, _ = read(write_extract(tmp_path / "考勤.csv", rows), "attendance")
    assert frame["status"].tolist()[:4] == ["sick_leave", "personal_leave", "present", "personal_leave"]
    assert pd.isna(frame["status"].iloc[4]) and frame["status_raw"].iloc[4] == "也许"
    assert frame["status_raw"].tolist()[:3] == ["是/病假", "是/事假", "否"]


def test_attendance_status_words_late_and_typed_leave(tmp_path: Path) -> None:
    rows = [["学籍号", "学校标识码", "日期", "考勤状态", "请假类型"],
            ["G1", SCHOOL, "2026-10-09", "迟到", ""], ["G2", SCHOOL, "2026-10-09", "早退", ""],
            ["G3", SCHOOL, "2026-10-09", "请假", "病假"], ["G4", SCHOOL, "2026-10-09", "旷课", ""]]
    frame, _ = read(write_extract(tmp_path / "考勤.csv", rows), "attendance")
    assert frame["status"].tolist() == ["present", "present", "sick_leave", "unexcused"]


def month_grid_xlsx() -> bytes:
    days = [str(d) for d in range(1, 32)]
    marks1 = ["√"] * 31
    marks1[1], marks1[2], marks1[30] = "病", "事", ""  # 2nd sick, 3rd personal, 31st no roll call
    marks2 = [""] * 31
    marks2[0], marks2[4] = "旷", "✓"
    rows = [["建安区实验小学三年级（2）班 2026年10月 学生考勤表"],
            ["学校标识码：2410030069", "", "班主任：张老师"],
            ["序号", "学籍号", "姓名", *days],
            [1, f"G{IDS[30]}", NAMES[0], *marks1],
            [2, f"G{IDS[31]}", NAMES[1], *marks2],
            ["合计", "", "", *["" for _ in days]],
            ["填表人：张老师"]]
    return xlsx_bytes([("10月", rows, "visible")])


def test_month_grid_from_title_lines(tmp_path: Path) -> None:
    frame, opened = read(write(tmp_path, "三年级2班考勤.xlsx", month_grid_xlsx()), "attendance")
    grid = opened.tables[0].grid
    assert grid is not None and grid.year_month == (2026, 10) and grid.school_code == "2410030069"
    assert dict(opened.skipped_rows) == {"合计": 1, "填表人": 1}
    first = frame[frame["student_no"] == f"G{IDS[30]}"]
    second = frame[frame["student_no"] == f"G{IDS[31]}"]
    assert len(first) == 30 and len(second) == 2  # 31 days minus the blank 31st; two marks
    assert (first["row_no"] == 4).all() and (second["row_no"] == 5).all()
    assert (frame["school_code"] == "2410030069").all()
    by_day = dict(zip(first["date"].astype(str), first["status"]))
    assert by_day["2026-10-01"] == "present" and by_day["2026-10-02"] == "sick_leave"
    assert by_day["2026-10-03"] == "personal_leave" and "2026-10-31" not in by_day
    assert second["date"].astype(str).tolist() == ["2026-10-01", "2026-10-05"]
    assert second["status"].tolist() == ["unexcused", "present"]
    assert first["status_raw"].iloc[0] == "√"


def test_month_grid_from_file_name_and_columns(tmp_path: Path) -> None:
    days = [f"{d}日" for d in range(1, 31)]
    rows = [["学校标识码", "身份证号", "姓名", *days],
            [SCHOOL, IDS[32], NAMES[2], *(["√"] * 29 + ["旷"])],
            [SCHOOL, IDS[33], NAMES[3], *(["事"] + [""] * 29)]]
    frame, opened = read(write_extract(tmp_path / "考勤_2026-11.csv", rows), "attendance")
    assert opened.tables[0].grid.year_month == (2026, 11)
    assert len(frame) == 31 and (frame["school_code"] == SCHOOL).all()
    last = frame[frame["id_number"] == IDS[32]].iloc[-1]
    assert str(last["date"]) == "2026-11-30" and last["status"] == "unexcused" and last["row_no"] == 2
    only = frame[frame["id_number"] == IDS[33]]
    assert only["date"].astype(str).tolist() == ["2026-11-01"] and only["status"].tolist() == ["personal_leave"]


def test_month_grid_without_a_month_is_one_clear_error(tmp_path: Path) -> None:
    rows = [["学籍号", "学校标识码", *[str(d) for d in range(1, 31)]], ["G1", SCHOOL, *(["√"] * 30)]]
    with pytest.raises(IngestError) as err:
        open_source_file(write_extract(tmp_path / "考勤.csv", rows), SPECS["attendance"])
    assert str(err.value).startswith("考勤.csv 第 1 行（表头），C–AF 列（日期列）：月考勤表找不到年月")


def test_month_grid_end_to_end(kongchuo_home: Path, resources, dagster_instance, warehouse) -> None:
    write_extract(kongchuo_home / "landing" / "attendance" / "三年级2班考勤.xlsx", data=month_grid_xlsx())
    result = dg.materialize([staged_assets["attendance"]], partition_key=PERIOD, resources=resources,
                            instance=dagster_instance)
    assert result.success
    md = result.get_asset_materialization_events()[-1].materialization.metadata
    assert md["rows_ingested"].value == 32
    assert md["skipped_rows"].value == {"三年级2班考勤.xlsx": {"合计": 1, "填表人": 1}}
    got = warehouse.query_df("SELECT status, count(*) AS n FROM staged.attendance GROUP BY status ORDER BY status")
    assert dict(zip(got["status"], got["n"])) == {"personal_leave": 1, "present": 29, "sick_leave": 1,
                                                  "unexcused": 1}
    assert warehouse.scalar("SELECT count(DISTINCT sheet) FROM staged.attendance WHERE sheet = '10月'") == 1


# --- public-security household extract (census) ---------------------------------------------------------

TOWNSHIPS = (("411003001", "新元街道"), ("411003002", "长村张街道"), ("411003101", "五女店镇"),
             ("411003102", "尚集镇"), ("411003009", "长村"))


def ps_rows() -> list[list[Any]]:
    header = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "户籍地址", "户号", "与户主关系", "人员状态", "注销原因"]
    return [["户籍人口信息（公安户籍系统导出）"], header,
            [IDS[34], NAMES[4], "男", "20110101", "汉族", "河南省许昌市建安区五女店镇王庄村3组", "001", "孙子", "正常", ""],
            [IDS[35], NAMES[5], "女", "20110101", "汉族", "河南省许昌市建安区长村张街道幸福社区", "002", "女", "注销", "迁出"],
            [IDS[36], NAMES[6], "男", "20110101", "汉族", "河南省许昌市建安区尚集镇", "003", "子", "注销", "死亡"],
            [IDS[37], NAMES[7], "女", "20110101", "汉族", "许昌市某区幸福路8号", "004", "女", "正常", ""],
            [IDS[38], NAMES[8], "男", "20110101", "汉族", "五女店镇与尚集镇交界处", "005", "子", "注销", "出国"],
            [IDS[39], NAMES[9], "女", "20110101", "汉族", "长村张街道", "006", "女", "注销", ""]]


def test_public_security_extract(tmp_path: Path) -> None:
    frame, opened = read(write_extract(tmp_path / "户籍_公安.csv", ps_rows()), "census", TOWNSHIPS)
    assert opened.tables[0].header_row == 2
    assert frame["residence_status"].tolist()[:5] == ["resident", "moved_out", "deceased", "resident", "moved_out"]
    assert pd.isna(frame["residence_status"].iloc[5]) and frame["residence_status_raw"].iloc[5] == "注销"
    assert frame["residence_status_raw"].iloc[1] == "注销/迁出"
    # 长村张街道, not 长村 (longest match); row 6 names no reference township, row 7 two
    assert frame["township_code"].tolist()[:3] == ["411003101", "411003002", "411003102"]
    assert frame["township_code"].iloc[[3, 4]].isna().all() and frame["township_code"].iloc[5] == "411003002"
    assert frame["row_error"].iloc[3] == "户籍_公安.csv 第 6 行 F 列（户籍地址）：户籍地址中找不到参考名录中的乡镇名称"
    assert frame["row_error"].iloc[4] == "户籍_公安.csv 第 7 行 F 列（户籍地址）：户籍地址中有多个乡镇名称，无法确定乡镇"
    assert frame["row_error"].iloc[[0, 1, 2, 5]].isna().all()


def test_region_code_gives_the_township(tmp_path: Path) -> None:
    rows = [["公民身份号码", "姓名", "性别", "出生日期", "户籍区划", "户口状态"],
            [IDS[34], NAMES[4], "1", "2011-01-01", "411003101000", "正常"],
            [IDS[35], NAMES[5], "2", "2011-01-01", "411003", "正常"]]
    frame, _ = read(write_extract(tmp_path / "户籍.csv", rows), "census", TOWNSHIPS)
    assert frame["township_code"].iloc[0] == "411003101" and pd.isna(frame["township_code"].iloc[1])


def test_public_security_extract_end_to_end(kongchuo_home: Path, resources, dagster_instance, warehouse) -> None:
    """The township names reach the parse job from reference/townships.csv (the bundled one here)."""
    write_extract(kongchuo_home / "landing" / "census" / "户籍_公安.xlsx", data=xlsx_bytes([("人口", ps_rows(), "visible")]))
    result = dg.materialize([staged_assets["census"]], partition_key=PERIOD, resources=resources,
                            instance=dagster_instance)
    assert result.success
    got = warehouse.query_df("SELECT row_no, township_code, residence_status, row_error, sheet FROM staged.census "
                             "ORDER BY row_no")
    assert got["row_no"].tolist() == [3, 4, 5, 6, 7, 8]
    assert got["township_code"].tolist()[:3] == ["411003101", "411003002", "411003102"]
    assert got["row_error"].notna().tolist() == [False, False, False, True, True, False]
    assert got["row_error"].iloc[3].startswith("户籍_公安.xlsx 工作表「人口」第 6 行 F 列（户籍地址）：")


# --- deferral roster (exemptions) -------------------------------------------------------------------------

def test_deferral_roster_ranges(tmp_path: Path) -> None:
    rows = [["XX镇延缓入学学生名单"], ["序号", "身份证件号", "姓名", "申请类别", "批准时间", "缓学期限", "原因"],
            [1, IDS[0], NAMES[0], "延缓入学", "2026-08-20", "2026.09-2027.08", "疾病"],
            [2, IDS[1], NAMES[1], "缓学", "", "2026年9月至2027年2月", "疾病"],
            [3, IDS[2], NAMES[2], "休学", "2026/9/1", "2026-09~2027-08", "疾病"],
            [4, IDS[3], NAMES[3], "延缓入学", "2026-08-20", "一年", "疾病"],
            ["合计", "", "4人"]]
    frame, opened = read(write_extract(tmp_path / "缓学名单.csv", rows), "exemptions")
    assert dict(opened.skipped_rows) == {"合计": 1}
    assert frame["kind"].tolist() == ["deferral", "deferral", "suspension", "deferral"]
    assert frame["valid_until"].astype(str).tolist()[:3] == ["2027-08-31", "2027-02-28", "2027-08-31"]
    assert frame["approved_on"].astype(str).tolist() == ["2026-08-20", "2026-09-01", "2026-09-01", "2026-08-20"]
    assert pd.isna(frame["valid_until"].iloc[3]) and frame["valid_until_raw"].iloc[3] == "一年"


def test_row_errors_are_dq03_findings(kongchuo_home: Path, resources, dagster_instance, warehouse) -> None:
    """The lost ID is listed by DQ03 with file, sheet, row and column (and no value)."""
    from checks import rules

    write_extract(kongchuo_home / "landing" / "registry" / "学籍_建安区.xls", data=registry_xls())
    assert dg.materialize([staged_assets["registry"]], partition_key=PERIOD, resources=resources,
                          instance=dagster_instance).success
    found = warehouse.query_df(rules.dq03_sql("registry"), {"period": PERIOD, "start": dt.date(2026, 10, 1),
                                                             "end": dt.date(2026, 10, 31), "run_id": "t",
                                                             "source": "registry"})
    lost = found[found["col"] == "row_error"]
    assert lost["row_no"].tolist() == [4]
    assert lost["detail"].iloc[0] == f"学籍_建安区.xls 工作表「八年级」第 4 行 C 列（身份证件号★）：{ID_AS_NUMBER}"
    assert lost["record_key"].iloc[0] == f"G{IDS[5]}"


def test_month_grid_with_a_year_month_column(tmp_path: Path) -> None:
    rows = [["学籍号", "学校标识码", "年月", *[f"10月{d}日" for d in range(1, 8)]],
            ["G1", SCHOOL, "2026年10月", "√", "√", "旷", "", "", "√", "√"],
            ["G2", SCHOOL, "2026-09", "", "病", "", "", "", "", ""]]
    frame, opened = read(write_extract(tmp_path / "考勤.csv", rows), "attendance")
    assert opened.tables[0].grid is not None and opened.tables[0].grid.year_month is None
    assert frame[frame["student_no"] == "G1"]["date"].astype(str).tolist() == [
        "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-06", "2026-10-07"]
    g2 = frame[frame["student_no"] == "G2"]
    assert g2["date"].astype(str).tolist() == ["2026-09-02"] and g2["status"].tolist() == ["sick_leave"]


def test_workbook_without_a_matching_sheet_is_quarantined_with_one_message(
        kongchuo_home: Path, resources, dagster_instance, warehouse) -> None:
    header = ["全国学籍号", "身份证号", "姓名", "性别", "出生日期", "学校标识码", "学藉状态"]
    book = xlsx_bytes([("封面", [["建安区学籍名册"]], "visible"),
                       ("名册", [["建安区学籍名册"], header, [f"G{IDS[0]}", IDS[0], NAMES[0], "男", "2011-01-01",
                                                        SCHOOL, "在读"]], "visible")])
    write_extract(kongchuo_home / "landing" / "registry" / "学籍_xx.xlsx", data=book)
    result = dg.materialize([staged_assets["registry"]], partition_key=PERIOD, resources=resources,
                            instance=dagster_instance)
    assert result.success
    error = warehouse.query_df("SELECT status, error FROM raw.files")
    assert error["status"].tolist() == ["quarantined"]
    assert error["error"].iloc[0] == (
        "学籍_xx.xlsx 工作表「名册」：第 2 行（表头），A–G 列：缺少必填列：年级（grade）、学籍状态（status）；"
        "找到的表头：「全国学籍号」、「身份证号」、「姓名」、「性别」、「出生日期」、「学校标识码」、「学藉状态」；「学藉状态」可能是「学籍状态」")
    note = (kongchuo_home / "quarantine" / "registry" / "学籍_xx.xlsx.error.txt").read_text(encoding="utf-8")
    assert note.startswith(error["error"].iloc[0]) and IDS[0] not in note and NAMES[0] not in note


def test_townships_reach_worker_processes(tmp_path: Path) -> None:
    """Census parse jobs carry the township names, so a worker process (spawned) finds them too."""
    from kongchuo.parsing import ParseJob, parse_all

    jobs = []
    for k in range(2):
        path = write_extract(tmp_path / f"户籍_{k}.csv", ps_rows())
        jobs.append(ParseJob("census", path, path.name, f"{k}" * 64, tmp_path / f"scratch{k}", townships=TOWNSHIPS))
    parsed = list(parse_all(jobs, workers=2, min_bytes=0))
    for result in parsed:
        assert result.error is None, result.error
        table = pd.concat([t.to_pandas() for t in result.tables()])
        assert table["township_code"].tolist()[:3] == ["411003101", "411003002", "411003102"]
        result.discard()


def test_workbooks_are_read_by_content_not_by_name(tmp_path: Path) -> None:
    rows = [["全国学籍号", "姓名", "性别", "出生日期", "学校标识码", "年级", "学籍状态"],
            [f"G{IDS[0]}", NAMES[0], "男", "2011-01-01", SCHOOL, "1", "在读"]]
    for name, data in (("a.xls", xlsx_bytes([("s", rows, "visible")])), ("b.xlsx", xls_bytes([("s", rows, 0)]))):
        frame, _ = read(write(tmp_path, name, data), "registry")
        assert frame["student_no"].tolist() == [f"G{IDS[0]}"], name


def test_ingest_preview_masks_the_aux_student_number(kongchuo_home: Path, resources, dagster_instance) -> None:
    write_extract(kongchuo_home / "landing" / "registry" / "学籍_建安区.xls", data=registry_xls())
    result = dg.materialize([staged_assets["registry"]], partition_key=PERIOD, resources=resources,
                            instance=dagster_instance)
    preview = result.get_asset_materialization_events()[-1].materialization.metadata["preview"].value
    assert "FZ0000" not in preview and IDS[0] not in preview and NAMES[0] not in preview


def test_two_children_whose_numbers_collapse_stay_two_rows(kongchuo_home: Path, resources, dagster_instance,
                                                           warehouse) -> None:
    """Twins' IDs differ in the last digits only: as Excel numbers they are the same number. Both rows land with
    a NULL ID and a row error each; the current census never merges them into one child."""
    a, b = idnumber.make_id("411003", BORN, 302), idnumber.make_id("411003", BORN, 303)
    assert a[:15] == b[:15] and a != b
    header = ["公民身份号码", "姓名", "性别", "出生日期", "乡镇代码", "人员状态"]
    rows = [header, [float(a), NAMES[0], "男", "20110101", "411003101", "正常"],
            [float(b), NAMES[1], "女", "20110101", "411003101", "正常"],
            [IDS[0], NAMES[2], "男", "20110101", "411003101", "正常"]]
    write_extract(kongchuo_home / "landing" / "census" / "户籍.xls", data=xls_bytes([("户籍", rows, 0)]))
    assert dg.materialize([staged_assets["census"]], partition_key=PERIOD, resources=resources,
                          instance=dagster_instance).success
    got = warehouse.query_df("SELECT row_no, id_number, row_error FROM staged.census ORDER BY row_no")
    assert got["row_no"].tolist() == [2, 3, 4] and got["id_number"].isna().tolist() == [True, True, False]
    assert got["row_error"].notna().tolist() == [True, True, False]
    assert warehouse.scalar("SELECT count(*) FROM staged.census_current") == 1
