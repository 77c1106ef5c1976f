"""Issue 18 item 5, worked out by hand: the monthly ledger treats a child first warned on day D as suspected
from D. A child unexcused on 30 September, 8 and 9 October (National Day in between) reaches SD1's three
school days on Friday 9 October: R7 lists it that day (``first_seen`` 2026-10-09), and the October ledger opens
its case with a ``suspected`` event dated 2026-10-09, whether or not ``kongchuo warn`` ran for October first
(without it the ledger dates the streak itself, the way R7 does); R3's history shows that date. A child
flagged by SD5 only (no October roll call) is suspected from the month's end, as before. Real files, real
Dagster runs, DuckDB; the expectations come from the calendar below, never from the code's output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import hand_worked_cases as cases
import pandas as pd
import pytest
from district_run import definitions_for, kongchuo_env

from kongchuo.idnumber import make_id
from kongchuo.masking import mask_id
from warehouse.resource import WarehouseResource

SCHOOL = cases.P1
OCT = "2026-10"
REACHED = dt.date(2026, 10, 9)  # 30 Sep, 8 Oct, 9 Oct: the third school day in a row
UNEXCUSED = {dt.date(2026, 9, 30), dt.date(2026, 10, 8), REACHED}
STREAK, GONE, ANCHOR = (make_id("411003", dt.date(2016, 3, 1) + dt.timedelta(days=50 * i), 200 + i)
                        for i in range(3))


def _land(home: Path) -> None:
    """Calendar, the 1 September registry and the roll call of September and October (one file a month)."""
    cases.write_calendar(home)
    cases.write_csv(home / "landing" / "registry" / "学籍_20260901.csv", cases.REGISTRY_HEADER,
                    [["G" + i, i, f"学生{n}", "男", f"{i[6:10]}-{i[10:12]}-{i[12:14]}", SCHOOL.code, SCHOOL.name, "4",
                      "在读", SCHOOL.township, "否"] for n, i in enumerate((STREAK, GONE, ANCHOR))])
    for period in ("2026-09", "2026-10"):
        rows = []
        for day in cases.school_days(period):
            for child in (STREAK, GONE, ANCHOR):
                if child == GONE and period == OCT:
                    continue  # no October row: SD5
                status = "旷课" if child == STREAK and day in UNEXCUSED else "出勤"
                rows.append(["G" + child, child, SCHOOL.code, day.isoformat(), status])
        cases.write_csv(home / "landing" / "attendance" / f"考勤_{period.replace('-', '')}.csv",
                        cases.ATTENDANCE_HEADER, rows)


def _home(root: Path, warn_first: bool) -> Path:
    from pipelines.run import run_period, warn_days

    home = root / ("warned" if warn_first else "monthly_only")
    _land(home)
    instance = dg.DagsterInstance.ephemeral()
    defs = definitions_for(home)
    with kongchuo_env(home):
        if warn_first:
            days = warn_days("2026-10-08", "2026-10-13", instance=instance, defs=defs)
            assert all(o.success for o in days), [(o.period, o.error) for o in days if not o.success]
        outcome = run_period(OCT, instance=instance, defs=defs)
    assert outcome.success, outcome.error
    return home


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[bool, Path]:
    root = tmp_path_factory.mktemp("ledger-warned")
    return {warn_first: _home(root, warn_first) for warn_first in (True, False)}


def _query(home: Path, sql: str) -> pd.DataFrame:
    wh = WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")
    try:
        return wh.query_df(sql)
    finally:
        wh.dispose()


def _opened(home: Path) -> dict[str, str]:
    """person -> date of the case's first event (to_state suspected) in the October ledger."""
    df = _query(home, "SELECT person_key, event_date, event_type, to_state FROM ledger.case_events "
                      "WHERE created_for_period = '2026-10' ORDER BY person_key, event_seq")
    first = df.groupby("person_key").head(1)
    assert set(first["to_state"]) <= {"suspected"} and set(first["event_type"]) <= {"open"}
    return {k: str(d)[:10] for k, d in zip(first["person_key"], first["event_date"])}


def test_r7_first_warns_the_streak_on_the_day_it_reaches_three(homes):
    df = _query(homes[True], "SELECT date, person_key, reason, first_seen FROM derived.early_warnings "
                             "WHERE reason = 'consecutive'")
    assert set(df["person_key"]) == {STREAK}, "someone else warned"
    assert {str(v)[:10] for v in df["first_seen"]} == {REACHED.isoformat()}
    assert min(df["date"]) == REACHED.isoformat()


@pytest.mark.parametrize("warn_first", [True, False], ids=["after_kongchuo_warn", "monthly_run_only"])
def test_case_is_suspected_from_the_day_sd1_was_reached(homes, warn_first):
    opened = _opened(homes[warn_first])
    got = {mask_id(k): d for k, d in opened.items()}
    want = {mask_id(STREAK): REACHED.isoformat(), mask_id(GONE): "2026-10-31"}  # SD5: the month's end
    assert got == want
    if not warn_first:
        n = _query(homes[False], "SELECT count(*) AS n FROM derived.early_warnings")["n"].iloc[0]
        assert n == 0, "the monthly-only home has early warnings: it does not test the fallback"


@pytest.mark.parametrize("warn_first", [True, False], ids=["after_kongchuo_warn", "monthly_run_only"])
def test_r3_history_shows_the_suspected_date(homes, warn_first):
    [book] = list((homes[warn_first] / "reports" / OCT).glob("*一生一表*.xlsx"))
    sheets = pd.read_excel(book, sheet_name=None, header=None, engine="calamine", dtype=object)
    text = {name: sheet.astype(str).to_string() for name, sheet in sheets.items()}
    mine = [name for name, t in text.items() if mask_id(STREAK) in t or STREAK in t]
    assert mine, "no R3 sheet for the child"
    rows = [[str(c) for c in r] for name in mine for r in sheets[name].itertuples(index=False)]
    opened = [r for r in rows if any("建档" in c for c in r)]
    assert opened and any(REACHED.isoformat() in c for r in opened for c in r), "R3's 建档 row lacks 2026-10-09"
