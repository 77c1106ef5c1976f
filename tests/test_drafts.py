"""Drafts instead of wrong reports (issue 13): one quarantined delivery never fails the district's run; every run
of the period (not only the one that quarantined it) builds the reports as drafts — 草稿 in title and file
name, a first sheet listing the file to fix and the schools and townships it affects, ``"complete": false`` in
the manifest — until a valid replacement lands; then the final reports appear by themselves.

A generated district (300 students, March–April 2026) is run through the real monthly job."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import use_home
from python_calamine import CalamineWorkbook
from run_home import run_home

from assets import completeness
from kongchuo.settings import default_warehouse_url
from warehouse.resource import WarehouseResource

PERIOD = "2026-04"
QUARTER = "2026-Q2"
R1 = "控辍保学月报"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("drafts") / "generated"
    generate("411003", 300, 5, dt.date(2026, 3, 2), dt.date(2026, 4, 30), out)
    return out


def _r1(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(f"*_{R1}*.xlsx"))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _sheets(path: Path) -> dict[str, list[list[object]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def test_a_quarantined_delivery_makes_drafts_until_it_is_replaced(tmp_path: Path, generated: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   dagster_instance, capfd) -> None:
    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    school = pd.read_csv(home / "reference" / "schools.csv", dtype=str).iloc[0] if (
        home / "reference" / "schools.csv").exists() else None
    code = school["school_code"] if school is not None else "4110031001"
    bad_name = f"学籍_{code}_2026-04.csv"
    (home / "landing" / "registry" / bad_name).write_bytes("姓名,备注\n张三,这不是学籍表\n".encode("utf-8"))
    folder = home / "reports" / PERIOD

    first = run_home(home, PERIOD, dagster_instance)
    assert first.success, first.summary()
    console = capfd.readouterr()
    assert "Traceback" not in console.out + console.err  # a quarantine is news for the bureau, not a crash
    assert _r1(folder) == [f"建安区_2026年04月_{R1}_草稿.xlsx"]
    sheets = _sheets(folder / _r1(folder)[0])
    notice_name, report_name = list(sheets)[:2]
    assert notice_name == "待补全文件"
    notice = "\n".join(" ".join(str(v) for v in row) for row in sheets[notice_name])
    assert "草稿" in notice and bad_name in notice and "registry" in notice
    if school is not None:
        assert f"{school['school_name']}（{code}）" in notice
    assert "【草稿】" in str(sheets[report_name][0][0])
    fix_lists = sorted(p.name for p in folder.glob("*整改*.xlsx"))
    assert fix_lists and all(n.endswith("_草稿.xlsx") for n in fix_lists)  # R5 too
    assert list(_sheets(folder / fix_lists[0]))[0] == "待补全文件"
    manifest = _manifest(folder)
    assert manifest["complete"] is False
    assert [(i["source"], i["file"]) for i in manifest["incomplete_inputs"]] == [("registry", bad_name)]
    assert _portal_status(home) == ("draft", "草稿（待补全）")
    _assert_every_report_is_a_draft(folder, bad_name, expected={"R1", "R3", "R4", "R5", "R6"})

    quarter = run_home(home, QUARTER, dagster_instance)  # R2 of the quarter holding April: a draft too
    assert quarter.success, quarter.summary()
    _assert_every_report_is_a_draft(home / "reports" / QUARTER, bad_name, expected={"R2"})

    again = run_home(home, PERIOD, dagster_instance)  # a plain re-run still knows
    assert again.success, again.summary()
    assert _r1(folder) == [f"建安区_2026年04月_{R1}_草稿.xlsx"] and _manifest(folder)["complete"] is False
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    assert list(completeness.open_quarantines(warehouse, PERIOD)["file"]) == [bad_name]
    assert list(completeness.open_quarantines(warehouse, "2026-03")["file"]) == []  # named April: not March

    good = sorted((home / "landing" / "registry").glob("学籍_*.csv"))[0]
    corrected = home / "landing" / "registry" / f"学籍_{code}_2026-04_更正.csv"
    corrected.write_bytes(good.read_bytes() + b"\n")  # a valid file, not byte-identical to an earlier one
    final = run_home(home, PERIOD, dagster_instance)
    assert final.success, final.summary()
    assert _r1(folder) == [f"建安区_2026年04月_{R1}.xlsx"]
    assert "待补全文件" not in _sheets(folder / _r1(folder)[0])
    assert _manifest(folder)["complete"] is True and not any("草稿" in p.name for p in folder.iterdir())
    assert _portal_status(home) == ("current", "当前版本")
    assert {r["report"] for r in _manifest(folder)["reports"]} >= {"R1", "R3", "R4", "R5", "R6"}
    for path in folder.glob("*.xlsx"):  # R3 included: no notice sheet, no 【草稿】 title left
        first = _sheets(path)
        assert "待补全文件" not in first and "草稿" not in str(next(iter(first.values()))[0][0]), path.name
    final_quarter = run_home(home, QUARTER, dagster_instance)
    assert final_quarter.success, final_quarter.summary()
    assert _manifest(home / "reports" / QUARTER)["complete"] is True
    assert not any("草稿" in p.name for p in (home / "reports" / QUARTER).iterdir())
    warehouse.dispose()


def _assert_every_report_is_a_draft(folder: Path, bad_name: str, expected: set[str]) -> None:
    """Every workbook of the folder (all of ``expected`` among them, per the manifest) is a draft: 草稿 in the
    file name, the 待补全文件 sheet first naming the bad file, 【草稿】 in the title of the next sheet."""
    manifest = _manifest(folder)
    assert manifest["complete"] is False
    listed = {r["report"]: r["file"] for r in manifest["reports"]}
    assert expected <= set(listed), (expected, listed)
    books = sorted(folder.glob("*.xlsx"))
    assert books and {r["file"] for r in manifest["reports"]} == {p.name for p in books}
    for path in books:
        assert path.stem.endswith("_草稿"), path.name
        sheets = _sheets(path)
        names = list(sheets)
        assert names[0] == "待补全文件", path.name
        notice = "\n".join(" ".join(str(v) for v in row) for row in sheets[names[0]])
        assert bad_name in notice and "草稿" in notice, path.name
        assert len(names) > 1 and str(sheets[names[1]][0][0]).startswith("【草稿】"), path.name


def _portal_status(home: Path) -> tuple[str, str]:
    """How the portal lists the period's R1: 草稿（待补全） while the manifest says the inputs are incomplete."""
    from portal.catalog import Catalogue

    [r1] = [r for r in Catalogue(home / "reports", b"s").scan() if r.kind == "R1" and r.period == PERIOD]
    return r1.status, r1.status_label


def test_delivery_key_ignores_folder_and_correction_marks() -> None:
    key = completeness.delivery_key
    assert key("一中学籍.csv") == key("一中学籍_更正.xlsx") == key("补报/一中学籍（1）.csv") == key("一中学籍 v2.csv")
    assert key("一中学籍.csv") != key("二中学籍.csv")


def test_bad_rows_are_listed_and_excluded_but_never_block_the_district(tmp_path: Path, generated: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       dagster_instance) -> None:
    """Row-level errors (an unparsable birth date, an ID typed as a number, a roll-call date that does not exist)
    are DQ03 warnings naming file, sheet, row and column; the rest of the file and the district go on and the
    reports are FINAL (nothing is missing: every file was read). A row left without a person key (the ID lost
    to a number, no student number) is not in the tables; the others keep their good values. Hand-worked: the
    new school's child A (bad birth date, no roll call) is SD5 in April, C (present on 2026-04-08) is not, and
    B exists nowhere but in the findings."""
    from conftest import write_extract

    from kongchuo import idnumber
    from tests.bad_inputs import REGISTRY_HEADER

    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    school = "2410039902"  # a new school: its snapshot replaces nobody of the generated district
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{school},建安区坏行测试学校,411003001,初中,false\n")
    born = dt.date(2013, 7, 8)
    a, b, c = (idnumber.make_id("411003", born, 810 + i) for i in range(3))
    reg_name = f"学籍_{school}_20260415.xlsx"
    write_extract(home / "landing" / "registry" / reg_name, [
        REGISTRY_HEADER,
        [f"G{a}", a, "学生甲", "男", "2013-13-45", school, "初一", "在读"],  # row 2: birth date does not parse
        ["", int(b), "学生乙", "男", born.isoformat(), school, "初一", "在读"],  # row 3: ID typed as a number
        [f"G{c}", c, "学生丙", "男", born.isoformat(), school, "初一", "在读"],
    ])
    att_name = "考勤_坏行_2026-04.csv"
    write_extract(home / "landing" / "attendance" / att_name, [
        ["全国学籍号", "学校标识码", "日期", "考勤状态"],
        [f"G{c}", school, "2026-04-08", "出勤"],
        [f"G{c}", school, "2026-04-31", "出勤"],  # line 3: no such day
    ])
    outcome = run_home(home, PERIOD, dagster_instance)
    assert outcome.success, outcome.summary()
    folder = home / "reports" / PERIOD
    assert _r1(folder) == [f"建安区_2026年04月_{R1}.xlsx"] and _manifest(folder)["complete"] is True
    assert not any("草稿" in p.name for p in folder.iterdir())

    warehouse = WarehouseResource(url=default_warehouse_url(home))
    found = warehouse.query_df("SELECT source, row_no, detail, severity FROM checks.findings WHERE run_id = :r "
                               "AND check_id = 'DQ03' AND source IN ('registry', 'attendance') ORDER BY source, row_no",
                               {"r": outcome.run_id})
    assert set(found["severity"]) == {"warn"}
    got = [(r.source, int(r.row_no)) for r in found.itertuples()]
    assert got == [("attendance", 3), ("registry", 2), ("registry", 3), ("registry", 3)], found
    details = list(found["detail"])
    assert details[0] == f"文件 {att_name} 第3行 列「日期」(date): 无法识别的值 unparseable [2026-04-31]"
    assert details[1] == (f"文件 {reg_name} 工作表「Sheet」 第2行 列「出生日期」(birth_date): 无法识别的值 unparseable "
                          "[2013-13-45]")
    assert sorted(details[2:]) == sorted([  # the ID typed as a number (the reader's row error), and no key left
        f"{reg_name} 工作表「Sheet」第 3 行 B 列（身份证号）：身份证号被存为数字，末位已丢失，请将该列设为文本后重新导出",
        f"文件 {reg_name} 工作表「Sheet」 第3行 列「身份证件号/全国学籍号」(id_number|student_no): 必填值缺失 missing"])
    assert not any(b in d or a in d for d in details)  # no full ID in a finding's detail
    current = set(warehouse.query_df("SELECT id_number FROM staged.registry_current WHERE school_code = :s",
                                     {"s": school})["id_number"])
    assert current == {a, c}  # B's row has no key left: excluded from the tables
    suspected = dict(warehouse.query_df("SELECT id_number, rules FROM derived.suspected_dropouts WHERE period = :p "
                                        "AND school_code = :s", {"p": PERIOD, "s": school}).itertuples(index=False))
    assert set(suspected) == {a} and "SD5" in suspected[a]
    warehouse.dispose()
