"""R8 学籍异动梳理 (issue 19): registry changes between a school's consecutive snapshots, with verdicts.

Hand-worked from the issue and DESIGN.md ("Snapshots"): real registry, roll-call, exemption and census files in a
real KONGCHUO_HOME, ingested by the real ingest; the expected kind and reasons of every child are written below
from the rules, one child per case (every kind, every verdict). The generator's planted changes are checked in
tests/test_registry_changes_e2e.py.

Term: no school calendar, so the autumn term of 2026 starts on 2026-09-01 (the first working day from 1 September,
kongchuo.terms); R8's deadline is 2026-11-01. Snapshots: 初中 J and 九年一贯制 N on 2026-09-15 and 2026-10-15; 小学 P
on 2026-06-20 (last school year), 2026-09-15 and 2026-10-15; 初中 J2 only on 2026-10-15.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from assets.ingest import ingest_source, read_reference
from assets.registry_changes import build_changes, review_term, write_changes
from kongchuo import idnumber
from kongchuo.settings import reference_file
from tests.bad_inputs import ATTENDANCE_HEADER, CENSUS_HEADER, REGISTRY_HEADER, csv_bytes
from warehouse.home import KongchuoHome

P, J, N, J2 = "2410030001", "2410030005", "2410030006", "2410030007"  # 小学, 初中, 九年一贯制, 初中 (新元街道)
TOWN = "411003001"
BORN = dt.date(2014, 3, 1)  # 12 on 2026-08-31: school age
NAMES = "A B C D E F G H I K L M O Q R S T U V W X Y Z P1 P2 P3 N1 N2".split()
ID = {n: idnumber.make_id("411003", BORN, 100 + i) for i, n in enumerate(NAMES)}

# (child, grade, status word) per school and snapshot date
J_OLD = [("C", 7, "在读"), ("D", 7, "在读"), ("E", 7, "在读"), ("F", 7, "在读"), ("G", 7, "在读"), ("H", 7, "在读"),
         ("I", 7, "在读"), ("K", 7, "休学"), ("L", 7, "休学"), ("M", 7, "在读"), ("O", 7, "在读"), ("Q", 8, "在读"),
         ("R", 9, "在读"), ("S", 7, "在读"), ("T", 7, "在读"), ("U", 8, "在读"), ("V", 7, "在读"), ("W", 7, "在读"),
         ("X", 7, "在读"), ("Y", 7, "在读"), ("Z", 7, "转出")]
J_NEW = [("A", 7, "在读"), ("B", 7, "转入"), ("C", 7, "转出"), ("D", 7, "转出"), ("E", 7, "转出"), ("F", 7, "转出"),
         ("G", 7, "休学"), ("H", 7, "休学"), ("I", 7, "休学"), ("K", 7, "在读"), ("L", 7, "在读"), ("M", 7, "辍学"),
         ("O", 7, "死亡"), ("Q", 8, "毕业"), ("R", 9, "毕业"), ("S", 8, "在读"), ("T", 9, "在读"), ("U", 7, "在读"),
         ("Y", 7, "在读")]
J2_NEW = [("C", 7, "在读"), ("X", 7, "在读")]
P_JUNE = [("P1", 5, "在读"), ("P2", 5, "在读"), ("P3", 6, "在读")]
P_SEP = [("P1", 6, "在读"), ("P2", 5, "在读"), ("P3", 6, "毕业")]
P_OCT = P_SEP
N_OLD = [("N1", 6, "在读"), ("N2", 8, "在读")]
N_NEW = [("N1", 6, "毕业"), ("N2", 8, "毕业")]

# roll call: (child, school, date, status)
ROLL = [("Y", J, "2026-09-21", "出勤"), ("Y", J, "2026-10-14", "出勤"), ("Y", J, "2026-10-15", "出勤"),
        ("Y", J, "2026-10-16", "出勤"), ("E", J, "2026-09-21", "出勤"), ("F", J, "2026-10-10", "出勤"),
        ("D", J, "2026-10-16", "出勤"), ("I", J, "2026-10-16", "出勤"), ("K", J, "2026-10-14", "出勤"),
        ("L", J, "2026-10-14", "旷课"), ("C", J2, "2026-10-16", "出勤")]
EXEMPTIONS = [("G", "休学", "2026-10-10", "2027-07-01"), ("I", "休学", "2026-10-10", "2027-07-01")]
CENSUS = ["V", "X"]

# What the rules give, child by child: (school, kind, reason codes); 一致 when there is no reason.
EXPECTED_OCTOBER = {
    ("A", J): ("新增", set()),
    ("B", J): ("转入", set()),
    ("C", J): ("转出", set()),                                   # received at J2
    ("D", J): ("转出", {"transfer_still_present"}),              # present at J on 10-16, after the 10-15 snapshot
    ("E", J): ("转出", {"transfer_not_received"}),               # last row 09-21: 40 days before 10-31
    ("F", J): ("转出", set()),                                   # last row 10-10: 21 days, pending
    ("G", J): ("休学", set()),                                   # approved, not present
    ("H", J): ("休学", {"suspension_no_approval"}),
    ("I", J): ("休学", {"suspension_present"}),
    ("K", J): ("复学", set()),                                   # present 10-14
    ("L", J): ("复学", {"resumption_absent"}),                   # only 旷课 since
    ("M", J): ("辍学", set()),
    ("O", J): ("死亡", set()),
    ("Q", J): ("毕业", {"graduation_not_final_grade"}),          # grade 8 at a 初中
    ("R", J): ("毕业", set()),
    ("S", J): ("升级", set()),
    ("T", J): ("升级", {"progression_skips"}),
    ("U", J): ("升级", {"progression_repeats"}),
    ("V", J): ("删除", {"deletion_in_census"}),                  # census 在户, 12 years old, no record elsewhere
    ("W", J): ("删除", set()),                                   # not in the census
    ("X", J): ("删除", set()),                                   # in the census, but active at J2
    ("N1", N): ("毕业", set()),                                  # 九年一贯制: grade 6 graduates
    ("N2", N): ("毕业", {"graduation_not_final_grade"}),
    ("P1", P): ("升级", set()),                                  # June grade 5 -> September grade 6
    ("P2", P): ("升级", {"progression_repeats"}),                # grade 5 again in the new school year
    ("P3", P): ("毕业", set()),                                  # 小学 grade 6
}
# Y (unchanged) and Z (transferred out before, gone now) are no change.
SEPTEMBER = {k: v for k, v in EXPECTED_OCTOBER.items() if k[1] == P}  # only P's June -> September pair


def _registry(rows, school: str, exported: str) -> bytes:
    """A school's registry export with its export date above the table (P's September and October exports hold
    the same records: the date line keeps them two files)."""
    body = [[f"G{ID[n]}", ID[n], "学生", "男", BORN.isoformat(), school, g, s] for n, g, s in rows]
    return csv_bytes([[f"导出日期：{exported}"], REGISTRY_HEADER] + body)


def setup_district(home: Path, warehouse) -> None:
    """Drop and ingest every file of the hand-worked district, and load the reference data."""
    files = {
        "registry": {f"初中_{J}_20260915.csv": _registry(J_OLD, J, "2026-09-15"), f"初中_{J}_20261015.csv": _registry(J_NEW, J, "2026-10-15"),
                     f"二中_{J2}_20261015.csv": _registry(J2_NEW, J2, "2026-10-15"),
                     f"小学_{P}_20260620.csv": _registry(P_JUNE, P, "2026-06-20"), f"小学_{P}_20260915.csv": _registry(P_SEP, P, "2026-09-15"),
                     f"小学_{P}_20261015.csv": _registry(P_OCT, P, "2026-10-15"),
                     f"九年_{N}_20260915.csv": _registry(N_OLD, N, "2026-09-15"), f"九年_{N}_20261015.csv": _registry(N_NEW, N, "2026-10-15")},
        "attendance": {"考勤_202610.csv": csv_bytes([ATTENDANCE_HEADER] + [[f"G{ID[n]}", s, d, st]
                                                                          for n, s, d, st in ROLL])},
        "exemptions": {"休学.csv": csv_bytes([["身份证件号", "类型", "批准日期", "有效期至", "原因", "批准单位"]] + [
            [ID[n], k, a, u, "疾病治疗", "建安区教育局"] for n, k, a, u in EXEMPTIONS])},
        "census": {"户籍.csv": csv_bytes([CENSUS_HEADER] + [[ID[n], "某某", "男", BORN.isoformat(), TOWN, "在户"]
                                                           for n in CENSUS])},
    }
    kh = KongchuoHome(path=str(home))
    for source, named in files.items():
        for name, data in named.items():
            (home / "landing" / source / name).write_bytes(data)
        outcomes = ingest_source(kh, warehouse, source, workers=1)
        assert all(o.status == "ingested" for o in outcomes), [(o.name, o.error) for o in outcomes]
    with warehouse.begin() as conn:
        for table in ("schools", "townships"):
            warehouse.insert_frame(conn, f"staged.{table}",
                                   read_reference(reference_file(home, f"{table}.csv"), table))


def _by_child(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[str, set[str]]]:
    name_of = {v: k for k, v in ID.items()}
    out = {}
    for r in frame.itertuples(index=False):
        key = (name_of[r.person_key], r.school_code)
        assert key not in out, f"two rows for {key}"
        out[key] = (r.kind, set(r.reason_codes.split(",")) if isinstance(r.reason_codes, str) else set())
    return out


def test_every_kind_and_verdict_of_the_hand_worked_district(kongchuo_home: Path, warehouse) -> None:
    setup_district(kongchuo_home, warehouse)
    term, deadline = review_term(warehouse, "2026-10")
    assert (term.name, term.first_day, deadline) == ("2026-autumn", dt.date(2026, 9, 1), dt.date(2026, 11, 1))
    frame = build_changes(warehouse, "2026-10")
    assert _by_child(frame) == EXPECTED_OCTOBER
    # one verdict per row, and the Chinese reason names what to do
    assert set(frame["verdict"]) == {"一致", "需核实"}
    assert (frame["needs_review"] == (frame["verdict"] == "需核实")).all()
    assert frame["reason"].map(lambda s: isinstance(s, str) and s != "").all()
    v = frame[frame["person_key"] == ID["V"]].iloc[0]
    assert "户籍" in v["reason"] and v["verdict"] == "需核实"
    # old and new values, snapshot dates, files and rows
    d = frame[frame["person_key"] == ID["D"]].iloc[0]
    assert (d["old_status"], d["new_status"]) == ("active", "transferred_out")
    assert (str(d["old_snapshot_date"])[:10], str(d["new_snapshot_date"])[:10]) == ("2026-09-15", "2026-10-15")
    files = dict(warehouse.query_df("SELECT file_sha, original_name FROM raw.files").itertuples(index=False))
    assert (files[d["old_file_sha"]], files[d["new_file_sha"]]) == (f"初中_{J}_20260915.csv", f"初中_{J}_20261015.csv")
    assert (int(d["old_row_no"]), int(d["new_row_no"])) == (4, 6)  # file lines: date line, header, then C, D, ...
    t = frame[frame["person_key"] == ID["T"]].iloc[0]
    assert (int(t["old_grade"]), int(t["new_grade"])) == (7, 9)
    a = frame[frame["person_key"] == ID["A"]].iloc[0]
    assert pd.isna(a["old_status"]) and pd.isna(a["old_file_sha"]) and a["new_status"] == "active"
    v_old = frame[frame["person_key"] == ID["V"]].iloc[0]
    assert pd.isna(v_old["new_file_sha"]) and files[v_old["old_file_sha"]] == f"初中_{J}_20260915.csv"


def test_a_period_holds_the_pairs_of_its_term_up_to_its_end(kongchuo_home: Path, warehouse) -> None:
    setup_district(kongchuo_home, warehouse)
    september = build_changes(warehouse, "2026-09")
    assert _by_child(september) == SEPTEMBER  # 10-15 snapshots are after September's cut-off
    # the P pair of June -> September is listed once more in October, with its own dates
    october = build_changes(warehouse, "2026-10")
    p1 = october[october["person_key"] == ID["P1"]].iloc[0]
    assert (str(p1["old_snapshot_date"])[:10], str(p1["new_snapshot_date"])[:10]) == ("2026-06-20", "2026-09-15")
    # the write is idempotent per period, the text period column keeps periods apart
    write_changes(warehouse, "2026-09", september)
    write_changes(warehouse, "2026-10", october)
    write_changes(warehouse, "2026-10", october)
    counts = warehouse.query_df("SELECT period, count(*) AS n FROM derived.registry_changes GROUP BY period")
    assert dict(counts.itertuples(index=False)) == {"2026-09": len(SEPTEMBER), "2026-10": len(EXPECTED_OCTOBER)}


def test_r8_workbooks_manifest_and_portal_scope(kongchuo_home: Path, warehouse) -> None:
    """The real assets in a real Dagster run (ephemeral instance): derived.registry_changes, R8 and the manifest;
    the workbooks read back with calamine (not the writer's library); the portal's catalogue and access rules."""
    import json

    import dagster as dg
    from python_calamine import CalamineWorkbook

    from assets.manifest import build_manifest_asset
    from assets.registry_changes import registry_changes
    from assets.report_r8 import R8, r8_registry_changes
    from portal.catalog import Catalogue, listed_for, may_access, sheet_school_codes
    from portal.users import User
    from warehouse.partitions import monthly_partitions

    setup_district(kongchuo_home, warehouse)
    manifest = build_manifest_asset("monthly_manifest", [R8], monthly_partitions)
    result = dg.materialize([registry_changes, r8_registry_changes, manifest], partition_key="2026-10",
                            instance=dg.DagsterInstance.ephemeral(),
                            resources={"home": KongchuoHome(path=str(kongchuo_home)), "warehouse": warehouse})
    assert result.success
    stored = warehouse.query_df("SELECT person_key, school_code, kind, reason_codes FROM derived.registry_changes "
                                "WHERE period = '2026-10'")
    assert _by_child(stored) == EXPECTED_OCTOBER

    folder = kongchuo_home / "reports" / "2026-10"
    town_file = folder / "建安区_2026年10月_学籍异动梳理_新元街道.xlsx"
    district_file = folder / "建安区_2026年10月_学籍异动梳理_全区汇总.xlsx"
    assert town_file.exists() and district_file.exists()
    book = CalamineWorkbook.from_path(str(town_file))
    sheets = book.sheet_names
    assert sheets[0] == "本乡镇汇总" and len(sheets) == 4  # P, J, N changed; J2 has none (summary only)
    codes = dict(sheet_school_codes(town_file))
    assert sorted(c for c in codes.values() if c) == sorted([P, J, N]) and codes["本乡镇汇总"] is None

    def table(sheet: str) -> list[list]:
        return book.get_sheet_by_name(sheet).to_python()

    name_of = {code: sheet for sheet, code in codes.items()}
    j = table(name_of[J])
    assert "2026年秋季学期学籍异动梳理" in j[0][0] and "2026年11月01日前完成" in j[0][0]
    header = j[next(i for i, r in enumerate(j) if r[0] == "序号")]
    body = [r for r in j if isinstance(r[0], (int, float)) and r[0] >= 1]
    col = {h: i for i, h in enumerate(header)}
    expected_j = {k: v for k, v in EXPECTED_OCTOBER.items() if k[1] == J}
    assert len(body) == len(expected_j)
    by_id = {r[col["身份证件号"]]: r for r in body}
    name_of_id = {v: k for k, v in ID.items()}
    for id_number, r in by_id.items():
        kind, reasons = expected_j[(name_of_id[id_number], J)]
        assert r[col["异动类型"]] == kind
        assert r[col["核查结论"]] == ("需核实" if reasons else "一致")
        assert r[col["姓名"]] == "学生"
    d = by_id[ID["D"]]
    assert (d[col["原学籍状态"]], d[col["现学籍状态"]]) == ("在读", "转出")
    assert d[col["新记录来源（文件/行号）"]] == f"初中_{J}_20261015.csv 第6行"
    assert by_id[ID["T"]][col["原年级"]] == "七年级" and by_id[ID["T"]][col["现年级"]] == "九年级"

    # the township summary and the district summary: counts per school, still to review
    summary = table("本乡镇汇总")
    shead = summary[next(i for i, r in enumerate(summary) if r[0] == "序号")]
    scol = {h: i for i, h in enumerate(shead)}
    rows = {r[scol["学校标识码"]]: r for r in summary if isinstance(r[0], (int, float)) and r[0] >= 1}
    for code in (P, J, N, J2):
        mine = [v for k, v in EXPECTED_OCTOBER.items() if k[1] == code]
        assert rows[code][scol["异动合计"]] == len(mine)
        assert rows[code][scol["需核实"]] == sum(1 for _, reasons in mine if reasons)
        for kind in ("新增", "转出", "毕业", "删除", "升级"):
            assert rows[code][scol[kind]] == sum(1 for k, _ in mine if k == kind)
    total = next(r for r in summary if r[0] == "合计")
    assert total[scol["需核实"]] == sum(1 for _, reasons in EXPECTED_OCTOBER.values() if reasons)
    district = CalamineWorkbook.from_path(str(district_file)).get_sheet_by_index(0).to_python()
    dtotal = next(r for r in district if r[0] == "合计")
    assert dtotal[scol["异动合计"]] == len(EXPECTED_OCTOBER)

    # the manifest lists both with their report id and township code; the portal scopes by those codes
    listed = {r["file"]: r for r in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["reports"]}
    assert listed[town_file.name]["report"] == "R8" and listed[town_file.name]["township_code"] == TOWN
    assert listed[district_file.name]["township_code"] is None
    reports = Catalogue(kongchuo_home / "reports", b"secret").scan()
    users = {
        "district": User("q", "district", "", district_code="411003"),
        "township": User("t", "township", "", district_code="411003", township_code=TOWN),
        "other_township": User("o", "township", "", district_code="411003", township_code="411003002"),
        "school": User("s", "school", "", district_code="411003", township_code=TOWN, school_code=J),
    }
    seen = {who: {(r.kind, r.file, r.school_code) for r in reports if may_access(u, r)} for who, u in users.items()}
    assert seen["district"] >= {("R8", town_file.name, None), ("R8", district_file.name, None)}
    assert ("R8", town_file.name, None) in seen["township"] and ("R8", district_file.name, None) not in seen["township"]
    assert not seen["other_township"]
    assert seen["school"] == {("R8S", town_file.name, J)}
    assert [r.kind for r in listed_for(users["school"], reports)] == ["R8S"]


def _tick(name: str, when: dt.datetime):
    import dagster as dg

    from pipelines.definitions import defs

    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def(name)
    with dg.DagsterInstance.ephemeral() as instance:
        data = schedule.evaluate_tick(dg.build_schedule_context(
            instance=instance, scheduled_execution_time=when, repository_def=repository))
    return schedule, data


def _requests(data) -> list[tuple[str, str]]:
    return [(r.partition_key, r.run_key) for r in data.run_requests or []]


def test_r8_schedules_weekly_from_term_start_and_final_at_the_deadline(kongchuo_home: Path) -> None:
    """No school calendar: the autumn term starts on 2026-09-01, R8's deadline is 2026-11-01 (term start + 2
    months). Mondays in between run the week just ended; the deadline's run is the final one."""
    from zoneinfo import ZoneInfo

    def at(*args) -> dt.datetime:
        return dt.datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai"))

    weekly, data = _tick("r8_weekly_schedule", at(2026, 9, 7, 6))
    assert (weekly.cron_schedule, weekly.execution_timezone, weekly.job_name) == (
        "0 6 * * 1", "Asia/Shanghai", "registry_changes_job")
    assert _requests(data) == [("2026-09", "r8_weekly_2026-09-07")]
    assert _requests(_tick("r8_weekly_schedule", at(2026, 10, 5, 6))[1]) == [("2026-10", "r8_weekly_2026-10-05")]
    assert _requests(_tick("r8_weekly_schedule", at(2026, 10, 26, 6))[1]) == [("2026-10", "r8_weekly_2026-10-26")]
    for when in (at(2026, 11, 2, 6), at(2026, 8, 31, 6)):  # after the deadline; summer holiday
        assert not _requests(_tick("r8_weekly_schedule", when)[1])
    final, data = _tick("r8_final_schedule", at(2026, 11, 1, 6))
    assert (final.cron_schedule, final.job_name) == ("0 6 * * *", "registry_changes_job")
    assert _requests(data) == [("2026-10", "r8_final_2026-autumn")]
    assert not _requests(_tick("r8_final_schedule", at(2026, 10, 31, 6))[1])
    # the bureau's calendar moves the term start, and with it the deadline
    (kongchuo_home / "reference").mkdir(exist_ok=True)
    (kongchuo_home / "reference" / "school_calendar.csv").write_text(
        "date\n2026-09-07\n2026-09-08\n2026-09-09\n", encoding="utf-8")
    assert not _requests(_tick("r8_final_schedule", at(2026, 11, 1, 6))[1])
    assert _requests(_tick("r8_final_schedule", at(2026, 11, 7, 6))[1]) == [("2026-11", "r8_final_2026-autumn")]
