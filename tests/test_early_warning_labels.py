"""R7 labels each warned child with the registry record(s) the matching rule files them under (issue 18), worked
out by hand for the shapes where the person key is not the record's ID: a child whose only record has a G number
and no ID (the person is the ID inside the G number), a child with a J number and no ID (the person is the J
number), a child the roll call names by G number only, and a child with two records (the lower student number
labels the warning; the active record at the first school by code gives the R7 sheet's name). Each is unexcused
on Thursday 8, Friday 9 and the make-up Saturday 10 October 2026, so each is listed on the 10th (the third
school day in a row) and not before. Real files, real Dagster runs (`warn_days`), DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import hand_worked_cases as cases
import pytest
from district_run import definitions_for, kongchuo_env

from kongchuo.idnumber import make_id
from kongchuo.masking import mask_id
from warehouse.resource import WarehouseResource

SCHOOL, OTHER = cases.P1, cases.P2
DAYS = [dt.date(2026, 10, 8), dt.date(2026, 10, 9), dt.date(2026, 10, 10)]  # Thu, Fri, make-up Sat
G_ONLY, J_CHILD, BY_NUMBER, TWO, PRESENT = (make_id("411003", dt.date(2016, 2, 1) + dt.timedelta(days=41 * i), 300 + i)
                                            for i in range(5))
J_NO = "J" + J_CHILD
# registry rows: (student number, ID cell, name, school)
REGISTRY = [("G" + G_ONLY, "", "甲", SCHOOL), (J_NO, "", "乙", SCHOOL), ("G" + BY_NUMBER, BY_NUMBER, "丙", SCHOOL),
            ("L1234567890123456", TWO, "丁二", OTHER), ("G" + TWO, TWO, "丁", SCHOOL), ("G" + PRESENT, PRESENT, "戊", SCHOOL)]
# roll-call rows: (student number, ID cell, status)
ROLL_CALL = [("G" + G_ONLY, "", "旷课"), (J_NO, "", "旷课"), ("G" + BY_NUMBER, "", "旷课"), ("G" + TWO, TWO, "旷课"),
             ("G" + PRESENT, PRESENT, "出勤")]
# person key -> (id_number, student_no) on derived.early_warnings, and the R7 sheet's name and masked ID
EXPECTED = {G_ONLY: (None, "G" + G_ONLY, "甲"), J_NO: (None, J_NO, "乙"),
            BY_NUMBER: (BY_NUMBER, "G" + BY_NUMBER, "丙"), TWO: (TWO, "G" + TWO, "丁")}


def _land(home: Path) -> None:
    cases.write_calendar(home)
    cases.write_csv(home / "landing" / "registry" / "学籍_20260901.csv", cases.REGISTRY_HEADER,
                    [[sno, id_cell, name, "男", "2016-02-01", school.code, school.name, "4", "在读", school.township,
                      "否"] for sno, id_cell, name, school in REGISTRY])
    cases.write_csv(home / "landing" / "attendance" / "考勤_202610.csv", cases.ATTENDANCE_HEADER,
                    [[sno, id_cell, SCHOOL.code, day.isoformat(), status]
                     for day in DAYS for sno, id_cell, status in ROLL_CALL])


@pytest.fixture(scope="module")
def warned(tmp_path_factory) -> Path:
    from pipelines.run import warn_days

    home = tmp_path_factory.mktemp("r7_labels")
    _land(home)
    with kongchuo_env(home):
        outcomes = warn_days(DAYS[0].isoformat(), DAYS[-1].isoformat(), instance=dg.DagsterInstance.ephemeral(),
                             defs=definitions_for(home))
    days = [o for o in outcomes if len(o.period) == 10]
    assert days and all(o.success for o in days), [(o.period, o.error) for o in days if not o.success]
    return home


def _warehouse(home: Path) -> WarehouseResource:
    return WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")


def test_each_child_is_labelled_with_its_registry_id_and_student_number(warned):
    wh = _warehouse(warned)
    try:
        df = wh.query_df("SELECT date, person_key, id_number, student_no, reason FROM derived.early_warnings")
    finally:
        wh.dispose()
    assert set(df["date"]) == {DAYS[-1].isoformat()}  # the third day, not before
    assert set(df["reason"]) == {"consecutive"}
    got = {p: (None if i is None or i != i else i, s) for p, i, s in zip(df["person_key"], df["id_number"],
                                                                       df["student_no"])}
    want = {p: (i, s) for p, (i, s, _) in EXPECTED.items()}
    same = got == want  # compared outside the assert: a failure must not print the IDs
    assert same, f"labels differ for {len(set(got.items()) ^ set(want.items()))} rows"


def test_r7_sheet_names_each_child_from_the_record_it_is_filed_under(warned):
    from assets.early_warning import r7_sheets

    wh = _warehouse(warned)
    try:
        sheets = r7_sheets(wh, DAYS[-1])
    finally:
        wh.dispose()
    [(school_code, township, _, sheet)] = sheets
    assert (school_code, township) == (SCHOOL.code, SCHOOL.township)
    got = sorted((row[1], row[2]) for row in sheet.rows)
    want = sorted((name, mask_id(i or p)) for p, (i, _, name) in EXPECTED.items())
    assert got == want
