"""The ledger of a month reflects the whole history, whether or not earlier months were run.

The generated district of :mod:`district_run` is run two ways through the real monthly job, each in its own
``KONGCHUO_HOME``: every month March–June in order (the shared session run), and June alone on the same
landing files (a bureau's first run on a backlog). Both must hold the same events, the same ``ledger.cases``
and the same R3 / R4 cell values. Then re-running an earlier month on the backlog home changes nothing (the
ledger stays append-only), and a home that ran March and then June (April and May skipped) matches too.

Comparisons are by SHA-256 of the rows (and of every sheet's cells, read back with calamine), so a
failure never prints an ID number or a name.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from district_run import MONTHS, DistrictRun, assert_same, definitions_for, district_run, install_district, run_periods

from assets.ledger import COLUMNS, case_events
from kongchuo.districts import month_label
from kongchuo.settings import SAMPLE_DIR, default_warehouse_url
from warehouse.resource import WarehouseResource

JUNE = "2026-06"
EVENTS_SQL = f"SELECT {', '.join(COLUMNS)} FROM ledger.case_events ORDER BY created_for_period, event_seq"
CASES_SQL = "SELECT * FROM ledger.cases ORDER BY person_key"


def digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()


def warehouse_of(home: Path) -> WarehouseResource:
    return WarehouseResource(url=default_warehouse_url(home))


def run_home(generated: Path, periods: tuple[str, ...], extra_casework: str | None = None) -> Path:
    """A fresh KONGCHUO_HOME with the district's landing files (plus a casework CSV, if given), after running
    ``periods`` through the job."""
    root = Path(tempfile.mkdtemp(prefix="kongchuo-backlog-"))
    home = root / "home"
    install_district(generated, home)
    if extra_casework is not None:
        (home / "landing" / "casework" / "劝返记录_补录.csv").write_text(extra_casework, encoding="utf-8")
    outcomes = run_periods(home, periods, dg.DagsterInstance.ephemeral())
    assert all(o.success for o in outcomes.values()), {p: o.summary() for p, o in outcomes.items()}
    return home


def workbook_digests(path: Path) -> list[str]:
    """One SHA-256 per sheet of the cell values (calamine), in sheet order."""
    book = pd.read_excel(path, sheet_name=None, header=None, engine="calamine")
    return [digest(sheet.astype(str)) for sheet in book.values()]


def report_file(home: Path, period: str, title: str) -> Path:
    path = home / "reports" / period / f"建安区_{month_label(period)}_{title}.xlsx"
    assert path.exists(), f"missing report {path.name}"
    return path


@functools.lru_cache(maxsize=None)
def sample_run() -> Path:
    """What ``make demo`` does, in a temporary home: ``kongchuo run --sample``'s copy (the bundled sample's landing
    files and its school calendar only, so the bundled townships and schools of both seed districts are in use),
    June run alone, then the quarter 2026-Q2."""
    from pipelines.cli import copy_sample

    root = Path(tempfile.mkdtemp(prefix="kongchuo-sample-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    home = root / "home"
    assert copy_sample(home, SAMPLE_DIR) > 0
    outcomes = run_periods(home, (JUNE, "2026-Q2"), dg.DagsterInstance.ephemeral())
    assert all(o.success for o in outcomes.values()), {p: o.summary() for p, o in outcomes.items()}
    return home


def sample_truth(case: str, period: str) -> pd.DataFrame:
    truth = pd.read_csv(SAMPLE_DIR / "ground_truth.csv", dtype=str, keep_default_na=False)
    return truth[(truth["case"] == case) & (truth["period"] == period)]


@pytest.fixture(scope="module")
def in_order() -> DistrictRun:
    return district_run()


@pytest.fixture(scope="module")
def backlog(in_order) -> Path:
    home = run_home(in_order.generated, (JUNE,))
    yield home
    shutil.rmtree(home.parent, ignore_errors=True)


def test_first_run_on_a_backlog_gives_the_same_events_and_cases(in_order, backlog):
    ordered, first = in_order.warehouse, warehouse_of(backlog)
    events = first.query_df(EVENTS_SQL)
    assert set(events["created_for_period"]) == set(MONTHS)
    assert digest(events) == digest(ordered.query_df(EVENTS_SQL))
    assert digest(first.query_df(CASES_SQL)) == digest(ordered.query_df(CASES_SQL))
    escalated = int(first.scalar("SELECT count(*) FROM ledger.cases WHERE state = 'escalated'"))
    assert escalated == len({k for p, k in in_order.truth_pairs("ESC") if p == JUNE}) > 0


def test_months_caught_up_evaluate_the_same_rules_as_their_own_runs(in_order, backlog):
    """The ledger's own evaluation of March–May flags exactly the children the monthly assets flagged."""
    first = warehouse_of(backlog)
    periods = first.query_df("SELECT period, suspicion_from FROM ledger.periods ORDER BY period")
    assert list(periods["period"]) == list(MONTHS)
    assert list(periods["suspicion_from"]) == ["evaluated"] * (len(MONTHS) - 1) + ["derived"]
    for month in MONTHS[:-1]:
        got = first.query_df("SELECT person_key, rules FROM ledger.evaluated_suspected WHERE period = :p",
                             {"p": month})
        want = in_order.warehouse.query_df(
            "SELECT person_key, rules FROM derived.suspected_dropouts WHERE period = :p", {"p": month})
        flagged = len(want)
        assert flagged > 0, month
        assert_same(f"suspected {month}", set(map(tuple, got.itertuples(index=False))),
                    set(map(tuple, want.itertuples(index=False))))
    assert int(first.scalar("SELECT count(*) FROM derived.suspected_dropouts WHERE period <> :p", {"p": JUNE})) == 0


@pytest.mark.parametrize("title", ["一生一表", "劝返无效上报名单"])
def test_r3_and_r4_of_a_backlog_run_equal_the_in_order_ones(in_order, backlog, title):
    got = workbook_digests(report_file(backlog, JUNE, title))
    want = workbook_digests(report_file(in_order.home, JUNE, title))
    assert len(got) == len(want) and len(got) >= 1
    differing = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert differing == [], f"{title}: sheets {differing[:5]} differ"


# Independently of R4's SQL: per child whose case is escalated at the month's end, the latest escalation's date
# and month (new on the list when that is this month: the generated cases never leave and re-enter the list).
ESCALATED_OPEN_SQL = """
    SELECT e.person_key, CAST(max(e.event_date) AS TEXT) AS escalated_on, max(e.created_for_period) AS escalated_in
    FROM ledger.case_events e
    WHERE e.event_type = 'escalate' AND e.created_for_period <= :p
      AND (SELECT l.to_state FROM ledger.case_events l WHERE l.person_key = e.person_key AND l.created_for_period <= :p
           ORDER BY l.created_for_period DESC, l.event_seq DESC LIMIT 1) = 'escalated'
    GROUP BY e.person_key"""


def r4_body(path: Path) -> pd.DataFrame:
    raw = pd.read_excel(path, header=None, engine="calamine")
    top = next(i for i, row in raw.iterrows() if {"上报日期", "本月新增"} <= set(map(str, row.dropna())))
    end = next(i for i in range(top + 1, len(raw)) if str(raw.iloc[i, 0]) == "合计")
    body = raw.iloc[top + 1:end].reset_index(drop=True)
    body.columns = [str(v) for v in raw.iloc[top]]
    return body


def test_r4_lists_escalated_open_cases_with_date_and_new_mark(in_order):
    seen_new = seen_earlier = 0
    for period in MONTHS:
        body = r4_body(report_file(in_order.home, period, "劝返无效上报名单"))
        want = in_order.warehouse.query_df(ESCALATED_OPEN_SQL, {"p": period})
        listed, escalated = len(body), len(want)
        assert listed == escalated, period
        dates_listed, dates_escalated = sorted(body["上报日期"].astype(str)), sorted(want["escalated_on"])
        assert dates_listed == dates_escalated, period
        new = int((want["escalated_in"] == period).sum())
        marked = int((body["本月新增"].astype(str) == "是").sum())
        assert marked == new, period
        seen_new += new
        seen_earlier += len(want) - new
    assert seen_new > 0 and seen_earlier > 0  # both kinds occur, so the mark is tested


def test_rerunning_an_earlier_month_keeps_the_backlog_ledger(in_order, backlog):
    """May is materialised on the backlog home after June: its events are derived again, the same."""
    wh = warehouse_of(backlog)
    before = wh.query_df(EVENTS_SQL)
    result = dg.materialize([case_events], partition_key="2026-05", instance=dg.DagsterInstance.ephemeral(),
                            resources=definitions_for(backlog).resources)
    assert result.success
    (mat,) = result.asset_materializations_for_node(case_events.op.name)
    assert mat.metadata["later_periods"].value == [JUNE] and mat.metadata["caught_up_periods"].value == {}
    assert digest(wh.query_df(EVENTS_SQL)) == digest(before)


def test_skipped_months_are_caught_up_after_the_last_month_run(in_order):
    """March run, then June (April and May never run): the same ledger as every month in order."""
    home = run_home(in_order.generated, (MONTHS[0], JUNE))
    try:
        wh = warehouse_of(home)
        periods = wh.query_df("SELECT period, suspicion_from FROM ledger.periods ORDER BY period")
        assert list(periods["suspicion_from"]) == ["derived", "evaluated", "evaluated", "derived"]
        assert digest(wh.query_df(EVENTS_SQL)) == digest(in_order.warehouse.query_df(EVENTS_SQL))
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


def test_casework_before_the_first_roll_call_month_is_kept_without_flagging_everyone(in_order):
    """A persuasion record dated February, before the first month of roll call: the backlog run starts the
    ledger in February with that child's case, and February's missing roll call flags nobody (no SD5 for
    every registered child)."""
    esc = in_order.truth[in_order.truth["case"] == "ESC"]
    child = sorted(set(esc["id_number"]) - {""})[0]
    csv = f"身份证件号,劝返日期,劝返方式,劝返单位,劝返结果,辍学原因\n{child},2026-02-16,上门,建安区教育局,未返校,厌学\n"
    home = run_home(in_order.generated, (JUNE,), extra_casework=csv)
    try:
        wh = warehouse_of(home)
        periods = wh.query_df("SELECT period, suspicion_from FROM ledger.periods ORDER BY period")
        assert list(periods["period"]) == ["2026-02", *MONTHS]
        flagged = int(wh.scalar("SELECT count(*) FROM ledger.evaluated_suspected WHERE period = '2026-02'"))
        assert flagged == 0
        feb = wh.query_df("SELECT person_key, event_type FROM ledger.case_events WHERE created_for_period = '2026-02'")
        assert_same("February's cases", set(feb["person_key"]), {child})
        assert list(feb["event_type"]) == ["open", "confirm", "attempt"]
        attempts = wh.query_df("SELECT attempt_count FROM ledger.cases WHERE person_key = :k", {"k": child})
        ordered = in_order.warehouse.query_df("SELECT attempt_count FROM ledger.cases WHERE person_key = :k",
                                              {"k": child})
        with_february, without = int(attempts["attempt_count"].iloc[0]), int(ordered["attempt_count"].iloc[0])
        assert with_february == without + 1
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


# ---- the bundled sample, June alone (make demo) ---------------------------------------------------------------

def test_demo_june_alone_lists_the_escalations_of_the_sample():
    """R4 of a first run on the sample lists every child escalated by June (the planted ESC cases), and R3
    counts the attempts made before June."""
    home = sample_run()
    body = r4_body(report_file(home, JUNE, "劝返无效上报名单"))
    listed, planted = len(body), len(sample_truth("ESC", JUNE))
    assert planted > 0 and listed == planted
    fewest_attempts = int(body["劝返次数"].astype(int).min())
    assert fewest_attempts >= 3
    attempts = warehouse_of(home).query_df(
        "SELECT count(*) AS n FROM ledger.case_events WHERE event_type = 'attempt' AND created_for_period < :p",
        {"p": JUNE})
    assert int(attempts["n"].iloc[0]) > 0


def r5_rows(home: Path, period: str) -> pd.DataFrame:
    """Every data row of every R5 workbook and sheet of the period (calamine), columns named by the header."""
    frames = []
    for path in sorted((home / "reports" / period).glob("*_人籍不一致整改清单_*.xlsx")):
        for raw in pd.read_excel(path, sheet_name=None, header=None, engine="calamine").values():
            tops = [i for i, row in raw.iterrows() if {"检查项", "身份证件号", "姓名"} <= set(map(str, row.dropna()))]
            if not tops:
                continue
            body = raw.iloc[tops[0] + 1:].reset_index(drop=True)
            body.columns = [str(v) for v in raw.iloc[tops[0]]]
            frames.append(body[body["检查项"].astype(str).str.match(r"DQ0\d")])
    return pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame()


def test_r5_present_but_unregistered_rows_identify_the_child():
    """DQ06 rows carry the ID the roll call has (its ID column, else the ID inside a G student number) and
    the child's name wherever the census or the registry knows that ID."""
    home = sample_run()
    rows = r5_rows(home, JUNE)
    dq06 = rows[rows["检查项"] == "DQ06"]
    truth = sample_truth("DQ06", JUNE)
    want = {i or (n[1:] if n.startswith("G") and len(n) == 19 else "") for i, n in
            zip(truth["id_number"], truth["student_no"])} - {""}
    # The sample's truth predates the matching rule (DESIGN.md "Matching a child"): a roll-call row carrying only
    # G + an ID that fails GB 11643 (wrong length, impossible birth date) cannot be matched to the registry record holding that invalid ID (only a
    # valid ID inside a G number is the person's), so it is also 在校无籍 — and listed for the school to fix.
    from kongchuo import idnumber

    def unmatchable(sno: str, id_: str) -> bool:
        return sno.startswith("G") and not idnumber.is_valid(sno[1:]) and id_ in ("", sno[1:])

    ids = dq06["身份证件号"].astype(str)
    planted_numbers = set(truth["student_no"]) | set(truth["record_key"])
    extra = [(n, i) for n, i in zip(dq06["全国学籍号"].astype(str), ids) if i not in want and n not in planted_numbers]
    listed, planted, with_id = len(dq06) - len(extra), len(truth), len(want)
    assert with_id > 0 and listed == planted
    assert all(unmatchable(n, i) for n, i in extra), "DQ06 rows beyond the sample's truth that the rule explains"
    assert_same("DQ06 IDs in R5", set(ids) - {""} - {i for _, i in extra}, want)
    unidentified = int(((dq06["身份证件号"].astype(str) == "") & (dq06["全国学籍号"].astype(str) == "")).sum())
    assert unidentified == 0
    known = set(warehouse_of(home).query_df(
        "SELECT id_number FROM staged.census_current UNION SELECT id_number FROM staged.registry_current "
        "WHERE id_number IS NOT NULL")["id_number"])
    named = dq06[dq06["身份证件号"].isin(known)]  # (the sample's unregistered children are on neither list)
    nameless = int((named["姓名"].astype(str) == "").sum())
    assert nameless == 0
