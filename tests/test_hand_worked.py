"""Hand-worked ground truth: 57 children built by hand (tests/hand_worked_cases.py), run through the REAL
monthly job (Dagster, DuckDB), and the exact outcome of every rule for every child, worked out from
shared/DESIGN.md alone (never from the code's output). tests/HAND_WORKED.md tells the same table in prose.

Two KONGCHUO_HOMEs:
- the district: roll call from the term's first day (2026-09-01); the 1 September registry, census and
  exemption extracts and September's roll call land before the 2026-09 run, the 15 October registry snapshot
  (with a 变动日期 column), October's roll call and visits before the 2026-10 run;
- a bureau whose roll call starts in October (calendar term start 09-01, first roll call 10-08): 2026-10 only.

Failures name the child's label and masked ID, expected vs got; full IDs and names never reach the output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import hand_worked_cases as cases
import pytest
from district_run import definitions_for, kongchuo_env

from kongchuo import idnumber
from kongchuo.masking import mask_id
from kongchuo.settings import default_warehouse_url
from kongchuo.sources import SPECS, normalize_header
from warehouse.resource import WarehouseResource

SEP, OCT = "2026-09", "2026-10"
OOS, AWAY = "失学", "外出待核实"  # in derived.out_of_school; AWAY = verify_elsewhere true

# One line per child: label, story, suspected-dropout rules in 2026-09 and 2026-10 ("" = not suspected),
# out of school in 2026-09 and 2026-10 ("" = not in derived.out_of_school). Ages are on 2026-08-31 unless said.
EXPECTED = [
    # label                      story                                                                                       SD 09       SD 10   失学 09 失学 10
    ("anchor_p1",               "在读 P1 g4, present every school day, census 在户",                                          "",         "",     "",   ""),
    ("anchor_p2",               "在读 P2 g3, present every school day, census 在户",                                          "",         "",     "",   ""),
    ("anchor_m1",               "在读 M1 g8, present every school day, not in census",                                        "",         "",     "",   ""),
    ("anchor_p3",               "在读 P3 g5, present every school day, census 外出 (enrolled: nothing to verify)",            "",         "",     "",   ""),
    ("sd1_weekend",             "旷课 Fri 09-18, Mon 09-21, Tue 09-22: 3 consecutive school days across a weekend",            "SD1",      "",     "",   ""),
    ("sd1_pairs_broken",        "旷课 09-15,16 then 09-21,22, 病假 09-23, 旷课 09-24: runs of 2, 5 days in all",               "",         "",     "",   ""),
    ("sd1_ten_days",            "October 旷课 2 on / 1 present ×5: exactly 10 unexcused days, never 3 in a row",               "",         "SD1",  "",   ""),
    ("sd1_nine_days",           "October like sd1_ten_days but 9 unexcused days, never 3 in a row",                            "",         "",     "",   ""),
    ("sd1_month_end",           "旷课 09-29, 09-30, 10-08 (over month end and National Day): reaches 3 in October",           "",         "SD1",  "",   ""),
    ("sd1_reached_in_sept",     "旷课 09-28, 29, 30 and 10-08: reaches 3 on 09-30, October only continues it",                "SD1",      "",     "",   ""),
    ("sd1_makeup_saturday",     "旷课 Fri 10-09, make-up Sat 10-10, Mon 10-12: 3 consecutive school days",                    "",         "SD1",  "",   ""),
    ("sd1_present_on_saturday", "旷课 Fri 10-09 and Mon 10-12, present on make-up Sat 10-10: runs of 1",                      "",         "",     "",   ""),
    ("sd2_rows_from_day11",     "在读 P1 g2, no roll-call row on days 1-10 (09-01..09-14), present from 09-15",              "SD2",      "",     "",   ""),
    ("sd2_rows_no_presence",    "rows on days 1-10 all 旷课/病假 (7 旷课, runs of 2), present from day 11",                    "SD2",      "",     "",   ""),
    ("sd2_present_day10",       "旷课 days 1-9, present on day 10 (09-14) and after: a 9-day run, not SD2",                   "SD1",      "",     "",   ""),
    ("sd2_sd5_no_rows",         "在读 P2 g2, no roll-call row at all in either month",                                        "SD2,SD5",  "SD5",  "",   ""),
    ("sd3_not_received",        "转出 at P2 in the 09-01 snapshot, no other record: 29 days on 09-30, 60 on 10-31",           "",         "SD3",  "",   ""),
    ("sd3_received",            "转出 at P2 and 转入 at P3 (present there every day), census 在户",                            "",         "",     "",   ""),
    ("sd3_changed_20_days",     "在读 P1 09-01; 转出 in the 10-15 snapshot, 变动日期 10-11: 20 days on 10-31",                  "",         "",     "",   ""),
    ("sd3_changed_40_days",     "在读 P2 09-01, present to 09-18; 转出 10-15 snapshot, 变动日期 09-21: 40 days",               "",         "SD3",  "",   ""),
    ("sd3_snapshot_16_days",    "在读 P1 09-01, present all Sept; 转出 in the 10-15 snapshot, no 变动日期: 16 days",           "",         "",     "",   ""),
    ("sd3_received_changed",    "转出 P1 变动日期 09-18 (10-15 snapshot), 转入 P3 there, present at P3 from 09-21",           "",         "",     "",   ""),
    ("sd4_dropped",             "辍学 at M1 g8, no roll call, census 在户 (has a registry record: not 失学)",                   "SD4",      "SD4",  "",   ""),
    ("sd5_gone_in_october",     "在读 P3 g3, present all September, no roll-call row in October",                             "",         "SD5",  "",   ""),
    ("all_unexcused_october",   "present all September, every October day 旷课: SD1's business, not SD5 (it has rows)",       "",         "SD1",  "",   ""),
    ("sd6_not_enrolled",        "毕业 from P1 g6, no other record, census 在户: 30 days after 09-01 is 10-01",                  "",         "SD6",  "",   ""),
    ("sd6_enrolled",            "毕业 from P1 g6 and 在读 M1 g7, present every day at M1",                                     "",         "",     "",   ""),
    ("grade9_graduate",         "毕业 from M1 g9, aged 15, no roll call, census 在户 (has a record: not 失学)",               "",         "",     "",   ""),
    ("grade9_graduate_absent",  "毕业 from M1 g9, yet M1's September roll call marks every day 旷课",                         "",         "",     "",   ""),
    ("suspension_in_force",     "在读 P2 g3, no roll call, 休学 2026-06-20..2027-01-31 (in force at both cut-offs)",          "",         "",     "",   ""),
    ("suspension_ends_oct15",   "在读 P2 g4, no roll call, 休学 2026-03-01..2026-10-15 (in force 09-30, expired by 10-31)",   "",         "SD5",  "",   ""),
    ("home_taught",             "在读 P3 g5, disabled, no roll call, 送教上门 twice a month",                                   "",         "",     "",   ""),
    ("deceased_registry",       "死亡 record at P1, whose September roll call still marks every day 旷课",                     "",         "",     "",   ""),
    ("deceased_census",         "在读 M1 g7, no roll call, census says 死亡",                                                 "",         "",     "",   ""),
    ("turns16_in_october",      "在读 M1 g9, born 2010-10-15 (15 on 09-30, 16 on 10-31), present Sept, no rows Oct",          "",         "",     "",   ""),
    ("aged16_before_term",      "在读 M1 g9, born 2010-05-01 (16 at both cut-offs), no roll call",                            "",         "",     "",   ""),
    ("leave_all_october",       "present all September; every October day 病假 or 事假",                                     "",         "",     "",   ""),
    ("g_number_blank_id",       "registry ID cell blank, 学籍号 G+ID, roll call by 学籍号 only, present daily, census 在户",   "",         "",     "",   ""),
    ("g_number_roll_by_id",     "registry ID cell blank, 学籍号 G+ID, roll call rows carry the ID only, present daily",        "",         "",     "",   ""),
    ("g_number_typo_id",        "registry ID cell has a wrong check digit, 学籍号 G+ID, present daily, census 在户",           "",         "",     "",   ""),
    ("other_school",            "在读 at P1 but present every day at P2 (rows at P2 only)",                                   "",         "",     "",   ""),
    ("two_active_records",      "在读 at P1 and at P3 (重复学籍), present every day at P3 only",                               "",         "",     "",   ""),
    ("oos_resident",            "census 在户, aged 10, no registry record",                                                   "",         "",     OOS,  OOS),
    ("oos_away",                "census 外出, aged 12, no registry record",                                                   "",         "",     AWAY, AWAY),
    ("census_age5",             "census 在户, born 2020-09-01: 5 on 08-31 (6 the day after)",                                 "",         "",     "",   ""),
    ("census_age6_exact",       "census 在户, born 2020-08-31: 6 on 08-31, no registry record",                               "",         "",     OOS,  OOS),
    ("census_age16",            "census 在户, born 2010-08-31: 16 on 08-31",                                                  "",         "",     "",   ""),
    ("census_age15_on_ref",     "census 在户, born 2010-09-01: 15 on 08-31 (16 during September), no record",                 "",         "",     OOS,  OOS),
    ("census_moved_out",        "census 迁出, aged 9, no registry record",                                                    "",         "",     "",   ""),
    ("census_deceased",         "census 死亡, aged 9, no registry record",                                                    "",         "",     "",   ""),
    ("oos_deferral_in_force",   "census 在户, aged 6, no record, 延缓入学 2026-08-15..2027-08-31",                             "",         "",     "",   ""),
    ("oos_deferral_ends_sep15", "census 在户, aged 7, no record, 延缓入学 2025-08-15..2026-09-15 (expired by 09-30)",          "",         "",     OOS,  OOS),
]

# The bureau whose roll call starts 10-08 (term start 09-01 by the calendar): 2026-10 only. SD2 is not
# evaluated on a partial term (and the term's 10th school day, 09-14, is not in October anyway).
EXPECTED_LATE_START = [
    # label                      story                                                                       SD 10   失学 10
    ("late_anchor",              "在读 P1 g4, present every October school day",                             "",     ""),
    ("late_leave_first10",       "病假/事假 on October's first 10 school days, present after",               "",     ""),
    ("late_unexcused_first10",   "旷课 on October's first 10 school days (10-08..10-20), present after",      "SD1",  ""),
    ("late_no_rows",             "在读 P1 g2, no roll-call row in October",                                  "SD5",  ""),
    ("late_oos_resident",        "census 在户, aged 8, no registry record",                                  "",     OOS),
]

_LABELS = [row[0] for row in EXPECTED]
_LATE_LABELS = [row[0] for row in EXPECTED_LATE_START]


@dataclass
class Derived:
    """What a home's runs left in the warehouse, per period."""

    outcomes: dict
    suspected: dict[str, list[dict]]
    out_of_school: dict[str, list[dict]]


def _run(home: Path, period: str, instance: dg.DagsterInstance):
    from pipelines.run import run_period

    with kongchuo_env(home):
        return run_period(period, instance=instance, defs=definitions_for(home))


def _collect(home: Path, outcomes: dict) -> Derived:
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    suspected, oos = {}, {}
    for period in outcomes:
        suspected[period] = warehouse.query_df(
            "SELECT person_key, id_number, student_no, rules FROM derived.suspected_dropouts WHERE period = :p",
            {"p": period}).to_dict("records")
        oos[period] = warehouse.query_df(
            "SELECT id_number, verify_elsewhere FROM derived.out_of_school WHERE period = :p",
            {"p": period}).to_dict("records")
    warehouse.dispose()
    return Derived(outcomes, suspected, oos)


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Derived:
    home = tmp_path_factory.mktemp("hand-worked") / "home"
    children = cases.DISTRICT_CHILDREN
    cases.write_calendar(home)
    cases.land_snapshots(home, children)
    instance = dg.DagsterInstance.ephemeral()
    outcomes = {}
    for period in (SEP, OCT):
        if period == OCT:
            cases.land_october_registry(home, children)
        cases.land_month(home, children, period)
        outcomes[period] = _run(home, period, instance)
    return _collect(home, outcomes)


@pytest.fixture(scope="module")
def late_start(tmp_path_factory) -> Derived:
    home = tmp_path_factory.mktemp("hand-worked-late") / "home"
    children = cases.LATE_START_CHILDREN
    cases.write_calendar(home)
    cases.land_snapshots(home, children)
    cases.land_month(home, children, OCT)
    outcomes = {OCT: _run(home, OCT, dg.DagsterInstance.ephemeral())}
    return _collect(home, outcomes)


# --- reading the results per child ---------------------------------------------------------------------

def _keys(child: cases.Child) -> set[str]:
    """Every identifier a row about this child could carry (its ID, its G number, its mistyped ID)."""
    return {child.id_number, child.student_no, child.typo_id}


def _rows_of(child: cases.Child, rows: list[dict], columns=("person_key", "id_number", "student_no")) -> list[dict]:
    keys = _keys(child)
    return [r for r in rows if any(r.get(c) in keys for c in columns)]


def _got_rules(child: cases.Child, derived: Derived, period: str) -> tuple[str, list[str]]:
    """(rules that fired, remarks on how the rows identify the child) for one child and period."""
    rows = _rows_of(child, derived.suspected[period])
    rules = sorted({rule for r in rows for rule in str(r["rules"]).split(",") if rule})
    remarks = []
    if len(rows) > 1:
        remarks.append(f"{len(rows)} rows for one child")
    if any(r.get("id_number") != child.id_number for r in rows):
        remarks.append("id_number is not the child's ID (person keyed as "
                       + ", ".join(sorted({mask_id(r.get('person_key')) for r in rows})) + ")")
    return ",".join(rules), remarks


def _got_oos(child: cases.Child, derived: Derived, period: str) -> str:
    rows = _rows_of(child, derived.out_of_school[period], ("id_number",))
    if not rows:
        return ""
    return AWAY if any(bool(r["verify_elsewhere"]) for r in rows) else OOS


def _child(label: str, children: list[cases.Child]) -> cases.Child:
    return next(c for c in children if c.label == label)


def _mismatch(what: str, label: str, child: cases.Child, period: str, want: str, got: str,
              remarks: list[str] = ()) -> str:
    note = f" [{'; '.join(remarks)}]" if remarks else ""
    return f"{label} {period} ({mask_id(child.id_number)}) {what}: expected {want or '—'}, got {got or '—'}{note}"


def _check_suspected(label: str, children: list[cases.Child], derived: Derived, period: str, want: str) -> None:
    child = _child(label, children)
    got, remarks = _got_rules(child, derived, period)
    if got != want or (want and remarks):
        pytest.fail(_mismatch("suspected_dropouts.rules", label, child, period, want, got, remarks), pytrace=False)


def _check_oos(label: str, children: list[cases.Child], derived: Derived, period: str, want: str) -> None:
    child = _child(label, children)
    got = _got_oos(child, derived, period)
    if got != want:
        pytest.fail(_mismatch("out_of_school", label, child, period, want, got), pytrace=False)


# --- the hand-built inputs are what the table says ------------------------------------------------------

def test_every_child_has_exactly_one_expected_line():
    assert [row[0] for row in EXPECTED] == [c.label for c in cases.DISTRICT_CHILDREN]
    assert [row[0] for row in EXPECTED_LATE_START] == [c.label for c in cases.LATE_START_CHILDREN]


def test_hand_built_ids_are_valid_and_carry_the_birth_date():
    for child in cases.DISTRICT_CHILDREN + cases.LATE_START_CHILDREN:
        assert idnumber.problem(child.id_number) is None, child.label
        assert idnumber.birth_date_of(child.id_number) == child.born, child.label
        assert idnumber.gender_of(child.id_number) == {"男": "M", "女": "F"}[child.gender], child.label
        assert idnumber.problem(child.typo_id) == "check_digit", child.label
    ids = [c.id_number for c in cases.DISTRICT_CHILDREN]
    assert len(set(ids)) == len(ids)


def test_failure_messages_mask_the_id():
    child = cases.DISTRICT_CHILDREN[0]
    message = _mismatch("suspected_dropouts.rules", child.label, child, SEP, "SD1", "SD1,SD5", ["a remark"])
    assert child.id_number not in message and child.id_number[6:14] not in message and child.name not in message
    assert mask_id(child.id_number) in message


def test_schools_and_townships_are_in_the_bundled_reference():
    import csv

    ref = Path(__file__).resolve().parent.parent / "kongchuo" / "reference"
    with (ref / "schools.csv").open(encoding="utf-8") as f:
        schools = {r["school_code"]: (r["school_name"], r["township_code"]) for r in csv.DictReader(f)}
    with (ref / "townships.csv").open(encoding="utf-8") as f:
        townships = {r["township_code"] for r in csv.DictReader(f)}
    for school in cases.SCHOOLS:
        assert schools[school.code] == (school.name, school.township)
    assert {c.township for c in cases.DISTRICT_CHILDREN} <= townships


def test_change_date_headers_are_read_as_change_date():
    """SD3's transfer date: the national system's and the counties' names for a record's change date."""
    aliases = SPECS["registry"].alias_map
    for header in ("变动日期", "异动日期", "异动时间", "★变动日期", "异动\n日期", "学籍异动日期（必填）"):
        assert aliases.get(normalize_header(header)) == "change_date", header


def test_calendar_weeks_and_first_ten_school_days():
    assert cases.week_sizes(SEP) == [4, 5, 5, 5, 3] and cases.week_sizes(OCT) == [3, 5, 5, 5]
    assert cases.school_days(SEP)[9] == dt.date(2026, 9, 14)
    assert cases.school_days(OCT)[:3] == [dt.date(2026, 10, 8), dt.date(2026, 10, 9), dt.date(2026, 10, 10)]
    assert cases.school_days(OCT)[9] == dt.date(2026, 10, 20) and len(cases.school_days(OCT)) == 18


# --- the real runs ---------------------------------------------------------------------------------------

def test_runs_succeeded(district, late_start):
    for derived in (district, late_start):
        for period, outcome in derived.outcomes.items():
            assert outcome.success, f"{period}: {outcome.error} skipped={outcome.skipped} failed={outcome.failed_checks}"
            assert {"derived/suspected_dropouts", "derived/out_of_school"} <= set(outcome.materialized), period


@pytest.mark.parametrize("label,want", [(row[0], row[2]) for row in EXPECTED], ids=_LABELS)
def test_suspected_2026_09(district, label, want):
    _check_suspected(label, cases.DISTRICT_CHILDREN, district, SEP, want)


@pytest.mark.parametrize("label,want", [(row[0], row[3]) for row in EXPECTED], ids=_LABELS)
def test_suspected_2026_10(district, label, want):
    _check_suspected(label, cases.DISTRICT_CHILDREN, district, OCT, want)


@pytest.mark.parametrize("label,want", [(row[0], row[4]) for row in EXPECTED], ids=_LABELS)
def test_out_of_school_2026_09(district, label, want):
    _check_oos(label, cases.DISTRICT_CHILDREN, district, SEP, want)


@pytest.mark.parametrize("label,want", [(row[0], row[5]) for row in EXPECTED], ids=_LABELS)
def test_out_of_school_2026_10(district, label, want):
    _check_oos(label, cases.DISTRICT_CHILDREN, district, OCT, want)


@pytest.mark.parametrize("label,want", [(row[0], row[2]) for row in EXPECTED_LATE_START], ids=_LATE_LABELS)
def test_late_start_suspected_2026_10(late_start, label, want):
    _check_suspected(label, cases.LATE_START_CHILDREN, late_start, OCT, want)


@pytest.mark.parametrize("label,want", [(row[0], row[3]) for row in EXPECTED_LATE_START], ids=_LATE_LABELS)
def test_late_start_out_of_school_2026_10(late_start, label, want):
    _check_oos(label, cases.LATE_START_CHILDREN, late_start, OCT, want)


def test_no_rows_about_anyone_else(district, late_start):
    """Every row of both tables belongs to one of the hand-built children (counted, never printed in full)."""
    for derived, children in ((district, cases.DISTRICT_CHILDREN), (late_start, cases.LATE_START_CHILDREN)):
        known = set().union(*(_keys(c) for c in children))
        for period in derived.outcomes:
            strangers = [r for r in derived.suspected[period]
                         if not {r.get("person_key"), r.get("id_number"), r.get("student_no")} & known]
            strangers += [r for r in derived.out_of_school[period] if r.get("id_number") not in known]
            assert not strangers, f"{period}: {len(strangers)} rows about no hand-built child"
