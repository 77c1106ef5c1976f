"""Absence-only attendance end to end: the generator writes only the non-present rows plus
``reference/school_calendar.csv``; the real monthly job runs with ``KongchuoHome.attendance_mode="absence_only"``
and every rule and attendance check equals the generator's ground truth (precision = recall = 1.0).

In this mode a child without rows was present: SD5 and DQ05 are not evaluated (DQ05 passes, "not applicable");
planted SD5 children are absent unexcused every school day (SD1, and SD2 in the term's first month).
Messages carry counts and masked keys only (district_run.assert_same), never full IDs or names.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from district_run import assert_same, kongchuo_env

from kongchuo.generate import generate
from kongchuo.settings import default_warehouse_url
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

START, END = dt.date(2026, 3, 2), dt.date(2026, 5, 31)
MONTHS = ("2026-03", "2026-04")  # the term's first month (SD2) and an ordinary month


def _defs(home: Path, mode: str = "absence_only") -> dg.Definitions:
    from pipelines.definitions import defs
    from pipelines.jobs import monthly_job

    return dg.Definitions(
        assets=list(defs.assets), asset_checks=list(defs.asset_checks), jobs=[monthly_job],
        resources={"home": KongchuoHome(path=str(home), attendance_mode=mode),
                   "warehouse": WarehouseResource(url=default_warehouse_url(home))})


def _install(generated: Path, home: Path) -> Path:
    for part in ("landing", "reference"):
        shutil.copytree(generated / part, home / part, dirs_exist_ok=True)
    return home


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("absence") / "generated"
    generate("411003", 1500, 11, START, END, out, attendance="absence_only")
    return out


@pytest.fixture(scope="module")
def run(generated: Path, tmp_path_factory):
    from pipelines.run import run_period

    home = _install(generated, tmp_path_factory.mktemp("absence-home") / "home")
    instance = dg.DagsterInstance.ephemeral()
    with kongchuo_env(home):
        outcomes = {m: run_period(m, instance=instance, defs=_defs(home)) for m in MONTHS}
    truth = pd.read_csv(generated / "ground_truth.csv", dtype=str, keep_default_na=False)
    truth = truth[truth["period"].isin(MONTHS) | (truth["period"] == "")]
    return {"home": home, "outcomes": outcomes, "truth": truth, "instance": instance,
            "warehouse": WarehouseResource(url=default_warehouse_url(home))}


def _pairs(truth: pd.DataFrame, case: str, column: str = "person_key") -> set[tuple[str, str]]:
    t = truth[truth["case"] == case]
    return set(zip(t["period"], t[column]))


def test_generator_writes_absence_rows_and_calendar(generated: Path):
    meta = json.loads((generated / "meta.json").read_text(encoding="utf-8"))
    assert meta["attendance"] == "absence_only"
    calendar = pd.read_csv(generated / "reference" / "school_calendar.csv", dtype=str)
    assert list(calendar.columns) == ["date"] and len(calendar) == meta["school_days"]
    assert calendar["date"].iloc[0] == meta["term_first_days"]["2026-spring"]
    files = [f for f in meta["files"] if f["source"] == "attendance"]
    assert {f["format"] for f in files} >= {"csv-utf8", "xlsx"} and {f["key"] for f in files} == {"student_no",
                                                                                                   "id_number"}
    # only non-present statuses, in both spellings; far fewer rows than a roll call (students x school days)
    statuses = set()
    for f in files:
        path = generated / f["path"]
        frame = (pd.read_excel(path, dtype=str, engine="calamine") if path.suffix == ".xlsx"
                 else pd.read_csv(path, dtype=str, encoding=f["encoding"].replace("-bom", "-sig")))
        statuses |= set(frame.iloc[:, 3])
    assert statuses and not statuses & {"出勤", "present"}, statuses
    assert sum(f["rows"] for f in files) < 0.1 * meta["students"] * meta["school_days"]
    cases = set(meta["case_counts"])
    assert not cases & {"SD5", "DQ05"} and {"SD1", "SD2", "SD3", "DQ06"} <= cases


def test_runs_succeeded(run):
    for period, outcome in run["outcomes"].items():
        assert outcome.success, outcome.summary()


@pytest.mark.parametrize("rule", ["SD1", "SD2", "SD3", "SD4"])
def test_rule_equals_ground_truth(run, rule):
    got_df = run["warehouse"].query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    got = {(p, k) for p, k, rules in got_df.itertuples(index=False) if rule in rules.split(",")}
    want = _pairs(run["truth"], rule)
    assert want, f"the generator planted no {rule} case"
    assert_same(rule, got, want)


def test_no_sd5_and_children_absent_every_day_are_sd1(run):
    wh = run["warehouse"]
    got = wh.query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    assert not any("SD5" in r.split(",") for r in got["rules"])
    assert _pairs(run["truth"], "SD5") == set()
    # the planted "no attendance" children are absent unexcused on every school day: SD1 (unless excluded)
    always = wh.query_df("SELECT period, person_key FROM derived.roster WHERE status = 'active' AND school_days > 0 "
                         "AND unexcused_days = school_days")
    always = set(zip(always["period"], always["person_key"]))
    assert always, "no child absent unexcused on every school day"
    excluded = run["truth"][(run["truth"]["case"] == "EXCLUDED") & run["truth"]["detail"].str.startswith("SD1")]
    sd1 = {(p, k) for p, k, rules in got.itertuples(index=False) if "SD1" in rules.split(",")}
    assert_same("absent every day but not SD1", always - sd1 - set(zip(excluded["period"], excluded["person_key"])),
                set())


def test_excluded_children_are_not_flagged(run):
    flagged = set(map(tuple, run["warehouse"].query_df(
        "SELECT period, person_key FROM derived.suspected_dropouts").itertuples(index=False)))
    excluded = run["truth"][(run["truth"]["case"] == "EXCLUDED") & run["truth"]["detail"].str.startswith("SD")]
    assert_same("excluded but flagged", flagged & set(zip(excluded["period"], excluded["person_key"])), set())


@pytest.mark.parametrize("period", MONTHS)
def test_attendance_checks_equal_ground_truth(run, period):
    wh = run["warehouse"]
    run_id = run["outcomes"][period].run_id
    got = wh.query_df("SELECT check_id, record_key, school_code FROM checks.findings WHERE run_id = :r", {"r": run_id})
    t = run["truth"]
    t6 = t[(t["case"] == "DQ06") & (t["period"] == period)]
    assert len(t6), "the generator planted no DQ06 case"
    g6 = got[got["check_id"] == "DQ06"]
    assert_same(f"DQ06 {period}", set(zip(g6["record_key"], g6["school_code"])),
                set(zip(t6["record_key"], t6["school_code"])))
    assert_same(f"DQ05 {period}", set(got.loc[got["check_id"] == "DQ05", "record_key"]), set())


def test_dq05_passes_as_not_applicable(run):
    instance = run["instance"]
    for period, outcome in run["outcomes"].items():
        records = instance.all_logs(outcome.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        evals = {r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data for r in records}
        dq05 = evals["dq05_registered_absent"]
        assert dq05.passed, period
        assert dq05.metadata["applicable"].value == "not applicable in absence_only mode"
        assert dq05.metadata["attendance_mode"].value == "absence_only"
        assert evals["dq10_extract_covers_period"].passed, period


def test_roster_days_from_calendar(run):
    wh = run["warehouse"]
    ro = wh.query_df("SELECT status, school_days, attendance_days, present_days, unexcused_days, leave_days, "
                     "term_days_present FROM derived.roster WHERE period = '2026-04'")
    calendar = pd.read_csv(run["home"] / "reference" / "school_calendar.csv", dtype=str)
    april_days = int(calendar["date"].str.startswith("2026-04").sum())
    active = ro[ro["status"] == "active"]
    assert (active["school_days"] == april_days).all()
    assert (active["attendance_days"] == april_days).all()
    assert (active["present_days"] + active["unexcused_days"] + active["leave_days"] == april_days).all()
    assert (active["present_days"] == april_days).mean() > 0.5  # most children have no absence row at all


def test_missing_calendar_fails_naming_the_file(generated: Path, tmp_path: Path, monkeypatch):
    from pipelines.run import run_period

    home = _install(generated, tmp_path / "home")
    (home / "reference" / "school_calendar.csv").unlink()
    with kongchuo_env(home):
        outcome = run_period("2026-03", instance=dg.DagsterInstance.ephemeral(), defs=_defs(home))
    assert not outcome.success
    assert outcome.error and "school_calendar.csv" in outcome.error, outcome.summary()
    assert "staged/reference" not in outcome.materialized and "derived/roster" not in outcome.materialized
