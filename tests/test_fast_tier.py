"""The fast tier's end-to-end part (``make check``): the Definitions load, and one small generated district runs
its first month through the real monthly job in process, every rule against the generator's ground truth.

The whole suite (``make test``) runs the same checks on larger districts over a term and a quarter (test_rules);
this one exists so an engineer learns within a minute that a change broke the graph end to end."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from district_run import START, _generated_run, assert_same

pytestmark = pytest.mark.fast

MONTH = "2026-03"


def test_definitions_load_and_resolve_every_job():
    from pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {"monthly_job", "quarterly_job", "ingest_job"} <= jobs


@pytest.fixture(scope="module")
def small_run():
    return _generated_run(START, dt.date(2026, 3, 31), (MONTH,), 300, 21)


def test_small_district_month_matches_the_planted_truth(small_run):
    outcome = small_run.outcomes[MONTH]
    assert outcome.success, f"{outcome.error} skipped={outcome.skipped} failed={outcome.failed_checks}"
    got_df = small_run.warehouse.query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    planted = 0
    for rule in ("SD1", "SD2", "SD3", "SD4", "SD5", "SD6"):
        got = {(p, k) for p, k, rules in got_df.itertuples(index=False) if rule in rules.split(",")}
        want = {pair for pair in small_run.truth_pairs(rule) if pair[0] == MONTH}
        planted += len(want)
        assert_same(rule, got, want)
    assert planted, "the generator planted no suspected dropout in the month"
    oos = small_run.warehouse.query_df("SELECT period, id_number, verify_elsewhere FROM derived.out_of_school")
    for case, away in (("OOS", False), ("OOS_AWAY", True)):
        got = {(p, i) for p, i, v in oos.itertuples(index=False) if bool(v) == away}
        assert_same(case, got, {pair for pair in small_run.truth_pairs(case) if pair[0] == MONTH})
    assert list((small_run.home / "reports" / MONTH).glob("*控辍保学月报.xlsx"))
