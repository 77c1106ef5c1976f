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
