"""R7 每日预警 (issue 18), worked out by hand: daily roll-call files of one school for October 2026, each planted
streak on the list the exact school day it reaches the threshold, not a day earlier; 持续 while it goes on;
leave never warns; a backfill in any order gives the same lists. Real files, real Dagster runs (`warn_days`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from district_run import definitions_for, kongchuo_env
from hand_worked_cases import write_csv

from kongchuo.idnumber import make_id
from kongchuo.masking import mask_id
from warehouse.resource import WarehouseResource

SCHOOL, SCHOOL_NAME, TOWNSHIP = "2410030001", "建安区新元实验小学", "411003001"
# October 2026: 1–7 National Day holiday; Saturday 10 October a make-up school day; weekends off.
HOLIDAY = {dt.date(2026, 10, d) for d in range(1, 8)}
MAKE_UP = {dt.date(2026, 10, 10)}
SCHOOL_DAYS = [d for d in (dt.date(2026, 10, 1) + dt.timedelta(n) for n in range(31))
               if d not in HOLIDAY and (d.weekday() < 5 or d in MAKE_UP)]
# School days: 8 Thu, 9 Fri, 10 Sat (make-up), 12 Mon, 13, 14, 15, 16, 19 Mon, 20, 21 ...
D = {d.day: d for d in SCHOOL_DAYS}
U, S, P, L = "旷课", "病假", "出勤", "事假"

# label -> {day of month: status}; unlisted school days are 出勤.
CHILDREN: dict[str, dict[int, str]] = {
    "over_make_up_saturday": {9: U, 10: U, 12: U, 13: U},     # 3rd day on Mon 12 (Fri, make-up Sat, Mon)
    "over_weekend": {15: U, 16: U, 19: U},                     # 3rd day on Mon 19 (the weekend is no school day)
    "broken_streak": {12: U, 13: U, 14: P, 15: U, 16: U},      # never 3 in a row
    "sick_then_unexcused": {12: S, 13: S, 14: U, 15: U},       # leave does not count: 2 only
    "leave_all_month": {d: (S if d % 2 else L) for d in D},   # approved leave every day: never
    "scattered": {8: U, 12: U, 14: U, 16: U},                  # 4 by the 19th, never in a row
}
# (label, reason) -> [(day listed, continuing)] — worked out from the calendar above.
EXPECTED = {
    ("over_make_up_saturday", "consecutive"): [(12, False), (13, True)],
    ("over_weekend", "consecutive"): [(19, False)],
}
ID_OF = {label: make_id("411003", dt.date(2016, 3, 1) + dt.timedelta(days=37 * i), 100 + i)
         for i, label in enumerate(CHILDREN)}


def _land(home: Path, days: list[dt.date]) -> None:
    """The registry snapshot, the calendar, and one roll-call file per school day (as schools upload daily)."""
    write_csv(home / "landing" / "registry" / "学籍_20260901.csv",
           ["全国学籍号", "身份证件号", "姓名", "性别", "出生日期", "学校标识码", "学校名称", "年级", "学籍状态", "乡镇代码"],
           [["G" + i, i, f"学生{n}", "男", f"{i[6:10]}-{i[10:12]}-{i[12:14]}", SCHOOL, SCHOOL_NAME, "4", "在读", TOWNSHIP]
            for n, i in enumerate(ID_OF.values())])
    write_csv(home / "reference" / "school_calendar.csv", ["date", "school_code"],
           [[d.isoformat(), ""] for d in SCHOOL_DAYS])
    for day in days:
        write_csv(home / "landing" / "attendance" / f"考勤_{SCHOOL}_{day:%Y%m%d}.csv",
               ["全国学籍号", "身份证件号", "学校标识码", "日期", "考勤状态"],
               [["G" + ID_OF[label], ID_OF[label], SCHOOL, day.isoformat(), marks.get(day.day, P)]
                for label, marks in CHILDREN.items()])


def _warn(home: Path, first: dt.date, last: dt.date, instance: dg.DagsterInstance) -> None:
    from pipelines.run import warn_days

    with kongchuo_env(home):
        outcomes = warn_days(first.isoformat(), last.isoformat(), instance=instance, defs=definitions_for(home))
    days = [o for o in outcomes if len(o.period) == 10]
    assert days and all(o.success for o in days), [(o.period, o.error) for o in days if not o.success]


def _listed(home: Path) -> pd.DataFrame:
    wh = WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")
    try:
        df = wh.query_df("SELECT date, id_number, reason, continuing, first_seen FROM derived.early_warnings")
    finally:
        wh.dispose()
    label = {v: k for k, v in ID_OF.items()}
    df["label"] = df["id_number"].map(label)
    return df


FIRST, LAST = D[9], D[19]  # warned days: the 9th (nobody yet) to Monday the 19th


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """The 8th landed ahead; then each school day from the 9th to the 19th landed and warned on its own, as a
    school uploading each afternoon would."""
    home = tmp_path_factory.mktemp("r7_daily")
    instance = dg.DagsterInstance.ephemeral()
    _land(home, [D[8]])
    for day in [d for d in SCHOOL_DAYS if FIRST <= d <= LAST]:
        _land(home, [day])
        _warn(home, day, day, instance)
    return home


def test_each_streak_is_listed_the_day_it_reaches_three_and_not_before(daily):
    got = _listed(daily)
    for (label, reason), days in EXPECTED.items():
        rows = got[(got["label"] == label) & (got["reason"] == reason)]
        listed = sorted((dt.date.fromisoformat(d).day, bool(c)) for d, c in zip(rows["date"], rows["continuing"]))
        assert listed == days, f"{label} {reason}: listed {listed}, expected {days}"
        first = {str(v)[:10] for v in rows["first_seen"]}
        assert first == {D[days[0][0]].isoformat()}, label


def test_leave_broken_streaks_and_scattered_days_never_warn(daily):
    got = _listed(daily)
    quiet = {"broken_streak", "sick_then_unexcused", "leave_all_month", "scattered"}
    assert set(got["label"]) & quiet == set()
    assert set(got["label"]) == {label for label, _ in EXPECTED}


def test_r7_workbook_per_school_lists_the_day_and_masks_ids(daily):
    folder = daily / "reports" / D[12].isoformat()
    [book] = list(folder.glob("*每日预警名单_*.xlsx"))
    assert SCHOOL in book.name
    df = pd.read_excel(book, header=None, engine="calamine", dtype=object)
    text = df.astype(str).to_string()
    header = next(i for i in range(len(df)) if str(df.iloc[i, 0]) == "序号")
    body = df.iloc[header + 1:]
    body = body[body[0].astype(str) != "合计"]
    body = body[pd.to_numeric(body[0], errors="coerce").notna()]
    assert len(body) == 1
    row = body.iloc[0].tolist()
    assert row[2] == mask_id(ID_OF["over_make_up_saturday"]) != ID_OF["over_make_up_saturday"]
    assert row[5] == "连续旷课" and int(row[6]) == 3 and row[8] == "新增" and "当日家访" in row[9]
    assert not any(i in text for i in ID_OF.values())
    assert not list((daily / "reports" / D[9].isoformat()).glob("*.xlsx"))  # nobody on the 9th


def test_backfill_in_one_go_gives_the_same_lists(daily, tmp_path):
    """All days landed at once and warned as a backfill range equal the day-by-day lists."""
    home = tmp_path / "backfill"
    _land(home, [d for d in SCHOOL_DAYS if d <= LAST])
    _warn(home, FIRST, LAST, dg.DagsterInstance.ephemeral())
    cols = ["date", "id_number", "reason", "continuing", "first_seen"]
    a = _listed(daily)[cols].astype(str).sort_values(cols).reset_index(drop=True)
    b = _listed(home)[cols].astype(str).sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_r7_is_in_the_portal_for_its_school_and_township_only(daily):
    """The daily manifest lists each R7 workbook with its school and township codes; the portal serves it to
    that school's and that township's staff and the district, never to another school."""
    import json

    from portal.catalog import Catalogue, listed_for
    from portal.users import User

    folder = daily / "reports" / D[12].isoformat()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    [entry] = [r for r in manifest["reports"] if r["report"] == "R7"]
    assert (entry["school_code"], entry["township_code"]) == (SCHOOL, TOWNSHIP)
    reports = Catalogue(daily / "reports", b"s").scan()
    r7 = [r for r in reports if r.kind == "R7" and r.period == D[12].isoformat()]
    assert len(r7) == 1 and r7[0].period_label == "2026年10月12日"
    district = manifest["district_code"]
    users = {
        "school": User("s", "school", "", school_code=SCHOOL, township_code=TOWNSHIP, district_code=district),
        "other_school": User("o", "school", "", school_code="2410030002", township_code=TOWNSHIP,
                             district_code=district),
        "township": User("t", "township", "", township_code=TOWNSHIP, district_code=district),
        "other_township": User("u", "township", "", township_code="411003002", district_code=district),
        "district": User("d", "district", "", district_code=district),
    }
    sees = {name: r7[0] in listed_for(user, reports) for name, user in users.items()}
    assert sees == {"school": True, "other_school": False, "township": True, "other_township": False,
                    "district": True}
