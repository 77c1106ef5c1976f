"""Snapshots that replace their scope (issue 13): a registry file replaces every record of the schools it holds,
a census file those of its townships; the newest SNAPSHOT wins (export date, else the date in the name, else
landing time), not the newest arrival; a scope falling by > 10 % warns, by > 50 % is held until a file in
``landing/confirmations/`` names it; the incremental refresh equals a rebuild.

Real files in a real KONGCHUO_HOME, ingested by the real ingest; the last test runs the real monthly job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from assets import completeness
from assets.ingest import ingest_source
from kongchuo import idnumber
from tests.bad_inputs import CENSUS_HEADER, REGISTRY_HEADER, csv_bytes
from warehouse.home import KongchuoHome
from warehouse.views import current_select_sql, refresh_current

BORN = dt.date(2012, 5, 6)
S1, S2 = "4110030001", "4110030002"
PEOPLE = [idnumber.make_id("411003", BORN, i) for i in range(200, 260)]


def _registry(ids: list[str], school: str, title: str | None = None) -> bytes:
    rows = [[f"G{i}", i, "学生", "男", BORN.isoformat(), school, "初一", "在读"] for i in ids]
    return csv_bytes(([[title]] if title else []) + [REGISTRY_HEADER] + rows)


def _census(ids: list[str], township: str) -> bytes:
    return csv_bytes([CENSUS_HEADER] + [[i, "某某", "男", BORN.isoformat(), township, "在户"] for i in ids])


def _ingest(home: Path, warehouse, source: str = "registry"):
    return ingest_source(KongchuoHome(path=str(home)), warehouse, source, workers=1)


def _current(warehouse, school: str | None = None) -> set[str]:
    where = f" WHERE school_code = '{school}'" if school else ""
    return set(warehouse.query_df(f"SELECT id_number FROM staged.registry_current{where}")["id_number"])


def _mistyped(good: str) -> str:
    """Another valid ID (a different sequence number): the kind of typo no check digit catches."""
    return idnumber.make_id("411003", BORN, 999)


def test_a_corrected_file_removes_the_mistyped_record(kongchuo_home: Path, warehouse, drop) -> None:
    wrong = _mistyped(PEOPLE[2])
    drop("registry", "一中_20260915.csv", data=_registry([PEOPLE[0], PEOPLE[1], wrong], S1))
    drop("registry", "二中_20260915.csv", data=_registry(PEOPLE[10:13], S2))
    _ingest(kongchuo_home, warehouse)
    assert wrong in _current(warehouse, S1)
    drop("registry", "一中_20260916.csv", data=_registry(PEOPLE[0:3], S1))  # corrected: the third ID fixed
    _ingest(kongchuo_home, warehouse)
    assert _current(warehouse, S1) == set(PEOPLE[0:3]), "the mistyped ID must be gone, not kept beside"
    assert _current(warehouse, S2) == set(PEOPLE[10:13])  # another school's snapshot is untouched
    files = warehouse.query_df("SELECT DISTINCT f.original_name FROM staged.registry_current r "
                               "JOIN raw.files f ON f.file_sha = r.file_sha")["original_name"]
    assert sorted(files) == ["一中_20260916.csv", "二中_20260915.csv"]  # the old file is out of every check's scope


def test_last_terms_snapshot_resent_late_does_not_override(kongchuo_home: Path, warehouse, drop) -> None:
    drop("registry", "学籍_20261015.csv", data=_registry(PEOPLE[0:4], S1))
    _ingest(kongchuo_home, warehouse)
    drop("registry", "学籍_2026年6月.csv", data=_registry(PEOPLE[20:24], S1))  # June, arriving in October
    drop("registry", "a_学籍.csv", data=_registry(PEOPLE[30:34], S1,  # name sorts first; exported on 2026-06-01
                                                 title="导出日期：2026-06-01 08:30"))
    _ingest(kongchuo_home, warehouse)
    assert _current(warehouse) == set(PEOPLE[0:4])
    dates = warehouse.query_df("SELECT f.original_name, n.snapshot_date, n.date_origin FROM raw.snapshots n "
                               "JOIN raw.files f ON f.file_sha = n.file_sha ORDER BY 1")
    assert sorted((r.original_name, str(r.snapshot_date)[:10], r.date_origin) for r in dates.itertuples()) == sorted([
        ("a_学籍.csv", "2026-06-01", "export"), ("学籍_2026年6月.csv", "2026-06-01", "name"),
        ("学籍_20261015.csv", "2026-10-15", "name")])


def test_export_date_column_beats_the_file_name(kongchuo_home: Path, warehouse, drop) -> None:
    rows = [REGISTRY_HEADER + ["导出日期"]] + [
        [f"G{i}", i, "学生", "男", BORN.isoformat(), S1, "初一", "在读", "2026/11/02"] for i in PEOPLE[40:43]]
    drop("registry", "学籍_20261101.csv", data=_registry(PEOPLE[0:3], S1))
    drop("registry", "学籍_20261001.csv", data=csv_bytes(rows))  # named October, exported 2 November
    _ingest(kongchuo_home, warehouse)
    assert _current(warehouse) == set(PEOPLE[40:43])


def test_a_large_drop_is_held_until_confirmed_and_a_small_one_warns(kongchuo_home: Path, warehouse, drop) -> None:
    drop("registry", "一中_20260901.csv", data=_registry(PEOPLE[0:20], S1))
    _ingest(kongchuo_home, warehouse)
    drop("registry", "一中_20260915.csv", data=_registry(PEOPLE[0:17], S1))  # -15 %: applied, with a warning
    warned = _ingest(kongchuo_home, warehouse)
    assert _current(warehouse) == set(PEOPLE[0:17])
    assert len(warned.snapshot_messages) == 1 and "一中_20260915.csv" in warned.snapshot_messages[0]
    assert "20 → 17" in warned.snapshot_messages[0] and "warning" in warned.snapshot_messages[0]

    drop("registry", "一中_20261001.csv", data=_registry(PEOPLE[0:8], S1))  # -53 %: held
    held = _ingest(kongchuo_home, warehouse)
    assert _current(warehouse) == set(PEOPLE[0:17]), "a held snapshot must not be applied"
    assert "held" in held.snapshot_messages[0]
    status = warehouse.scalar("SELECT DISTINCT n.status FROM raw.snapshots n JOIN raw.files f USING (file_sha) "
                              "WHERE f.original_name = '一中_20261001.csv'")
    assert status == "held"
    assert _ingest(kongchuo_home, warehouse).snapshot_messages == []  # a re-run keeps holding, silently
    assert _current(warehouse) == set(PEOPLE[0:17])
    waiting = completeness.state(warehouse, "2026-10")  # the period's reports are drafts meanwhile
    assert list(waiting.files["file"]) == ["一中_20261001.csv"] and "held" in waiting.files["reason"].iloc[0]

    confirm = kongchuo_home / "landing" / "confirmations" / "确认.txt"
    confirm.parent.mkdir(parents=True)
    confirm.write_text("确认：一中_20261001.csv 是完整的学籍（部分学生已转出）\n", encoding="gbk")
    confirmed = _ingest(kongchuo_home, warehouse)
    assert any("confirmed" in m for m in confirmed.snapshot_messages)
    assert _current(warehouse) == set(PEOPLE[0:8])
    assert completeness.state(warehouse, "2026-10").complete


def test_census_snapshots_replace_their_townships(kongchuo_home: Path, warehouse, drop) -> None:
    t1, t2 = "411003001", "411003002"
    drop("census", "户籍_甲镇_20260901.csv", data=_census(PEOPLE[0:5], t1))
    drop("census", "户籍_乙镇_20260901.csv", data=_census(PEOPLE[10:15], t2))
    _ingest(kongchuo_home, warehouse, "census")
    drop("census", "户籍_甲镇_20261001.csv", data=_census(PEOPLE[1:5] + [PEOPLE[50]], t1))  # one moved away, one born
    _ingest(kongchuo_home, warehouse, "census")
    current = warehouse.query_df("SELECT id_number, township_code FROM staged.census_current")
    assert set(current[current["township_code"] == t1]["id_number"]) == set(PEOPLE[1:5] + [PEOPLE[50]])
    assert set(current[current["township_code"] == t2]["id_number"]) == set(PEOPLE[10:15])


def test_incremental_refresh_equals_a_rebuild(kongchuo_home: Path, warehouse, drop) -> None:
    for i, (name, ids, school) in enumerate([
        ("一中_20260901.csv", PEOPLE[0:10], S1), ("二中_20260901.csv", PEOPLE[10:20], S2),
        ("一中_20260801.csv", PEOPLE[30:40], S1),  # older: loses
        ("两校_20261001.csv", None, None),  # both schools in one file, one row without school
    ]):
        if ids is None:
            rows = [REGISTRY_HEADER] + [[f"G{p}", p, "学生", "男", BORN.isoformat(), S1 if j % 2 else S2, "初一", "在读"]
                                        for j, p in enumerate(PEOPLE[0:18])]
            rows.append([f"G{PEOPLE[55]}", PEOPLE[55], "学生", "男", BORN.isoformat(), "", "初一", "在读"])
            drop("registry", name, data=csv_bytes(rows))
        else:
            drop("registry", name, data=_registry(ids, school))
        _ingest(kongchuo_home, warehouse)
    cols = "id_number, school_code, file_sha, row_no"
    incremental = warehouse.query_df(f"SELECT {cols} FROM staged.registry_current ORDER BY {cols}")
    rebuilt = warehouse.query_df(f"SELECT {cols} FROM ({current_select_sql('staged.registry_current')}) t "
                                 f"ORDER BY {cols}")
    pd.testing.assert_frame_equal(incremental, rebuilt)
    assert set(incremental["id_number"]) == set(PEOPLE[0:18]) | {PEOPLE[55]}
    refresh_current(warehouse, ["registry"], full=True)
    again = warehouse.query_df(f"SELECT {cols} FROM staged.registry_current ORDER BY {cols}")
    pd.testing.assert_frame_equal(again, rebuilt)


def test_a_totals_row_goes_with_its_snapshot_and_stops_blocking(kongchuo_home: Path, warehouse, drop) -> None:
    """A 合计 row read as a record (its text in the student-number column, no school) once stayed current for
    ever, failing DQ03 in every later run; now it belongs to its file's snapshot and leaves with it."""
    from checks import rules

    rows = [REGISTRY_HEADER] + [[f"G{i}", i, "学生", "男", BORN.isoformat(), S1, "初一", "在读"] for i in PEOPLE[0:3]]
    rows.append(["合计", "", "", "", "", "", "", "3人"])
    first = drop("registry", "一中_20260901.csv", data=csv_bytes(rows))
    _ingest(kongchuo_home, warehouse)
    # (today's reader keeps the row as a record keyed '合计'; a reader that skips it makes this trivially true)
    drop("registry", "一中_20261001.csv", data=_registry(PEOPLE[0:3], S1))
    _ingest(kongchuo_home, warehouse)
    import hashlib

    old = hashlib.sha256(first.read_bytes()).hexdigest()
    scope = f"SELECT count(*) FROM ({rules.scope_sql('registry')}) t WHERE t.file_sha = :f"
    assert warehouse.scalar(scope, {"f": old, "start": dt.date(2026, 10, 1), "end": dt.date(2026, 10, 31)}) == 0
    assert warehouse.scalar("SELECT count(*) FROM staged.registry_current WHERE student_no = '合计' "
                            "OR id_number IS NULL") == 0
    assert _current(warehouse) == set(PEOPLE[0:3])


def test_an_xlsx_export_date_title_and_a_month_only_name(kongchuo_home: Path, warehouse, drop) -> None:
    """统计日期 in a workbook's title row is the snapshot date; '10月' alone takes the term's year (the latest
    October not after landing)."""
    rows = [REGISTRY_HEADER] + [[f"G{i}", i, "学生", "男", BORN.isoformat(), S1, "初一", "在读"] for i in PEOPLE[0:3]]
    drop("registry", "学籍_10月.csv", data=_registry(PEOPLE[10:13], S1))
    drop("registry", "学籍.xlsx", rows, title="建安区学籍 统计日期：2026年11月5日")
    _ingest(kongchuo_home, warehouse)
    dates = dict(warehouse.query_df(
        "SELECT f.original_name, min(n.snapshot_date) AS d FROM raw.snapshots n JOIN raw.files f USING (file_sha) "
        "GROUP BY 1").itertuples(index=False))
    landed = warehouse.scalar("SELECT max(ingested_at) FROM raw.files")
    october = dt.date(landed.year if landed.month >= 10 else landed.year - 1, 10, 1)
    assert {k: str(v)[:10] for k, v in dates.items()} == {"学籍.xlsx": "2026-11-05", "学籍_10月.csv": str(october)}
    assert _current(warehouse) == (set(PEOPLE[0:3]) if october < dt.date(2026, 11, 5) else set(PEOPLE[10:13]))


def test_a_snapshot_split_in_two_files_is_held_then_released_when_the_rest_arrives(kongchuo_home: Path, warehouse,
                                                                                   drop) -> None:
    drop("registry", "学籍_20260901_01.csv", data=_registry(PEOPLE[0:20], S1))
    _ingest(kongchuo_home, warehouse)
    drop("registry", "学籍_20261001_01.csv", data=_registry(PEOPLE[0:8], S1))  # first half of October
    assert "held" in _ingest(kongchuo_home, warehouse).snapshot_messages[0]
    assert _current(warehouse) == set(PEOPLE[0:20])
    drop("registry", "学籍_20261001_02.csv", data=_registry(PEOPLE[8:19], S1))  # the rest: 19 of 20 together
    assert _ingest(kongchuo_home, warehouse).snapshot_messages == []
    assert _current(warehouse) == set(PEOPLE[0:19])  # both files of 1 October make the school's snapshot


# --- the registry of month M (real monthly job) -------------------------------------------------------------

@pytest.fixture(scope="module")
def autumn(tmp_path_factory) -> Path:
    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("snapshot_periods") / "generated"
    generate("411003", 200, 7, dt.date(2026, 9, 1), dt.date(2026, 10, 31), out)
    return out


def _period_state(home: Path, warehouse, period: str, school: str) -> tuple[dict, dict[str, str]]:
    """(suspected children of ``school`` in ``period`` → rules, report files of the period → SHA-256)."""
    import hashlib

    sd = warehouse.query_df("SELECT id_number, rules FROM derived.suspected_dropouts WHERE period = :p "
                            "AND school_code = :s", {"p": period, "s": school})
    folder = home / "reports" / period
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
             if p.is_file() and not p.name.startswith(".")}
    return dict(zip(sd["id_number"], sd["rules"])), files


def test_each_period_reads_its_own_registry_and_an_older_period_reruns_unchanged(
        tmp_path: Path, autumn: Path, monkeypatch: pytest.MonkeyPatch, dagster_instance) -> None:
    """DESIGN: "The registry of month M is each scope's newest snapshot dated up to M's end". One school sends a
    snapshot dated 2026-09-15 (children A, B, C) and one dated 2026-10-20 (A, B, D: C left, D arrived). Nobody of
    that school has roll call, so each period's active children are SD5 (hand-worked): September {A, B, C},
    October {A, B, D}. Re-running September after October's snapshot landed gives September's tables and
    byte-identical report files again."""
    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=autumn)
    school = "2410039901"  # a new school of an existing township: no snapshot of the generated district
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{school},建安区快照测试学校,411003001,初中,false\n")
    born = dt.date(2013, 3, 4)
    a, b, c, d = (idnumber.make_id("411003", born, 700 + i) for i in range(4))
    landing = home / "landing" / "registry"
    (landing / f"学籍_{school}_20260915.csv").write_bytes(
        csv_bytes([REGISTRY_HEADER] + [[f"G{i}", i, "学生", "男", born.isoformat(), school, "初一", "在读"]
                                       for i in (a, b, c)]))
    sept = run_home(home, "2026-09", dagster_instance)
    assert sept.success, sept.summary()
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    first_state = _period_state(home, warehouse, "2026-09", school)
    assert set(first_state[0]) == {a, b, c} and all("SD5" in r for r in first_state[0].values())

    (landing / f"学籍_{school}_20261020.csv").write_bytes(
        csv_bytes([REGISTRY_HEADER] + [[f"G{i}", i, "学生", "男", born.isoformat(), school, "初一", "在读"]
                                       for i in (a, b, d)]))
    octo = run_home(home, "2026-10", dagster_instance)
    assert octo.success, octo.summary()
    october = _period_state(home, warehouse, "2026-10", school)[0]
    assert set(october) == {a, b, d} and all("SD5" in r for r in october.values())
    assert _current(warehouse, school) == {a, b, d}

    again = run_home(home, "2026-09", dagster_instance)  # an older period, after the newer snapshot landed
    assert again.success, again.summary()
    assert _current(warehouse, school) == {a, b, c}
    assert _period_state(home, warehouse, "2026-09", school) == first_state  # same tables, same report bytes
    manifest = (home / "reports" / "2026-09" / "manifest.json").read_text(encoding="utf-8")
    assert f"学籍_{school}_20260915.csv" in manifest and f"学籍_{school}_20261020.csv" not in manifest
    warehouse.dispose()


def test_corrections_totals_rows_and_large_drops_through_the_monthly_job(
        tmp_path: Path, autumn: Path, monkeypatch: pytest.MonkeyPatch, dagster_instance) -> None:
    """Issue 13's snapshot failures, through the real monthly job. One school's September snapshot holds A, B, a
    mistyped (valid) ID instead of C, and a 合计 line; October's corrected snapshot holds A, B, C. Hand-worked
    (nobody of the school has roll call, so every active child is SD5): September {A, B, mistyped}, October
    {A, B, C} — the mistyped phantom is gone, not kept beside C, and the old file is no source of October.
    Then a snapshot of 15 October holding only A (-67 %) is held: October's reports become drafts naming it
    and the figures stay {A, B, C}; once ``landing/confirmations/`` names it, the final reports say {A}."""
    import json

    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=autumn)
    school = "2410039904"
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{school},建安区更正测试学校,411003001,初中,false\n")
    born = dt.date(2013, 5, 6)
    a, b, c = (idnumber.make_id("411003", born, 720 + i) for i in range(3))
    mistyped = idnumber.make_id("411003", born, 790)

    def snapshot(name: str, ids: list[str], total: bool = False) -> None:
        rows = [REGISTRY_HEADER] + [[f"G{i}", i, "学生", "男", born.isoformat(), school, "初一", "在读"] for i in ids]
        if total:
            rows.append(["合计", "", "", "", "", "", "", f"{len(ids)}人"])
        (home / "landing" / "registry" / name).write_bytes(csv_bytes(rows))

    def suspected(period: str) -> dict[str, str]:
        return dict(warehouse.query_df("SELECT id_number, rules FROM derived.suspected_dropouts WHERE period = :p "
                                       "AND school_code = :s", {"p": period, "s": school}).itertuples(index=False))

    def manifest(period: str) -> dict:
        return json.loads((home / "reports" / period / "manifest.json").read_text(encoding="utf-8"))

    snapshot(f"学籍_{school}_20260915.csv", [a, b, mistyped], total=True)
    sept = run_home(home, "2026-09", dagster_instance)
    assert sept.success, sept.summary()
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    assert set(suspected("2026-09")) == {a, b, mistyped}

    snapshot(f"学籍_{school}_20261001.csv", [a, b, c])  # corrected
    octo = run_home(home, "2026-10", dagster_instance)
    assert octo.success, octo.summary()  # the 合计 line of September blocks nothing
    got = suspected("2026-10")
    assert set(got) == {a, b, c} and all("SD5" in r for r in got.values())
    assert _current(warehouse, school) == {a, b, c}
    sources = {s["file"] for s in manifest("2026-10")["sources"]}
    assert f"学籍_{school}_20261001.csv" in sources and f"学籍_{school}_20260915.csv" not in sources
    assert manifest("2026-10")["complete"] is True

    held_name = f"学籍_{school}_20261015.csv"
    snapshot(held_name, [a])  # 3 → 1: held until confirmed
    held = run_home(home, "2026-10", dagster_instance)
    assert held.success, held.summary()
    assert set(suspected("2026-10")) == {a, b, c}
    m = manifest("2026-10")
    assert m["complete"] is False and [i["file"] for i in m["incomplete_inputs"]] == [held_name]
    assert all(r["file"].endswith("_草稿.xlsx") for r in m["reports"])

    confirmations = home / "landing" / "confirmations"
    confirmations.mkdir(parents=True, exist_ok=True)
    (confirmations / "确认.txt").write_text(f"{held_name} 完整：两名学生已转学\n", encoding="utf-8")
    final = run_home(home, "2026-10", dagster_instance)
    assert final.success, final.summary()
    assert set(suspected("2026-10")) == {a}
    m = manifest("2026-10")
    assert m["complete"] is True and not any("草稿" in r["file"] for r in m["reports"])
    warehouse.dispose()
