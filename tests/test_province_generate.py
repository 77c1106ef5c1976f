"""The province generator (kongchuo.generate.province): county chunks merged into one district-style folder.

A tiny province (3 counties x 300 students) generated twice is byte-identical; every county's files are
there under unique names; ID numbers carry their county's region code and no ID appears in two counties; the
ground truth has rows from every county; complete counties are not regenerated. A 2-county province runs
through the real monthly job and its suspected dropouts match the ground truth per rule, with reports titled
by the counties' prefecture. Nothing here prints an ID number or a name (counts and masked values only).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from kongchuo import idnumber
from kongchuo.generate import province
from kongchuo.generate import reference as refmod
from kongchuo.generate.writers import header

START, END = dt.date(2026, 3, 2), dt.date(2026, 3, 31)
COUNTIES = ["411002", "411024", "411025"]


def _tree(root: Path) -> dict[str, bytes]:
    """Every output file by relative path (the chunk markers hold timings and are left out)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != province.MARKER}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("province") / "a"
    province.generate_province(3, 900, 5, START, END, out, attendance="rollcall", workers=2)
    return out


def test_same_arguments_give_byte_identical_output(tiny, tmp_path):
    again = tmp_path / "b"
    province.generate_province(COUNTIES, 900, 5, START, END, again, attendance="rollcall", workers=1)
    a, b = _tree(tiny), _tree(again)
    assert sorted(a) == sorted(b)
    differ = [k for k in a if a[k] != b[k]]
    assert differ == []


def test_files_of_every_county_with_unique_names(tiny):
    meta = json.loads((tiny / "meta.json").read_text(encoding="utf-8"))
    assert meta["district"] == "411000" and meta["district_name"] == "许昌市"
    assert [c["county"] for c in meta["counties"]] == COUNTIES
    assert meta["students"] == 900 and sum(c["students"] for c in meta["counties"]) == 900
    paths = [f["path"] for f in meta["files"] if f["path"].startswith("landing/")]
    assert len(paths) == len(set(paths))
    on_disk = sorted(str(p.relative_to(tiny)) for p in (tiny / "landing").rglob("*") if p.is_file())
    assert on_disk == sorted(paths)
    for source in ("registry", "attendance", "census", "casework", "exemptions", "home_teaching"):
        names = [Path(p).name for p in paths if Path(p).parts[1] == source]
        assert {n[:6] for n in names} == set(COUNTIES), source
    for f in meta["files"]:
        if f["path"].startswith("landing/"):
            assert Path(f["path"]).name.startswith(f["county"] + "_")
    for name in ("townships.csv", "schools.csv"):
        assert (tiny / "reference" / name).exists()
    towns = pd.read_csv(tiny / "reference" / "townships.csv", dtype=str)
    schools = pd.read_csv(tiny / "reference" / "schools.csv", dtype=str)
    assert set(towns["district_code"]) == set(COUNTIES)
    assert towns["township_code"].is_unique and schools["school_code"].is_unique
    assert set(towns["township_code"].str.slice(0, 6)) == set(COUNTIES)
    assert set(schools["school_code"].str.slice(0, 6)) == {"2" + c[:2] + c[3:] for c in COUNTIES}


def _registry_ids(root: Path, meta: dict, county: str) -> pd.Series:
    ids = []
    for f in meta["files"]:
        if f["source"] != "registry" or f["county"] != county:
            continue
        col = header("registry", "id_number", f["alias_set"])
        if f["format"] == "xlsx":
            df = pd.read_excel(root / f["path"], dtype=str)
        else:
            df = pd.read_csv(root / f["path"], dtype=str, encoding=f["encoding"], keep_default_na=False)
        ids.append(df[col].map(idnumber.normalize))
    s = pd.concat(ids, ignore_index=True).dropna()
    return s[s.map(idnumber.is_valid)]


def test_ids_carry_their_county_and_no_id_is_in_two_counties(tiny):
    meta = json.loads((tiny / "meta.json").read_text(encoding="utf-8"))
    seen: dict[str, set[str]] = {}
    for county in COUNTIES:
        ids = _registry_ids(tiny, meta, county)
        region = ids.str.slice(0, 6)
        native = int((region == county).sum())
        allowed = {county, *refmod.DISTRICTS[county]["other_regions"]}
        strangers = int((~region.isin(allowed)).sum())
        assert native >= 0.8 * len(ids), f"{county}: {native} of {len(ids)} IDs with the county's region code"
        assert strangers == 0, f"{county}: {strangers} IDs with a region code of another county"
        seen[county] = set(ids)
    for i, a in enumerate(COUNTIES):
        for b in COUNTIES[i + 1:]:
            shared = len(seen[a] & seen[b])
            assert shared == 0, f"{shared} IDs in both {a} and {b}"


def test_ground_truth_has_every_county(tiny):
    gt = pd.read_csv(tiny / "ground_truth.csv", dtype=str, keep_default_na=False)
    chunks = sum(len(pd.read_csv(tiny / province.CHUNKS / c / "ground_truth.csv", dtype=str)) for c in COUNTIES)
    assert len(gt) == chunks
    by_school = gt.loc[gt["school_code"] != "", "school_code"].str.slice(0, 6)
    assert set(by_school) == {"2" + c[:2] + c[3:] for c in COUNTIES}
    for c in COUNTIES:
        part = "2" + c[:2] + c[3:]
        cases = set(gt.loc[gt["school_code"].str.startswith(part), "case"])
        assert {"SD1", "SD4", "SD5", "DQ05"} <= cases, c
    meta = json.loads((tiny / "meta.json").read_text(encoding="utf-8"))
    assert meta["case_counts"] == {k: int(v) for k, v in gt["case"].value_counts().sort_index().items()}


def test_complete_counties_are_not_regenerated(tiny, tmp_path):
    out = tmp_path / "resume"
    province.generate_province(COUNTIES[:2], 400, 9, START, END, out, attendance="rollcall", workers=2)
    markers = {c: (out / province.CHUNKS / c / province.MARKER) for c in COUNTIES[:2]}
    stamps = {c: m.stat().st_mtime_ns for c, m in markers.items()}
    before = _tree(out)
    # an interrupted run: one county's chunk lost its marker (and a file)
    markers["411024"].unlink()
    next((out / province.CHUNKS / "411024" / "landing" / "registry").iterdir()).unlink()
    province.generate_province(COUNTIES[:2], 400, 9, START, END, out, attendance="rollcall", workers=2)
    assert markers["411002"].stat().st_mtime_ns == stamps["411002"]  # kept
    assert markers["411024"].exists() and markers["411024"].stat().st_mtime_ns != stamps["411024"]
    assert _tree(out) == before
    # other parameters: the chunk is regenerated
    province.generate_province(COUNTIES[:2], 402, 9, START, END, out, attendance="rollcall", workers=2)
    assert markers["411002"].stat().st_mtime_ns != stamps["411002"]


def test_counties_that_would_share_ids_or_school_codes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="region code"):
        province.generate_province(["411003", "411002"], 100, 1, START, END, tmp_path, workers=1)
    with pytest.raises(ValueError, match="school codes"):
        province.generate_province(["411302", "410302"], 100, 1, START, END, tmp_path, workers=1)
    with pytest.raises(ValueError, match="county codes"):
        province.generate_province(["411000"], 100, 1, START, END, tmp_path, workers=1)


# ---------------------------------------------------------------------------------- through the pipeline

def _two_counties_installed(tmp_path_factory, name: str, seed: int, attendance: str):
    """Two counties (1,200 students each) generated and installed as a KONGCHUO_HOME: (generated, home, truth)."""
    from district_run import install_district

    root = tmp_path_factory.mktemp(name)
    generated, home = root / "generated", root / "home"
    province.generate_province(["411002", "411024"], 1200, seed, START, END, generated, attendance=attendance,
                               workers=2)
    install_district(generated, home)
    return generated, home, pd.read_csv(generated / "ground_truth.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def province_run(tmp_path_factory):
    import dagster as dg
    from district_run import run_periods

    generated, home, truth = _two_counties_installed(tmp_path_factory, "province-run", 13, "rollcall")
    instance = dg.DagsterInstance.ephemeral()
    outcomes = run_periods(home, ("2026-03",), instance)
    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    return {"home": home, "outcome": outcomes["2026-03"], "truth": truth,
            "warehouse": WarehouseResource(url=default_warehouse_url(home))}


def test_province_run_succeeds_with_prefecture_titles(province_run):
    o = province_run["outcome"]
    assert o.success, f"{o.error} skipped={o.skipped} failed={o.failed_checks}"
    reports = sorted(p.name for p in (province_run["home"] / "reports" / "2026-03").glob("*.xlsx"))
    # district-wide reports are titled with the prefecture (R3 may be split per county: named by the county)
    assert reports and all(name.startswith(("许昌市_", "魏都区_", "鄢陵县_")) for name in reports), reports
    assert any(name.startswith("许昌市_") and "控辍保学月报" in name for name in reports), reports
    # township names repeat across counties: the R5 workbooks carry the county, one per township with findings
    fix_lists = [n for n in reports if "人籍不一致整改清单_" in n]
    assert fix_lists and all(n.split("_")[-1].startswith(("魏都区", "鄢陵县")) for n in fix_lists), fix_lists
    from assets.fix_list import fix_list_rows

    rows = fix_list_rows(province_run["warehouse"], "2026-03")
    assert len(fix_lists) == rows["township_code"].nunique()


def test_province_monthly_report_lists_every_county(province_run):
    """R1 over two counties: every school of both counties, townships named with their county, and the
    suspected-dropout column adds up to the warehouse's count (read back with calamine)."""
    from python_calamine import CalamineWorkbook

    from assets.report_r1 import COLUMNS

    wh = province_run["warehouse"]
    path = next((province_run["home"] / "reports" / "2026-03").glob("许昌市_*控辍保学月报.xlsx"))
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    header = next(i for i, r in enumerate(rows) if r[0] == "乡镇（街道）")
    end = next(i for i, r in enumerate(rows) if r[0] == "合计")  # below it: 填表人 and the 说明 block
    body = [r for r in rows[header + 1:end] if r[0] and r[1] != "小计"]  # 小计: township subtotals
    school_codes = {str(r[2]) for r in body if r[2]}
    expected = set(wh.query_df(
        "SELECT s.school_code FROM staged.schools s JOIN staged.townships t ON t.township_code = s.township_code "
        "WHERE t.district_code IN ('411002', '411024')")["school_code"])
    assert school_codes == expected
    assert {str(r[0])[:3] for r in body} == {"魏都区", "鄢陵县"}
    col = 3 + [k for k, _ in COLUMNS].index("suspected")
    total = next(r for r in rows if r[0] == "合计")
    suspected = wh.scalar("SELECT count(*) FROM derived.suspected_dropouts WHERE period = '2026-03'")
    assert suspected > 0 and int(total[col]) == sum(int(r[col] or 0) for r in body) == suspected


@pytest.mark.parametrize("rule", ["SD1", "SD2", "SD3", "SD4", "SD5"])
def test_province_suspected_dropouts_match_ground_truth(province_run, rule):
    from district_run import assert_same

    df = province_run["warehouse"].query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    got = {(p, k) for p, k, rules in df.itertuples(index=False) if rule in rules.split(",")}
    t = province_run["truth"]
    t = t[(t["case"] == rule) & (t["period"] == "2026-03")]
    want = set(zip(t["period"], t["person_key"]))
    if rule in ("SD1", "SD4", "SD5"):
        assert want, f"the generator planted no {rule} case"
        counties = {k[:6] for _, k in want if k[:6].isdigit()}
        assert counties == {"411002", "411024"}, f"{rule} planted in {sorted(counties)}"
    assert_same(rule, got, want)


# ---------------------------------------------------------------------------------- absence-only (province bench mode)

@pytest.fixture(scope="module")
def absence_run(tmp_path_factory):
    import dagster as dg
    from district_run import kongchuo_env

    from kongchuo.settings import default_warehouse_url
    from pipelines.definitions import defs
    from pipelines.jobs import monthly_job
    from pipelines.run import run_period
    from warehouse.home import KongchuoHome
    from warehouse.resource import WarehouseResource

    generated, home, truth = _two_counties_installed(tmp_path_factory, "province-absence", 17, "absence_only")
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    run_defs = dg.Definitions(
        assets=list(defs.assets), asset_checks=list(defs.asset_checks), jobs=[monthly_job],
        resources={"home": KongchuoHome(path=str(home), attendance_mode="absence_only"), "warehouse": warehouse})
    with kongchuo_env(home):
        outcome = run_period("2026-03", instance=dg.DagsterInstance.ephemeral(), defs=run_defs)
    return {"generated": generated, "outcome": outcome, "truth": truth, "warehouse": warehouse}


def test_absence_only_province_has_one_school_calendar(absence_run):
    generated = absence_run["generated"]
    merged = pd.read_csv(generated / "reference" / "school_calendar.csv", dtype=str, keep_default_na=False)
    one = pd.read_csv(generated / province.CHUNKS / "411002" / "reference" / "school_calendar.csv", dtype=str,
                      keep_default_na=False)
    assert len(one) > 0 and not merged.duplicated().any()
    assert set(merged.columns) == set(one.columns)
    if "school_code" not in one.columns or not one["school_code"].any():  # one calendar for every school
        assert len(merged) == len(one.drop_duplicates())
    meta = json.loads((generated / "meta.json").read_text(encoding="utf-8"))
    listed = [f for f in meta["files"] if f["path"] == "reference/school_calendar.csv"]
    assert len(listed) == 1 and listed[0]["rows"] == len(merged)


@pytest.mark.parametrize("rule", ["SD1", "SD2", "SD3", "SD4"])
def test_absence_only_province_suspected_dropouts_match_ground_truth(absence_run, rule):
    from district_run import assert_same

    o = absence_run["outcome"]
    assert o.success, f"{o.error} skipped={o.skipped} failed={o.failed_checks}"
    df = absence_run["warehouse"].query_df("SELECT period, person_key, rules FROM derived.suspected_dropouts")
    got = {(p, k) for p, k, rules in df.itertuples(index=False) if rule in rules.split(",")}
    t = absence_run["truth"]
    t = t[(t["case"] == rule) & (t["period"] == "2026-03")]
    want = set(zip(t["period"], t["person_key"]))
    if rule in ("SD1", "SD4"):
        assert want, f"the generator planted no {rule} case"
    assert_same(rule, got, want)


def test_bench_generates_a_county_chunked_scale_once(tmp_path):
    from pipelines import bench

    scale = bench.Scale("mini-province", 600, "2026-05-01", "2026-05-31", counties=2)
    data, took = bench.ensure_data(scale, root=tmp_path, log=lambda *_: None, workers=2)
    assert took is not None
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    assert [c["county"] for c in meta["counties"]] == ["411002", "411024"] and meta["students"] == 600
    assert bench.input_files(data) and all(p.name[:6] in {"411002", "411024"} for p in bench.input_files(data))
    assert bench.ensure_data(scale, root=tmp_path, log=lambda *_: None)[1] is None  # cached
    assert "counties" not in bench.params_of(bench.SCALES["district"])  # district caches stay valid
    assert bench.SCALES["province"].counties == 15


def test_generation_workers_do_not_rerun_an_unguarded_script(tmp_path):
    """County workers are spawned (forking a process that runs threads crashed a child): a script without a
    main guard that generates a province still runs once."""
    import subprocess
    import sys


    out = tmp_path / "out"
    script = tmp_path / "unguarded.py"
    script.write_text(f"""
import sys, datetime as dt
print("SCRIPT RAN", flush=True)
from pathlib import Path
from kongchuo.generate import province
province.generate_province(["411002", "411024"], 200, 5, dt.date(2026, 3, 2), dt.date(2026, 3, 31),
                           Path({str(out)!r}), attendance="rollcall", workers=2)
print("GENERATED", flush=True)
""", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("SCRIPT RAN") == 1 and "GENERATED" in proc.stdout
    assert (out / "ground_truth.csv").exists() and (out / "meta.json").exists()
