"""The case ledger: state machine (pure function), determinism of re-runs, and backfills of older periods
that never erase or reorder later events (on the generated district run through Dagster)."""

from __future__ import annotations

import datetime as dt
import hashlib

import dagster as dg
import pandas as pd
import pytest
from district_run import MONTHS, definitions_for, district_run

from assets.ledger import COLUMNS, case_events, derive_events

END = {"2026-03": dt.date(2026, 3, 31), "2026-04": dt.date(2026, 4, 30)}
PRIOR_COLS = ["person_key", "id_number", "student_no", "school_code", "township_code", "state", "attempt_count",
              "failed_attempts"]
FLAG_COLS = ["person_key", "id_number", "student_no", "school_code", "township_code", "rules", "attendance_sha",
             "registry_sha"]
TRY_COLS = ["person_key", "attempt_date", "method", "unit", "result", "dropout_reason", "file_sha"]
CLOSE_COLS = ["person_key", "kind", "evidence", "source", "file_sha"]
PEOPLE_COLS = ["person_key", "id_number", "student_no", "school_code", "township_code"]
KEY = "K1"  # a synthetic person key: the pure tests need no real ID numbers


def frame(cols, rows=()):
    return pd.DataFrame(list(rows), columns=cols)


def flag(rules="SD5", key=KEY):
    return frame(FLAG_COLS, [(key, None, "G1", "S1", "T1", rules, "att-sha", "reg-sha")])


def attempt(day, result, key=KEY, month=3):
    return (key, dt.date(2026, month, day), "visit", "unit", result, "厌学", "case-sha")


def derive(period, prior=None, flagged=None, attempts=(), closers=(), people=()):
    return derive_events(period, END[period], prior if prior is not None else frame(PRIOR_COLS),
                         flagged if flagged is not None else frame(FLAG_COLS), frame(TRY_COLS, attempts),
                         frame(CLOSE_COLS, closers), frame(PEOPLE_COLS, people))


def state_after(events: pd.DataFrame, prior: pd.DataFrame | None = None) -> pd.DataFrame:
    """The prior-state frame the next period's run would read (last event per person)."""
    last = events.sort_values(["created_for_period", "event_seq"]).groupby("person_key").tail(1)
    new = last.rename(columns={"to_state": "state"})[PRIOR_COLS]
    if prior is not None:
        new = pd.concat([prior[~prior["person_key"].isin(new["person_key"])], new])
    return new.reset_index(drop=True)


def test_three_failed_attempts_escalate():
    ev = derive("2026-03", flagged=flag("SD4,SD5"),
                attempts=[attempt(5, "not_returned"), attempt(12, "not_returned"), attempt(20, "not_returned")])
    assert list(ev["event_type"]) == ["open", "confirm", "attempt", "attempt", "attempt", "escalate"]
    assert list(ev["to_state"]) == ["suspected", "confirmed", "persuading", "persuading", "persuading", "escalated"]
    assert list(ev["event_seq"]) == list(range(1, 7)) and list(ev.columns) == COLUMNS
    assert ev.iloc[-1]["failed_attempts"] == 3 and ev.iloc[-1]["source"] == "casework"
    assert ev.iloc[0]["source"] == "registry" and ev.iloc[0]["source_file_sha"] == "reg-sha"


def test_return_in_between_does_not_count_and_escalation_needs_latest_failure():
    ev = derive("2026-03", flagged=flag(), attempts=[
        attempt(2, "returned"), attempt(9, "not_returned"), attempt(16, "not_returned")])
    assert ev.iloc[-1]["to_state"] == "persuading" and ev.iloc[-1]["attempt_count"] == 3
    ev2 = derive("2026-04", prior=state_after(ev), flagged=flag(),
                 attempts=[attempt(3, "not_returned", month=4), attempt(9, "returned", month=4)])
    assert list(ev2["event_type"]) == ["attempt", "escalate", "attempt"]
    assert list(ev2["to_state"]) == ["persuading", "escalated", "returned"]


def test_returned_case_closes_after_a_full_month():
    ev = derive("2026-03", flagged=flag("SD1"), attempts=[attempt(20, "returned")])
    assert ev.iloc[-1]["to_state"] == "returned"
    full = [(KEY, "returned", "本月应到 20 天，到校 20 天，无旷课", "attendance", "att-sha")]
    ev2 = derive("2026-04", prior=state_after(ev), closers=full)
    assert list(ev2["event_type"]) == ["close"]
    assert ev2.iloc[0]["reason"] == "已复学" and ev2.iloc[0]["source"] == "attendance"
    # still flagged: no close-out, the case relapses
    ev3 = derive("2026-04", prior=state_after(ev), flagged=flag("SD1"), closers=full)
    assert list(ev3["event_type"]) == ["relapse"]


@pytest.mark.parametrize("kind,reason", [("deceased", "死亡"), ("moved_out", "迁出/出国"), ("exempted", "延缓入学/休学"),
                                         ("home_taught", "送教上门"), ("aged_out", "超龄离校"),
                                         ("record_error", "信息错误")])
def test_close_out_reasons_name_their_evidence(kind, reason):
    ev = derive("2026-03", flagged=flag())
    closer = [(KEY, kind, f"evidence of {kind}", "census", "census-sha")]
    ev2 = derive("2026-04", prior=state_after(ev), closers=closer)
    assert list(ev2["event_type"]) == ["close"] and ev2.iloc[0]["reason"] == reason
    assert ev2.iloc[0]["evidence"] == f"evidence of {kind}" and ev2.iloc[0]["source_file_sha"] == "census-sha"


def test_record_error_needs_a_registry_record_first():
    """A child persuaded to enrol (casework, never registered) is not closed as a record error."""
    ev = derive("2026-03", attempts=[attempt(5, "not_returned")])
    assert list(ev["event_type"]) == ["open", "confirm", "attempt"]
    closer = [(KEY, "record_error", "no record", "registry", "reg-sha")]
    assert derive("2026-04", prior=state_after(ev), closers=closer).empty


def test_closed_case_reopens_and_keeps_its_counts():
    ev = derive("2026-03", flagged=flag(), attempts=[attempt(5, "not_returned")])
    closed = derive("2026-04", prior=state_after(ev), closers=[(KEY, "exempted", "休学", "exemptions", "x")])
    prior = state_after(pd.concat([ev, closed]))
    ev3 = derive_events("2026-04", END["2026-04"], prior, flag(), frame(TRY_COLS), frame(CLOSE_COLS),
                        frame(PEOPLE_COLS))
    assert list(ev3["event_type"]) == ["reopen"] and ev3.iloc[0]["attempt_count"] == 1


def test_derivation_is_a_pure_function_of_its_inputs():
    args = dict(flagged=pd.concat([flag("SD5", "K2"), flag("SD4", "K1")]),
                attempts=[attempt(9, "not_returned", "K2"), attempt(3, "returned", "K1")])
    a, b = derive("2026-03", **args), derive("2026-03", **args)
    assert a.equals(b)
    assert list(a["person_key"]) == sorted(a["person_key"])  # ordered by person key, then step


# ---- on the generated district, through Dagster ---------------------------------------------------------------

@pytest.fixture(scope="module")
def run():
    return district_run()


def ledger_frame(run) -> pd.DataFrame:
    return run.warehouse.query_df(
        f"SELECT {', '.join(COLUMNS)} FROM ledger.case_events ORDER BY created_for_period, event_seq")


def digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode("utf-8")).hexdigest()


def materialize_ledger(run, period: str) -> dg.MaterializeResult:
    result = dg.materialize([case_events], partition_key=period, instance=run.instance,
                            resources=definitions_for(run.home).resources)
    assert result.success
    (mat,) = result.asset_materializations_for_node(case_events.op.name)
    return mat


def test_every_period_has_events_and_cases_view(run):
    df = ledger_frame(run)
    assert set(df["created_for_period"]) == set(MONTHS)
    assert (df["period"] == df["created_for_period"]).all()
    assert df.groupby("created_for_period")["event_seq"].apply(lambda s: list(s) == list(range(1, len(s) + 1))).all()
    assert df["source_file_sha"].notna().all() and set(df["source"]) <= {
        "attendance", "registry", "casework", "census", "exemptions", "home_teaching"}
    closes = df[df["event_type"] == "close"]
    assert closes["reason"].isin(["已复学", "超龄离校", "死亡", "迁出/出国", "延缓入学/休学", "送教上门", "信息错误"]).all()
    cases = run.warehouse.query_df("SELECT person_key, state FROM ledger.cases")
    assert cases["person_key"].is_unique and len(cases) == df["person_key"].nunique()


def test_rerunning_a_period_gives_the_same_ledger(run):
    before = ledger_frame(run)
    materialize_ledger(run, "2026-05")
    after = ledger_frame(run)
    assert digest(after) == digest(before) and after.equals(before)


def test_backfilling_an_older_period_keeps_later_events(run):
    before = ledger_frame(run)
    mat = materialize_ledger(run, "2026-03")
    assert mat.metadata["later_periods"].value == ["2026-04", "2026-05", "2026-06"]
    assert digest(ledger_frame(run)) == digest(before)


def test_backfill_with_changed_inputs_rewrites_only_its_own_period(run):
    """April's casework is corrected (rows withdrawn) and April is backfilled: April's events change, May's
    and June's stay byte-for-byte; re-running May and June in order carries the change forward. Restoring
    the rows and backfilling again gives back the original ledger."""
    wh = run.warehouse
    before = ledger_frame(run)
    later = before[before["created_for_period"] > "2026-04"]
    wh.execute(["CREATE TABLE staged.casework_backup AS SELECT * FROM staged.casework "
                "WHERE attempt_date BETWEEN DATE '2026-04-01' AND DATE '2026-04-30'",
                "DELETE FROM staged.casework WHERE attempt_date BETWEEN DATE '2026-04-01' AND DATE '2026-04-30'"])
    try:
        assert int(wh.scalar("SELECT count(*) FROM staged.casework_backup")) > 0
        materialize_ledger(run, "2026-04")
        changed = ledger_frame(run)
        april = lambda df: df[df["created_for_period"] == "2026-04"].reset_index(drop=True)  # noqa: E731
        assert digest(april(changed)) != digest(april(before))
        assert (april(changed)["event_type"] == "attempt").sum() < (april(before)["event_type"] == "attempt").sum()
        assert digest(changed[changed["created_for_period"] > "2026-04"]) == digest(later)
        assert digest(changed[changed["created_for_period"] < "2026-04"]) == digest(
            before[before["created_for_period"] < "2026-04"])
        materialize_ledger(run, "2026-05")
        materialize_ledger(run, "2026-06")
        carried = ledger_frame(run)
        assert digest(carried[carried["created_for_period"] > "2026-04"]) != digest(later)
    finally:
        wh.execute(["INSERT INTO staged.casework SELECT * FROM staged.casework_backup",
                    "DROP TABLE staged.casework_backup"])
        for period in ("2026-04", "2026-05", "2026-06"):
            materialize_ledger(run, period)
    assert digest(ledger_frame(run)) == digest(before)


def test_catch_up_fills_only_the_months_after_the_last_one_derived(run):
    """Every month run in order: nothing to catch up before any of them; a later month catches up the months
    between (never a month before one already derived, which would put events before derived ones)."""
    from assets.ledger import catch_up_periods

    wh = run.warehouse
    assert all(catch_up_periods(wh, period) == [] for period in MONTHS)
    assert catch_up_periods(wh, "2026-09") == ["2026-07", "2026-08"]
    derived = wh.query_df("SELECT period, suspicion_from FROM ledger.periods ORDER BY period")
    assert list(derived["period"]) == list(MONTHS) and set(derived["suspicion_from"]) == {"derived"}
