"""R3 一生一表 across counties, on a warehouse built by hand: one workbook per county, named for the county,
each listed in the manifest; a stale county workbook of the period is removed; drill-down cells as before.
(The single-district case is covered on the generated district in test_reports.py.)"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from python_calamine import CalamineWorkbook

PERIOD = "2026-06"
LABEL = "2026年06月"
NOW = dt.datetime(2026, 6, 1)


def _id(n: int) -> str:
    return f"41100320150101{n:03d}X"


def _build(warehouse) -> None:
    from warehouse.views import refresh_current

    with warehouse.begin() as conn:
        def insert(table: str, rows: list[dict]) -> None:
            cols = list(rows[0])
            conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
                         rows)

        insert("staged.townships", [
            {"township_code": "411003100", "township_name": "甲镇", "district_code": "411003"},
            {"township_code": "411003101", "township_name": "乙镇", "district_code": "411003"},
            {"township_code": "341802100", "township_name": "丙镇", "district_code": "341802"}])
        insert("staged.schools", [
            {"school_code": "4141000001", "school_name": "甲小学", "township_code": "411003100", "stage": "primary",
             "is_rural": True},
            {"school_code": "4134000001", "school_name": "丙小学", "township_code": "341802100", "stage": "primary",
             "is_rural": True}])
        insert("raw.files", [{"file_sha": "a" * 64, "source": "registry", "original_name": "registry.csv",
                              "raw_path": "raw/x", "status": "ingested", "ingested_at": NOW}])
        people = [(1, "4141000001"), (2, "4141000001"), (3, "4141000001"), (4, "4134000001"), (5, "4134000001")]
        insert("staged.registry", [
            {"file_sha": "a" * 64, "row_no": n, "student_no": f"G{_id(n)}", "id_number": _id(n), "name": f"学生{n}",
             "gender": "M", "school_code": school, "grade": 3, "status": "active", "is_migrant": n == 4}
            for n, school in people])
        # cases: 1, 2 open in 建安区 (2 with a township missing from the reference: the run's district),
        # 3 closed; 4 open in 宣州区 with two events, 5 closed
        events = [(1, "411003100", "open", None, "suspected"), (2, None, "open", None, "suspected"),
                  (3, "411003100", "open", None, "suspected"), (3, "411003100", "close", "suspected", "closed"),
                  (4, "341802100", "open", None, "suspected"), (4, "341802100", "attempt", "suspected", "persuading"),
                  (5, "341802100", "open", None, "suspected"), (5, "341802100", "close", "suspected", "closed")]
        insert("ledger.case_events", [
            {"period": PERIOD, "created_for_period": PERIOD, "event_seq": i, "person_key": _id(n), "id_number": _id(n),
             "student_no": f"G{_id(n)}", "school_code": dict(people)[n], "township_code": town,
             "event_date": dt.date(2026, 6, 10), "event_type": kind, "from_state": before, "to_state": after,
             "attempt_count": int(kind == "attempt"), "failed_attempts": 0, "source": "casework"}
            for i, (n, town, kind, before, after) in enumerate(events)])
    refresh_current(warehouse)


def test_r3_one_workbook_per_county(warehouse, resources, kongchuo_home: Path):
    from assets.manifest import write_manifest
    from assets.report_files import source_files
    from assets.report_r3 import r3_one_student_one_form
    from warehouse.partitions import period_bounds

    _build(warehouse)
    folder = kongchuo_home / "reports" / PERIOD
    folder.mkdir(parents=True)
    stale = folder / f"魏都区_{LABEL}_一生一表.xlsx"
    stale.write_bytes(b"an R3 of a county without open cases now")
    other = folder / f"建安区_{LABEL}_控辍保学月报.xlsx"
    other.write_bytes(b"another report")

    result = dg.materialize([r3_one_student_one_form], partition_key=PERIOD, resources=resources)
    assert result.success
    files = {p.name for p in folder.glob("*一生一表.xlsx")}
    assert files == {f"建安区_{LABEL}_一生一表.xlsx", f"宣州区_{LABEL}_一生一表.xlsx"}
    assert not stale.exists() and other.exists()

    want = {"建安区": {_id(1), _id(2)}, "宣州区": {_id(4)}}
    for county, ids in want.items():
        book = CalamineWorkbook.from_path(str(folder / f"{county}_{LABEL}_一生一表.xlsx"))
        assert book.sheet_names[0] == "目录" and len(book.sheet_names) == 1 + len(ids)
        index = book.get_sheet_by_name("目录").to_python()
        assert index[0][0].startswith(f"{county}{LABEL}") and f"在册案件 {len(ids)} 件" in index[0][0]
        assert {row[4] for row in index[3:3 + len(ids)]} == ids  # compared, never printed
        assert [row[7] for row in index[3:3 + len(ids)]] == book.sheet_names[1:]
        for name in book.sheet_names[1:]:
            rows = book.get_sheet_by_name(name).to_python()
            assert rows[0][0].startswith(f"{county}控辍保学一生一表")
    case = CalamineWorkbook.from_path(str(folder / f"宣州区_{LABEL}_一生一表.xlsx"))
    rows = case.get_sheet_by_name(case.sheet_names[1]).to_python()
    assert "重点群体：随迁子女" in rows[3][0]
    history = [r for r in rows[6:] if isinstance(r[0], float)]
    assert [r[3] for r in history] == ["建档", "劝返"]

    cells = warehouse.query_df("SELECT case_key FROM reports.cells WHERE period = :p AND report = 'R3'", {"p": PERIOD})
    assert set(cells["case_key"]) == {_id(1), _id(2), _id(4)}
    meta = result.asset_materializations_for_node("reports__r3_one_student_one_form")[0].metadata
    assert meta["open_cases"].value == 3 and meta["workbooks"].value == 2
    assert {Path(f["path"]).name for f in meta["files"].value} == files

    written = [{"file": Path(f["path"]).name, "report": "R3", "sha256": f["sha256"]} for f in meta["files"].value]
    write_manifest(folder, written, source_files(warehouse, period_bounds(PERIOD)[1]), "411003")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert files <= {r["file"] for r in manifest["reports"]}
    assert not list(folder.glob(".partial-*"))


def test_r3_single_county_keeps_the_usual_name(warehouse, resources, kongchuo_home: Path):
    from assets.report_r3 import r3_one_student_one_form

    _build(warehouse)
    with warehouse.begin() as conn:  # close the 宣州区 case: only the run's district has open cases
        conn.execute(sa.text("UPDATE ledger.case_events SET to_state = 'closed' WHERE township_code = '341802100'"))
    assert dg.materialize([r3_one_student_one_form], partition_key=PERIOD, resources=resources).success
    folder = kongchuo_home / "reports" / PERIOD
    assert {p.name for p in folder.glob("*.xlsx")} == {f"建安区_{LABEL}_一生一表.xlsx"}


def test_r3_worker_processes_write_the_same_bytes(warehouse, resources, kongchuo_home: Path, monkeypatch):
    """With several counties and many cases the workbooks are written by worker processes (spawned; the rows
    go to them as Arrow tables) while the asset queries the next county: same files, byte for byte, as
    written in the asset's process."""
    import assets.report_r3 as r3

    _build(warehouse)
    folder = kongchuo_home / "reports" / PERIOD
    assert dg.materialize([r3.r3_one_student_one_form], partition_key=PERIOD, resources=resources).success
    here = {p.name: p.read_bytes() for p in folder.glob("*一生一表.xlsx")}
    assert len(here) == 2

    used: list[int] = []
    write_counties = r3._write_counties

    def spy(jobs, workers):
        used.append(workers)
        return write_counties(jobs, workers)

    monkeypatch.setattr(r3, "PARALLEL_MIN_CASES", 0)
    monkeypatch.setattr(r3, "_write_counties", spy)
    for p in folder.glob("*一生一表.xlsx"):
        p.unlink()
    assert dg.materialize([r3.r3_one_student_one_form], partition_key=PERIOD, resources=resources).success
    assert used and used[0] >= 1
    assert {p.name: p.read_bytes() for p in folder.glob("*一生一表.xlsx")} == here
    assert not list(folder.glob(".partial-*"))


def test_r3_workers_do_not_rerun_an_unguarded_script(tmp_path: Path):
    """Spawned workers run the parent's __main__ script again unless it is hidden from them: a profiling script
    without an ``if __name__ == "__main__":`` guard would materialise R3 again in each worker (and wait there
    for the warehouse lock). The script below runs once."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(f"""
import sys
print("SCRIPT RAN", flush=True)
import assets.report_r3 as r3
from assets.ledger import EVENT_LABELS, STATE_LABELS
from kongchuo.one_form import CASE_COLUMNS, EVENT_COLUMNS
cases, history = {{c: [] for c in CASE_COLUMNS}}, {{c: [] for c in EVENT_COLUMNS}}
jobs = [(str({str(tmp_path)!r}) + f"/c{{i}}.xlsx", "某县", "2026-06", STATE_LABELS, EVENT_LABELS, cases, history)
        for i in range(3)]
print("RESULTS", len(r3._write_counties(iter(jobs), 2)), flush=True)
""", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("SCRIPT RAN") == 1 and "RESULTS 3" in proc.stdout
    assert len(list(tmp_path.glob("c*.xlsx"))) == 3
