"""End to end on a generated district: ingest → checks → derived → reports through the real definitions.

Every planted DQ anomaly is flagged by the right check and nothing else (precision = recall = 1.0 per check
id against ground_truth.csv); a registry extract naming an unknown school (DQ08, an error for the file) is
quarantined, the district's run goes on with draft reports, and the previous period's reports stay untouched.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from conftest import use_home

from kongchuo.generate import Rates, generate
from kongchuo.masking import mask_id
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

START, END = dt.date(2026, 3, 2), dt.date(2026, 4, 30)
PERIOD = "2026-04"
RATES = Rates(DQ01=0.01, DQ02=0.01, DQ04=0.01, DQ06=0.01, DQ07=0.01)
SNAPSHOT = ("DQ01", "DQ02", "DQ04", "DQ07", "DQ08")
PERIODIC = ("DQ05", "DQ06")


def _masked(keys, n=5) -> list[str]:
    return [mask_id(k) for k in sorted(keys)[:n]]


def _defs(home: Path) -> dg.Definitions:
    from pipelines.definitions import defs
    from pipelines.jobs import monthly_job

    resources = {"home": KongchuoHome(path=str(home)),
                 "warehouse": WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")}
    return dg.Definitions(assets=list(defs.assets), asset_checks=list(defs.asset_checks), jobs=[monthly_job],
                          resources=resources)


def _run(home: Path, period: str, instance: dg.DagsterInstance):
    from pipelines.run import run_period

    return run_period(period, defs=_defs(home), instance=instance)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "home"
    generate("411003", 1500, 5, START, END, out, rates=RATES)
    return out


@pytest.fixture
def home(generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_home(tmp_path / "home", monkeypatch, copy_of=generated)


def test_every_planted_anomaly_flagged_by_the_right_check(home: Path):
    instance = dg.DagsterInstance.ephemeral()
    outcome = _run(home, PERIOD, instance)
    truth = pd.read_csv(home / "ground_truth.csv", dtype=str, keep_default_na=False)
    wh = WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")
    # The generator plants DQ01/DQ02 in the registry; the same IDs reach the roll call and the census, whose own
    # DQ01/DQ02 (checks/id_checks.py) are tested in test_id_checks.
    got = wh.query_df("SELECT check_id, record_key FROM checks.findings WHERE run_id = :r "
                      "AND (check_id NOT IN ('DQ01', 'DQ02') OR source = 'registry')", {"r": outcome.run_id})
    problems, sizes = [], {}
    for check_id in SNAPSHOT + PERIODIC:
        t = truth[truth["case"] == check_id]
        if check_id in PERIODIC:
            t = t[t["period"] == PERIOD]
        want = set(t["record_key"])
        have = set(got.loc[got["check_id"] == check_id, "record_key"].dropna())
        sizes[check_id] = (len(want), len(have))
        tp = len(want & have)
        precision = tp / len(have) if have else 1.0
        recall = tp / len(want) if want else 1.0
        if precision != 1.0 or recall != 1.0:
            problems.append(f"{check_id}: truth {len(want)} found {len(have)} precision {precision:.3f} "
                            f"recall {recall:.3f} missed {_masked(want - have)} extra {_masked(have - want)}")
    print("truth/found per check:", sizes)
    assert not problems, "\n".join(problems)
    assert all(sizes[c][0] > 0 for c in ("DQ01", "DQ02", "DQ04", "DQ05", "DQ06", "DQ07")), sizes
    assert len(truth[truth["case"].isin(["DQ01", "DQ04", "DQ06", "DQ07"])]) > 0
    assert not {c for _, c, sev in outcome.failed_checks if sev == "ERROR"}, outcome.summary()
    r5 = sorted((home / "reports" / PERIOD).glob("*人籍不一致整改清单*.xlsx"))
    assert r5, outcome.summary()


def test_a_file_with_unknown_codes_is_quarantined_and_the_district_goes_on(home: Path, capsys):
    """DQ08 (issue 13): a registry file naming a school the reference data does not know is a bad delivery, not a
    stop for the district. It is quarantined whole (raw copy unchanged), its code named with file, row and column;
    the run goes on and April's reports are drafts naming it; DQ08 is ERROR in Dagster in every run of April
    until a corrected file lands; March's reports are untouched."""
    instance = dg.DagsterInstance.ephemeral()
    first = _run(home, "2026-03", instance)
    assert first.success, first.summary()
    before = {p.name: p.read_bytes() for p in (home / "reports" / "2026-03").iterdir()}
    assert any("整改清单" in n for n in before)
    landing = home / "landing" / "registry"
    header = "全国学籍号,身份证件号,姓名,性别,出生日期,学校标识码,年级,学籍状态\n"
    bad_name = "补报学籍_2026-04.csv"
    bad_bytes = (header + "G411003201503050012,,王小明,男,2015-03-05,9999999999,5,在读\n").encode("utf-8")
    landing.joinpath(bad_name).write_bytes(bad_bytes)
    wh = WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")
    for attempt in ("quarantining run", "plain re-run"):
        outcome = _run(home, PERIOD, instance)
        print(outcome.summary())
        out = capsys.readouterr().out
        assert outcome.success and not outcome.skipped, (attempt, outcome.summary())
        assert ("staged/registry", "dq08_known_codes", "ERROR") in outcome.failed_checks, attempt
        assert "dq08_known_codes" in out
        assert "reports/r1_monthly" in outcome.materialized, outcome.materialized
        drafts = sorted(p.name for p in (home / "reports" / PERIOD).glob("*.xlsx"))
        assert drafts and all(n.endswith("_草稿.xlsx") for n in drafts), drafts
        found = wh.query_df("SELECT detail FROM checks.findings WHERE run_id = :r AND check_id = 'DQ08' "
                            "AND severity = 'error'", {"r": outcome.run_id})
        assert len(found) == 1, attempt
        detail = found["detail"].iloc[0]
        assert bad_name in detail and "学校标识码 9999999999 不在参考数据" in detail
        assert "列「学校标识码」第2行" in detail and "411003201503050012" not in detail
    assert wh.scalar("SELECT count(*) FROM staged.registry_current WHERE school_code = '9999999999'") == 0
    [kept] = [p for p in (home / "quarantine" / "registry").iterdir() if not p.name.endswith(".error.txt")]
    assert kept.read_bytes() == bad_bytes
    after = {p.name: p.read_bytes() for p in (home / "reports" / "2026-03").iterdir()}
    assert after == before
    wh.dispose()
