"""R8 on a generated district (issue 19, "done when"): two registry snapshots a month apart, the generator's planted
changes and verdicts (registry_changes_truth.csv, kongchuo/generate/changes.py) all found.

The real monthly job (``kongchuo run --period 2026-10``) runs through Dagster on a real KONGCHUO_HOME, then the
R8 job of the schedules (``registry_changes_job``); derived.registry_changes is compared with the truth, and the
R8 workbooks are read back with pandas/calamine (not openpyxl, which writes them). Messages carry counts only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from conftest import use_home

from kongchuo.generate import generate
from kongchuo.generate.changes import TRUTH_FILE
from kongchuo.settings import default_warehouse_url
from warehouse.resource import WarehouseResource

PERIOD = "2026-10"
OLD, END = dt.date(2026, 9, 23), dt.date(2026, 10, 23)  # a month apart, both in the autumn term


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("r8") / "district"
    generate("411003", 3000, 11, dt.date(2026, 9, 1), END, out, registry_changes=OLD)
    return out


def _truth(home: Path) -> set[tuple[str, str, str, str]]:
    t = pd.read_csv(home / TRUTH_FILE, dtype=str, keep_default_na=False)
    assert set(t["period"]) == {PERIOD}
    return {(r.school_code, r.person_key, r.kind, r.reasons) for r in t.itertuples(index=False)}


def test_generator_plants_every_kind_and_verdict(generated: Path) -> None:
    truth = _truth(generated)
    kinds = {k for _, _, k, _ in truth}
    assert kinds == {"新增", "转入", "转出", "休学", "复学", "升级", "毕业", "辍学", "死亡", "删除"}
    reasons = {c for *_, r in truth for c in r.split(",") if c}
    assert reasons == {"transfer_still_present", "transfer_not_received", "suspension_no_approval",
                       "suspension_present", "resumption_absent", "graduation_not_final_grade",
                       "progression_skips", "progression_repeats", "deletion_in_census"}
    assert any(r == "" for *_, r in truth)  # and consistent ones
    names = sorted(p.name for p in (generated / "landing" / "registry").iterdir())
    assert {n.split("_")[2] for n in names} == {f"{OLD:%Y%m%d}", f"{END:%Y%m%d}"}


def test_monthly_job_and_r8_job_find_every_planted_change(generated: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from run_home import home_defs

    from pipelines.jobs import registry_changes_job
    from pipelines.run import run_period

    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    base = home_defs(home)
    defs = dg.Definitions(assets=list(base.assets), asset_checks=list(base.asset_checks),
                          jobs=[*base.jobs, registry_changes_job], resources=base.resources)
    with dg.DagsterInstance.ephemeral() as instance:
        monthly = run_period(PERIOD, instance=instance, defs=defs)  # what `kongchuo run --period 2026-10` does
        assert monthly.success, monthly.summary()
        assert "derived/registry_changes" in monthly.materialized and "reports/r8_registry_changes" in monthly.materialized
        weekly = run_period(PERIOD, job="registry_changes_job", instance=instance, defs=defs)
        assert weekly.success, weekly.summary()

    warehouse = WarehouseResource(url=default_warehouse_url(home))
    got = warehouse.query_df("SELECT school_code, person_key, kind, coalesce(reason_codes, '') AS reasons, "
                             "old_snapshot_date, new_snapshot_date, verdict FROM derived.registry_changes "
                             "WHERE period = :p", {"p": PERIOD})
    warehouse.dispose()
    found = {(r.school_code, r.person_key, r.kind, ",".join(sorted(r.reasons.split(",")) if r.reasons else []))
             for r in got.itertuples(index=False)}
    truth = _truth(home)
    assert len(found) == len(got), "one row per change"
    assert not truth - found, f"{len(truth - found)} planted change(s) not found or with another verdict"
    assert not found - truth, f"{len(found - truth)} change(s) found that were not planted"
    assert {str(d)[:10] for d in got["old_snapshot_date"]} == {OLD.isoformat()}
    assert {str(d)[:10] for d in got["new_snapshot_date"]} == {END.isoformat()}

    # the workbooks, read back with pandas (calamine engine): every change on its school's sheet, with its verdict
    folder = home / "reports" / PERIOD
    books = sorted(folder.glob("建安区_2026年10月_学籍异动梳理_*.xlsx"))
    assert any(b.name.endswith("_全区汇总.xlsx") for b in books) and len(books) >= 2
    rows = []
    for book in books:
        if book.name.endswith("_全区汇总.xlsx"):
            continue
        sheets = pd.read_excel(book, sheet_name=None, header=None, engine="calamine", dtype=str)
        for name, frame in sheets.items():
            if name == "本乡镇汇总":
                continue
            assert "2026年11月" in str(frame.iat[0, 0])  # deadline: the term's first school day + 2 months
            head = frame.index[frame[0] == "序号"][0]
            table = frame.iloc[head + 1:].set_axis(list(frame.iloc[head]), axis=1)
            table = table[table["序号"].str.fullmatch(r"\d+", na=False)]
            rows += [(r["全国学籍号"], r["身份证件号"], r["异动类型"], r["核查结论"]) for _, r in table.iterrows()]
    assert len(rows) == len(truth)
    by_key = {(k, kind): ("需核实" if reasons else "一致") for _, k, kind, reasons in truth}
    for sno, id_number, kind, verdict in rows:
        key = id_number if isinstance(id_number, str) and (id_number, kind) in by_key else sno
        assert by_key.get((key, kind)) == verdict
    summary = pd.read_excel(next(b for b in books if b.name.endswith("_全区汇总.xlsx")), header=None,
                            engine="calamine")
    total = summary[summary[0] == "合计"].iloc[0]
    head = summary.index[summary[0] == "序号"][0]
    col = {h: i for i, h in enumerate(summary.iloc[head])}
    assert int(total[col["异动合计"]]) == len(truth)
    assert int(total[col["需核实"]]) == sum(1 for *_, r in truth if r)
