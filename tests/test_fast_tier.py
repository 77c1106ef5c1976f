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


def test_a_new_report_is_one_spec(small_run):
    """A report made of one spec (issue 17): the factory records its cells, writes its workbook under the usual
    name and returns the usual metadata. The toy reuses R1's cells query, so its cells must be R1's cells and its
    per-school numbers (read back with calamine) R1's 在籍学生数 column."""
    import hashlib

    import pandas as pd

    from assets.report_r1 import CELLS_PARTS, R1
    from assets.report_skeleton import Built, ReportRun, ReportSpec, report_asset
    from kongchuo.districts import month_label
    from kongchuo.excel import Sheet
    from kongchuo.settings import default_warehouse_url
    from warehouse.home import KongchuoHome
    from warehouse.resource import WarehouseResource

    name = "在籍人数核对表"

    def build(run: ReportRun) -> Built:
        counts = run.counts()
        rows = [[code, int(counts.loc[code, "enrolled"])] for code in sorted(counts.index)
                if code.isdigit() and counts.loc[code, "enrolled"] > 0]
        sheet = Sheet(name="在籍", title=f"{run.district()}{month_label(run.period)}{name}",
                      headers=["学校标识码", "在籍学生数"], rows=rows, totals=["合计", sum(r[1] for r in rows)])
        return Built([run.write([sheet])], len(rows), {"total_enrolled": sum(r[1] for r in rows)})

    spec = ReportSpec("RX", dg.AssetKey(["reports", "rx_enrolled"]), "RX 在籍人数核对表 (test)", deps=[R1],
                      build=build, cells="r1_cells", cells_parts=CELLS_PARTS, name=name)
    home = small_run.home
    resources = {"home": KongchuoHome(path=str(home)), "warehouse": WarehouseResource(url=default_warehouse_url(home))}
    result = dg.materialize([report_asset(spec, __name__)], partition_key=MONTH, resources=resources,
                            instance=small_run.instance)
    assert result.success
    meta = result.asset_materializations_for_node("reports__rx_enrolled")[0].metadata
    assert {"path", "sha256", "dagster/row_count", "period", "source_files", "source_files_count",
            "source_files_fingerprint", "total_enrolled"} == set(meta)
    path = home / "reports" / MONTH / f"建安区_{month_label(MONTH)}_{name}.xlsx"
    assert meta["path"].value == str(path)
    assert meta["sha256"].value == hashlib.sha256(path.read_bytes()).hexdigest()

    wh = small_run.warehouse
    cells = "SELECT row_key, column_key, case_key FROM reports.cells WHERE period = :p AND report = :r"
    toy = wh.query_df(cells, {"p": MONTH, "r": "RX"})
    r1 = wh.query_df(cells, {"p": MONTH, "r": "R1"})
    assert len(toy) and set(toy.itertuples(index=False)) == set(r1.itertuples(index=False))

    got = pd.read_excel(path, header=None, engine="calamine", dtype=str)
    got = {str(c): int(n) for c, n in zip(got[0], got[1]) if str(c).isdigit()}
    r1_book = next((home / "reports" / MONTH).glob("*控辍保学月报.xlsx"))
    want = pd.read_excel(r1_book, header=None, engine="calamine", dtype=str)
    want = {str(c): int(n) for c, n in zip(want[2], want[3]) if str(c).isdigit() and int(n) > 0}
    assert got == want and meta["dagster/row_count"].value == len(want) > 0
    assert meta["total_enrolled"].value == sum(want.values())


THROWAWAY_SPEC = '''
"""R9 试算表: a throw-away report, one spec module and nothing else (tests/test_fast_tier.py)."""
import dagster as dg

from assets.report_skeleton import Built, ReportRun, ReportSpec, register_report
from kongchuo.districts import month_label
from kongchuo.excel import Sheet

KEY = dg.AssetKey(["reports", "r9_throwaway"])


def build(run: ReportRun) -> Built:
    schools = int(run.warehouse.scalar("SELECT count(*) FROM staged.schools"))
    sheet = Sheet(name="试算", title=f"{run.district()}{month_label(run.period)}试算表", headers=["学校数"],
                  rows=[[schools]])
    return Built([run.write([sheet])], 1, {"schools": schools})


SPEC = ReportSpec("R9", KEY, "R9 试算表 (a throw-away test report)", deps=[dg.AssetKey(["reports", "r1_monthly"])],
                  build=build, name="试算表", audience="district_totals")
r9_throwaway = register_report(SPEC, __name__)
'''


def test_a_new_report_is_one_spec_module(small_run, tmp_path):
    """Issue 17, "a new report is one spec file": a spec module written at run time (no file of the project
    edited) that registers its report appears in the definitions, in the monthly job and after the monthly
    manifest, whose manifest.json then lists its workbook under its report id; the other entries stay as they
    were. Unregistered, it is gone from the next definitions."""
    import hashlib
    import importlib.util
    import json
    import sys

    from assets.manifest import manifest_assets
    from assets.report_skeleton import report_ids, unregister_report
    from kongchuo.districts import month_label
    from kongchuo.settings import default_warehouse_url
    from pipelines.definitions import build_definitions
    from warehouse.home import KongchuoHome
    from warehouse.resource import WarehouseResource

    key, manifest_key = dg.AssetKey(["reports", "r9_throwaway"]), dg.AssetKey(["reports", "monthly_manifest"])
    path = small_run.home / "reports" / MONTH / "manifest.json"
    before = json.loads(path.read_text(encoding="utf-8"))
    assert "R9" not in report_ids().values() and key not in build_definitions().resolve_asset_graph().get_all_asset_keys()

    (tmp_path / "r9_throwaway.py").write_text(THROWAWAY_SPEC, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("r9_throwaway", tmp_path / "r9_throwaway.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["r9_throwaway"] = module
    try:
        spec.loader.exec_module(module)
        assert report_ids()["r9_throwaway"] == "R9"
        defs = build_definitions()
        assert key in defs.resolve_asset_graph().get_all_asset_keys()
        assert key in defs.resolve_job_def("monthly_job").asset_layer.executable_asset_keys
        manifest = defs.resolve_assets_def(manifest_key)
        assert key in {dep.asset_key for dep in manifest.specs_by_key[manifest_key].deps}

        home = small_run.home
        resources = {"home": KongchuoHome(path=str(home)),
                     "warehouse": WarehouseResource(url=default_warehouse_url(home))}
        # the same two assets as the definitions hold, without the resources the definitions bind
        monthly = next(a for a in manifest_assets() if a.key == manifest_key)
        result = dg.materialize([module.r9_throwaway, monthly], partition_key=MONTH, resources=resources,
                                instance=small_run.instance)
        assert result.success
    finally:
        unregister_report(key)
        sys.modules.pop("r9_throwaway", None)

    after = json.loads(path.read_text(encoding="utf-8"))
    book = home / "reports" / MONTH / f"建安区_{month_label(MONTH)}_试算表.xlsx"
    listed = [e for e in after["reports"] if e["report"] == "R9"]
    assert listed == [{"file": book.name, "report": "R9", "label": "试算表", "audience": "district_totals",
                       "sha256": hashlib.sha256(book.read_bytes()).hexdigest(), "bytes": book.stat().st_size}]
    assert [e for e in after["reports"] if e["report"] != "R9"] == before["reports"]
    # reports.report_runs (the portal's 追溯 page): one row per listed file, written in bulk by the manifest
    runs = resources["warehouse"].query_df("SELECT report, file, sha256, run_id, manifest_run_id "
                                           "FROM reports.report_runs WHERE period = :p", {"p": MONTH})
    assert sorted(zip(runs["report"], runs["file"], runs["sha256"])) == sorted(
        (e["report"], e["file"], e["sha256"]) for e in after["reports"])
    assert set(runs["manifest_run_id"]) == {result.run_id} and result.run_id in set(runs["run_id"])
    assert {k: v for k, v in after.items() if k != "reports"} == {k: v for k, v in before.items() if k != "reports"}
    assert key not in build_definitions().resolve_asset_graph().get_all_asset_keys()

    # The portal serves it by the manifest alone (no portal code names R9): under its name, to the audience its
    # spec named (district totals: district, township staff and auditors; never a school).
    from portal.catalog import Catalogue, may_access
    from portal.users import User

    reports, strays = Catalogue(home / "reports", b"secret").scan_all()
    assert book.name not in {s.file for s in strays}
    (r9,) = [r for r in reports if r.kind == "R9"]
    assert (r9.file, r9.kind_label, r9.status) == (book.name, "试算表", "current")
    users = {role: User(role, role, "", district_code="411003", township_code="411003001",
                        school_code="41100300101" if role == "school" else None)
             for role in ("district", "township", "school", "auditor")}
    assert {role for role, u in users.items() if may_access(u, r9)} == {"district", "township", "auditor"}
