"""Two of issue 13's failures, with real files in a real KONGCHUO_HOME through the real monthly job (the staged
asset alone is tested in test_real_exports): a registry workbook with one sheet per grade and a hidden stale
sheet, and IDs exported as ``4.11003E+17`` (Excel keeps 15 significant digits).

Hand-worked (two new schools of an existing township, nobody of them in the roll call, so every active child is
SD5 and R1 counts them enrolled and suspected): the workbook school has the six children of its two visible
sheets, none of the hidden sheet's three; the float-ID school has three children, not one, each float ID a DQ03
row finding naming its row and column (the children keep their student numbers as their key)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from kongchuo import idnumber
from tests.bad_inputs import REGISTRY_HEADER, csv_bytes

BORN = dt.date(2013, 6, 7)
PERIOD = "2026-10"


def _rows(ids: list[str], school: str, grade: str) -> list[list[object]]:
    return [[f"G{i}", i, "学生", "女", BORN.isoformat(), school, grade, "在读"] for i in ids]


def _workbook(path: Path, visible: dict[str, list[list[object]]], hidden: dict[str, list[list[object]]]) -> None:
    import openpyxl  # writing only: everything is read back with calamine

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in {**hidden, **visible}.items():  # the hidden stale sheet first, where a naive reader looks
        sheet = book.create_sheet(name)
        sheet.append(REGISTRY_HEADER)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    book.active = len(hidden)
    book.save(path)


def _r1_rows(path: Path) -> tuple[list[str], list[list[object]]]:
    book = CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name("月报").to_python()
    header = next(r for r in rows if "在籍学生数" in r)
    return [str(h) for h in header], rows


def test_every_visible_sheet_no_hidden_sheet_and_float_ids_through_the_monthly_job(
        tmp_path: Path, autumn: Path, monkeypatch: pytest.MonkeyPatch, dagster_instance) -> None:
    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=autumn)
    sheets_school, float_school = "2410039921", "2410039922"
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{sheets_school},建安区分年级测试学校,411003001,初中,false\n")
        fh.write(f"{float_school},建安区科学计数测试学校,411003001,初中,false\n")
    people = [idnumber.make_id("411003", BORN, 600 + i) for i in range(9)]
    grade7, grade8, stale = people[0:3], people[3:6], people[6:9]
    landing = home / "landing" / "registry"
    _workbook(landing / f"学籍_{sheets_school}_20261008.xlsx",
              visible={"初一": _rows(grade7, sheets_school, "初一"), "初二": _rows(grade8, sheets_school, "初二")},
              hidden={"旧名单": _rows(stale, sheets_school, "初一")})
    # three children whose IDs Excel turned into the same number; their student numbers (L: temporary) differ
    float_rows = [[f"L{float_school}{n:04d}", "4.11003E+17", f"学生{n}", "男", BORN.isoformat(), float_school,
                   "初二", "在读"] for n in range(3)]
    (landing / f"学籍_{float_school}_20261008.csv").write_bytes(csv_bytes([REGISTRY_HEADER] + float_rows))

    outcome = run_home(home, PERIOD, dagster_instance)
    assert outcome.success, outcome.summary()
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    suspected = warehouse.query_df("SELECT id_number, student_no, school_code, rules FROM derived.suspected_dropouts "
                                   "WHERE period = :p AND school_code IN (:a, :b)",
                                   {"p": PERIOD, "a": sheets_school, "b": float_school})
    by_school = suspected.groupby("school_code")
    assert set(by_school.get_group(sheets_school)["id_number"]) == set(grade7 + grade8)  # not the stale three
    floats = by_school.get_group(float_school)
    assert sorted(floats["student_no"]) == [f"L{float_school}{n:04d}" for n in range(3)]  # three, not merged
    assert floats["id_number"].isna().all() and set(suspected["rules"]) == {"SD5"}

    header, rows = _r1_rows(home / "reports" / PERIOD / "建安区_2026年10月_控辍保学月报.xlsx")
    enrolled = header.index("在籍学生数")  # the suspected total (合计 under its group header) follows it
    for school, n in ((sheets_school, 6), (float_school, 3)):
        [row] = [r for r in rows if school in [str(v) for v in r]]
        assert row[enrolled] == n and row[enrolled + 1] == n, (school, row[:enrolled + 2])

    found = warehouse.query_df(
        "SELECT f.row_no, f.detail, f.severity FROM checks.findings f JOIN raw.files r ON r.file_sha = f.file_sha "
        "WHERE f.run_id = :r AND f.check_id = 'DQ03' AND f.source = 'registry' AND r.original_name = :n "
        "ORDER BY f.row_no", {"r": outcome.run_id, "n": f"学籍_{float_school}_20261008.csv"})
    assert list(found["row_no"]) == [2, 3, 4] and set(found["severity"]) == {"warn"}
    for row_no, detail in zip(found["row_no"], found["detail"]):
        assert f"第 {row_no} 行 B 列（身份证号）" in detail, detail
    assert not warehouse.query_df(  # nothing of the hidden sheet anywhere in the current registry
        "SELECT 1 FROM staged.registry_current WHERE id_number IN (:a, :b, :c)",
        dict(zip("abc", stale))).shape[0]
    warehouse.dispose()
