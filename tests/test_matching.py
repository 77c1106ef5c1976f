"""The one matching rule (warehouse.views) in real DuckDB against kongchuo.idnumber, and the term calendar
(kongchuo.terms) against the chinese-calendar data."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from kongchuo import idnumber, terms
from warehouse.views import g_number_id_sql, valid_id_sql

pytestmark = pytest.mark.fast  # make check


def _ids(n: int, seed: int) -> list[str]:
    """Valid IDs and every kind of broken one (check digit, month 13, 29 Feb of a common year, short, letters)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        born = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randint(0, 11000))
        x = idnumber.make_id("411003", born, rng.randint(0, 999))
        kind = rng.randint(0, 7)
        if kind == 1:
            x = x[:17] + rng.choice("0123456789X")
        elif kind == 2:
            x = x[:10] + "13" + x[12:]
        elif kind == 3:
            x = x[:17]
        elif kind == 4:
            first = x[:6] + "20230229" + x[14:17]
            x = first + idnumber.check_digit(first)
        elif kind == 5:
            x = "ab" + x[2:]
        out.append(x)
    return out + ["", "X" * 18, "1" * 18]


def test_sql_validity_equals_the_python_check():
    ids = _ids(4000, 3)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [[i] for i in ids])
    got = dict(con.execute(f"SELECT id, {valid_id_sql('id')} FROM t").fetchall())
    wrong = sum(got[i] != idnumber.is_valid(i) for i in ids)
    assert wrong == 0, f"{wrong} of {len(ids)} IDs judged differently"
    assert 0 < sum(got.values()) < len(ids)


def test_g_number_yields_the_id_only_when_valid():
    good = idnumber.make_id("411003", dt.date(2014, 5, 6), 12)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    con = duckdb.connect()
    rows = [f"G{good}", f"G{bad}", f"J{good}", f"L{good[:16]}", None]
    con.execute("CREATE TABLE t (sno TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [[r] for r in rows])
    got = [r[0] for r in con.execute(f"SELECT {g_number_id_sql('sno')} FROM t").fetchall()]
    assert [g == good for g in got] == [True, False, False, False, False]
    assert got[1:] == [None] * 4


def test_spring_term_starts_after_the_spring_festival_holiday():
    # 2026: the holiday runs 15–23 February; 24 February is the first working day
    assert terms.spring_festival_end(2026) == dt.date(2026, 2, 24)
    assert terms.spring_festival_end(2025) == dt.date(2025, 2, 5)


def test_sd2_month_is_the_month_of_the_tenth_school_day():
    term = terms.sd2_term(dt.date(2025, 9, 1), dt.date(2025, 9, 30), [])
    assert term is not None and term.first_day == dt.date(2025, 9, 1)
    assert term.day(terms.TERM_START_DAYS) == dt.date(2025, 9, 12)
    assert terms.sd2_term(dt.date(2025, 10, 1), dt.date(2025, 10, 31), []) is None


def test_calendar_overrides_the_default_term_start():
    calendar = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(40)
                if (dt.date(2026, 3, 2) + dt.timedelta(days=i)).weekday() < 5]
    term = terms.sd2_term(dt.date(2026, 3, 1), dt.date(2026, 3, 31), calendar)
    assert term is not None and term.from_calendar and term.first_day == dt.date(2026, 3, 2)
    assert term.day(10) == dt.date(2026, 3, 13)


@pytest.mark.parametrize("first_roll_call,covered", [
    (dt.date(2025, 9, 1), True), (dt.date(2025, 9, 5), True), (dt.date(2025, 9, 8), False), (None, False)])
def test_sd2_needs_the_roll_call_to_reach_the_term_start(first_roll_call, covered):
    term = terms.sd2_term(dt.date(2025, 9, 1), dt.date(2025, 9, 30), [])
    assert terms.roll_call_reaches_start(term, first_roll_call) is covered


@pytest.mark.parametrize("cutoff,evaluated", [
    (dt.date(2025, 9, 30), False), (dt.date(2025, 10, 31), True), (dt.date(2026, 3, 31), True),
    (dt.date(2026, 5, 31), True), (dt.date(2026, 6, 30), False), (dt.date(2026, 8, 31), False)])
def test_sd6_runs_from_thirty_days_after_the_autumn_start(cutoff, evaluated):
    assert (terms.sd6_autumn_start(cutoff, []) is not None) is evaluated


@pytest.fixture
def warehouse(tmp_path):
    from warehouse.resource import WarehouseResource
    from warehouse.views import refresh_current

    wh = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    wh.ensure_layout()
    refresh_current(wh)
    yield wh
    wh.dispose()


def _roll_call_from(warehouse, first: dt.date) -> None:
    warehouse.execute("DELETE FROM staged.attendance_current")
    days = [first + dt.timedelta(days=i) for i in range(30)]
    for day in (d for d in days if d.weekday() < 5):
        warehouse.execute("INSERT INTO staged.attendance_current (student_no, school_code, date, status) "
                          "VALUES ('L1', '4110030001', :d, 'present')", {"d": day})


@pytest.mark.parametrize("first,evaluated", [(dt.date(2025, 9, 1), 1), (dt.date(2025, 9, 5), 1),
                                             (dt.date(2025, 9, 9), 0)])
def test_sd2_not_evaluated_when_a_bureau_starts_late_in_the_term(warehouse, first, evaluated):
    from assets.rules import term_params

    _roll_call_from(warehouse, first)
    params = term_params(warehouse, dt.date(2025, 9, 1), dt.date(2025, 9, 30))
    assert params["sd2_evaluate"] == evaluated, params["sd2_note"]
    assert params["term_first"] == dt.date(2025, 9, 1) and params["term_tenth"] == dt.date(2025, 9, 12)
    october = term_params(warehouse, dt.date(2025, 10, 1), dt.date(2025, 10, 31))
    assert october["sd2_evaluate"] == 0 and october["sd6_evaluate"] == 1


def _person_of(id_number: str | None, student_no: str | None) -> str | None:
    """DESIGN.md "Matching a child", in plain Python."""
    if id_number and idnumber.is_valid(id_number):
        return id_number
    if student_no and student_no.startswith("G") and idnumber.is_valid(student_no[1:]):
        return student_no[1:]
    return id_number or student_no


def test_registry_person_key_and_birth_follow_the_rule():
    from warehouse.views import registry_birth_sql, registry_person_key_sql

    ids = _ids(300, 5)
    valid = [i for i in ids if idnumber.is_valid(i)]
    rng = random.Random(9)
    rows = []
    for i in ids:
        other = rng.choice(valid)
        for sno in (None, f"G{i}", f"G{other}", f"L{rng.randint(10**15, 10**16)}", f"J{other}"):
            for id_cell in (i or None, None):
                rows.append((id_cell, sno, dt.date(2012, 5, 17)))
                if id_cell and idnumber.is_valid(id_cell):  # birth_date agreeing with the ID
                    rows.append((id_cell, sno, idnumber.birth_date_of(id_cell)))
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id_number TEXT, student_no TEXT, birth_date DATE)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    got = con.execute(f"SELECT id_number, student_no, birth_date, {registry_person_key_sql('t')}, "
                      f"{registry_birth_sql('t')} FROM t").fetchall()
    wrong_key = wrong_birth = 0
    for id_cell, sno, birth, key, born in got:
        want = _person_of(id_cell, sno)
        wrong_key += key != want
        want_birth = idnumber.birth_date_of(want) if want and idnumber.is_valid(want) else birth
        wrong_birth += born != want_birth
    assert (wrong_key, wrong_birth) == (0, 0), f"{wrong_key} keys and {wrong_birth} birth dates wrong of {len(got)}"
