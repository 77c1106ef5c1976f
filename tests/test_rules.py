"""Every rule against the generator's ground truth, from a real Dagster run of the graph (district_run):
precision = recall = 1.0 per (period, child) for SD1–SD6, out of school (OOS, OOS_AWAY), home-teaching
non-compliance (HT_NONCOMPLIANT) and escalations (ESC, from the case ledger)."""

from __future__ import annotations

import pytest
from district_run import AUTUMN_MONTHS, MONTHS, QUARTER, assert_same, autumn_run, district_run


@pytest.fixture(scope="module")
def run():
    return district_run()


RULES = ["SD1", "SD2", "SD3", "SD4", "SD5", "SD6"]


def assert_runs_succeeded(run) -> None:
    for period, outcome in run.outcomes.items():
        assert outcome.success, f"{period}: {outcome.error} skipped={outcome.skipped} failed={outcome.failed_checks}"


def assert_rule_matches_truth(run, rule: str, label: str) -> None:
    """Precision = recall = 1.0 for one rule over every (period, child) of a generated district run."""
    got_df = run.warehouse.query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    got = {(p, k) for p, k, rules in got_df.itertuples(index=False) if rule in rules.split(",")}
    want = run.truth_pairs(rule)
    assert want, f"the generator planted no {rule} case"
    assert_same(label, got, want)


def test_runs_succeeded(run):
    assert_runs_succeeded(run)


@pytest.mark.parametrize("rule", RULES)
def test_suspected_dropout_rule(run, rule):
    assert_rule_matches_truth(run, rule, rule)


def test_excluded_children_are_not_flagged(run):
    flagged = set(map(tuple, run.warehouse.query_df(
        "SELECT period, person_key FROM derived.suspected_dropouts").itertuples(index=False)))
    excluded = run.truth[(run.truth["case"] == "EXCLUDED") & run.truth["detail"].str.startswith("SD")]
    hits = set(zip(excluded["period"], excluded["person_key"]))
    assert hits, "the generator planted no excluded rule hit"
    assert_same("excluded but flagged", flagged & hits, set())


@pytest.mark.parametrize("case,away", [("OOS", False), ("OOS_AWAY", True)])
def test_out_of_school(run, case, away):
    df = run.warehouse.query_df("SELECT period, id_number, verify_elsewhere FROM derived.out_of_school")
    got = {(p, i) for p, i, v in df.itertuples(index=False) if bool(v) == away}
    want = run.truth_pairs(case)
    assert want
    assert_same(case, got, want)


def test_home_teaching_noncompliance(run):
    df = run.warehouse.query_df("SELECT period, id_number FROM derived.home_teaching_compliance WHERE NOT compliant")
    got = set(map(tuple, df.itertuples(index=False)))
    want = run.truth_pairs("HT_NONCOMPLIANT", "id_number")
    assert want
    assert_same("HT_NONCOMPLIANT", got, want)


def _ledger_states(run):
    """(period, person_key, state) at the end of every period, from the append-only events."""
    from assets.ledger import state_as_of_sql

    out = set()
    for period in MONTHS:
        df = run.warehouse.query_df(state_as_of_sql(before=False), {"period": period})
        out |= {(period, k, s) for k, s in zip(df["person_key"], df["state"])}
    return out


def test_escalations(run):
    got = {(p, k) for p, k, s in _ledger_states(run) if s == "escalated"}
    want = run.truth_pairs("ESC")
    assert want
    assert_same("ESC", got, want)


def test_returned_children_are_returned_or_closed_as_back_at_school(run):
    states = {(p, k): s for p, k, s in _ledger_states(run)}
    want = run.truth_pairs("RETURNED")
    assert want
    wrong = {pk for pk in want if states.get(pk) not in ("returned", "closed")}
    assert_same("RETURNED not returned", wrong, set())
    closed = run.warehouse.query_df(
        "SELECT DISTINCT person_key, reason FROM ledger.case_events WHERE event_type = 'close'")
    reasons = dict(zip(closed["person_key"], closed["reason"]))
    assert all(reasons[k] == "已复学" for p, k in want if states[(p, k)] == "closed")


def test_quarterly_months_match_monthly_truth(run):
    """The quarterly table re-runs the monthly rules per month of the quarter; full months equal the truth."""
    df = run.warehouse.query_df("SELECT month, person_key FROM derived.quarterly_suspected WHERE period = :p",
                                {"p": QUARTER})
    assert set(df["month"]) == {"2026-04", "2026-05", "2026-06"}
    for month in ("2026-04", "2026-05"):  # June is cut off on the 25th
        got = set(df.loc[df["month"] == month, "person_key"])
        want = {k for case in ("SD1", "SD2", "SD3", "SD4", "SD5", "SD6")
                for p, k in run.truth_pairs(case) if p == month}
        assert_same(f"quarterly {month}", got, want)


# --- the autumn term start: a second generated district (2026-09, 2026-10) ---------------------------------

@pytest.fixture(scope="module")
def autumn():
    return autumn_run()


def test_autumn_runs_succeeded(autumn):
    assert_runs_succeeded(autumn)


@pytest.mark.parametrize("rule", RULES)
def test_autumn_rule(autumn, rule):
    assert_rule_matches_truth(autumn, rule, f"autumn {rule}")


def test_sd2_and_sd6_months_of_the_autumn_term(autumn):
    """SD2 only in the month of the term's 10th school day; SD6 from 30 days after the term's start."""
    df = autumn.warehouse.query_df("SELECT period, rules FROM derived.suspected_dropouts")
    months = {rule: {p for p, rules in df.itertuples(index=False) if rule in rules.split(",")}
              for rule in ("SD2", "SD6")}
    assert months == {"SD2": {AUTUMN_MONTHS[0]}, "SD6": {AUTUMN_MONTHS[1]}}


def test_same_child_by_g_number_or_other_school_is_not_out_of_school_or_sd5(run):
    """Planted: registry ID blank with a G number; present every day at a school other than the registry's."""
    plants = run.truth[run.truth["case"].isin(["DQ05", "DQ06"])]
    got = run.warehouse.query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    sd5 = {k for p, k, rules in got.itertuples(index=False) if "SD5" in rules.split(",")}
    oos = set(run.warehouse.query_df("SELECT id_number FROM derived.out_of_school")["id_number"])
    registry = run.warehouse.query_df(
        "SELECT student_no FROM staged.registry_current WHERE id_number IS NULL AND student_no LIKE 'G%'")
    g_only = {s[1:] for s in registry["student_no"]}
    assert g_only, "the generator planted no G-number-only record"
    assert_same("G-number children listed 失学", g_only & oos, set())
    assert_same("G-number children flagged SD5", g_only & sd5, set())
    other = set(plants.loc[plants["case"] == "DQ06", "person_key"]) & set(
        plants.loc[plants["case"] == "DQ05", "person_key"])
    assert other, "the generator planted no child attending another school"
    assert_same("children at another school flagged SD5", other & sd5, set())
