"""Ingestion end to end: real files in a temp KONGCHUO_HOME, a real DuckDB warehouse, real Dagster runs."""

import datetime as dt
import hashlib
import json

import dagster as dg
import pandas as pd
import pytest

from assets.ingest import ingest_assets, ingest_source, staged_assets, staged_reference
from kongchuo import idnumber
from kongchuo.masking import mask_id
from warehouse.home import KongchuoHome
from warehouse.layout import staged_columns
from warehouse.partitions import monthly_partitions
from warehouse.resource import WarehouseResource

PERIOD = "2026-05"
D = dt.date(2010, 3, 5)
IDS = [idnumber.make_id("411003", D, i) for i in range(1, 6)]
NAMES = ["张小明", "李明", "王小红", "赵四", "欧阳娜娜"]
REGISTRY_HEADER = ["全国学籍号", "身份证号", "姓名", "性别", "出生日期", "学校标识码", "年级", "学籍状态", "留守儿童",
                   "备注"]


def registry_rows(dates=("2010-03-05",) * 5, statuses=("在读",) * 5):
    rows = [list(REGISTRY_HEADER)]
    for i, (id_, name, born, status) in enumerate(zip(IDS, NAMES, dates, statuses)):
        rows.append([f"G{id_}", id_, name, "男" if i % 2 == 0 else "女", born, "4110030001", "初一", status,
                     "是" if i == 0 else "", "note"])
    return rows


@pytest.fixture
def run(resources, dagster_instance):
    """``run(*assets)``: materialise the period with the test's resources; the run must succeed."""
    def _run(*assets):
        result = dg.materialize(list(assets), partition_key=PERIOD, resources=resources, instance=dagster_instance)
        assert result.success
        return result

    return _run


def metadata(result, source):
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key == dg.AssetKey(["staged", source])]
    return events[-1].materialization.metadata


def staged(warehouse, source, where="1=1"):
    return warehouse.query_df(f"SELECT * FROM staged.{source} WHERE {where} ORDER BY file_sha, row_no")


def table_hash(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


def files(warehouse):
    return warehouse.query_df("SELECT * FROM raw.files ORDER BY ingested_at")


# --- definitions --------------------------------------------------------------------------------------

def test_asset_definitions():
    keys = {a.key for a in ingest_assets}
    assert keys == {dg.AssetKey(["staged", s]) for s in
                    ("registry", "attendance", "census", "casework", "exemptions", "home_teaching", "reference")}
    for asset in ingest_assets:
        spec = next(iter(asset.specs))
        assert spec.group_name == "ingest" and spec.partitions_def == monthly_partitions
        assert set(spec.kinds) == {"duckdb", "pandas"} and spec.owners == ["team:data-engineering"]
        assert spec.code_version and spec.description
        assert {"home", "warehouse"} <= asset.required_resource_keys
    defs = dg.Definitions(assets=ingest_assets, resources={
        "home": KongchuoHome(path="."), "warehouse": WarehouseResource(url="duckdb:///:memory:")})
    assert len(defs.resolve_all_asset_specs()) == 7


# --- input formats ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs,first_row", [
    ("registry_utf8.csv", {"encoding": "utf-8"}, 2),
    ("registry_bom.csv", {"encoding": "utf-8-sig"}, 2),
    ("registry_gbk.csv", {"encoding": "gbk"}, 2),
    ("registry_title.csv", {"encoding": "gbk", "title": "建安区2026年5月学籍名册"}, 3),
    ("registry_title.xlsx", {"title": "建安区学籍名册（导出）"}, 3),
])
def test_formats_land_the_same_rows(run, warehouse, drop, kongchuo_home, name, kwargs, first_row):
    landed = drop("registry", name, registry_rows(), **kwargs)
    original = landed.read_bytes()
    result = run(staged_assets["registry"])

    df = staged(warehouse, "registry")
    assert len(df) == 5 and df["row_no"].tolist() == list(range(first_row, first_row + 5))
    assert sorted(df["id_number"]) == sorted(IDS) and (df["birth_date"] == D).all()
    assert (df["grade"] == 7).all() and (df["status"] == "active").all() and (df["school_code"] == "4110030001").all()
    assert df["gender"].tolist() == ["M", "F", "M", "F", "M"]
    assert df["is_left_behind"].tolist() == [True, False, False, False, False]
    assert df["name"].map(len).tolist() == [len(n) for n in NAMES]  # decoded, not mojibake
    assert set(df["name"]) == set(NAMES)

    f = files(warehouse).iloc[0]
    sha = hashlib.sha256(original).hexdigest()
    assert f["status"] == "ingested" and f["file_sha"] == sha and f["row_count"] == 5
    assert f["run_id"] == result.run_id and f["original_name"] == name
    expected_encoding = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030"}.get(kwargs.get("encoding"),
                                                                                          "xlsx")
    assert f["encoding"] == expected_encoding
    assert json.loads(f["header_map"])["身份证号"] == "id_number"
    raw = kongchuo_home / "raw" / "registry" / f"{sha}{landed.suffix}"
    assert raw.read_bytes() == original and landed.read_bytes() == original  # unchanged copy, landing kept

    md = metadata(result, "registry")
    assert md["dagster/row_count"].value == 5 and md["quarantined_count"].value == 0
    assert name in md["files_ingested"].value and sha in md["files_ingested"].value
    assert "备注" in json.dumps(md["ignored_columns"].value, ensure_ascii=False)
    assert [c.name for c in md["dagster/column_schema"].schema.columns] == staged_columns("registry")


def test_xlsx_serial_numbers_and_real_dates(run, warehouse, drop):
    rows = registry_rows()
    rows[1][4] = 40242  # Excel serial number (int cell)
    rows[2][4] = 40242.0  # serial as float
    rows[3][4] = dt.datetime(2010, 3, 5)  # a real date cell
    rows[4][4] = D
    rows[5][4] = "2010年3月5日"
    rows[1][6] = 7  # numeric grade
    for r in rows[1:]:
        r[5] = 4110030001  # numeric school code
    drop("registry", "serials.xlsx", rows)
    run(staged_assets["registry"])
    df = staged(warehouse, "registry")
    assert (df["birth_date"] == D).all() and (df["grade"] == 7).all() and (df["school_code"] == "4110030001").all()
    assert df["birth_date_raw"].tolist() == ["40242", "40242", "2010-03-05", "2010-03-05", "2010年3月5日"]


def test_every_date_style_and_messy_ids(run, warehouse, drop):
    styles = ["2010-03-05", "2010/3/5", "20100305", "2010年3月5日", "2010.3.5", "40242", "40242.0"]
    fw = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    messy = [IDS[0].translate(fw), f" {IDS[1][:6]} {IDS[1][6:]} ", IDS[2].lower(), IDS[3], IDS[4],
             f"\u3000{IDS[0]}", IDS[1]]
    rows = [["身份证件号码", "劝返时间", "劝返方式", "劝返结果", "辍学原因"]]
    rows += [[i, d, "上门", "未返校", "厌学"] for i, d in zip(messy, styles)]
    drop("casework", "casework.csv", rows)
    run(staged_assets["casework"])
    df = staged(warehouse, "casework")
    assert (df["attempt_date"] == D).all()
    assert df["id_number"].tolist() == [IDS[0], IDS[1], IDS[2], IDS[3], IDS[4], IDS[0], IDS[1]]
    assert df["id_number_raw"].tolist() == messy  # raw kept as delivered
    assert (df["method"] == "visit").all() and (df["result"] == "not_returned").all()
    f = files(warehouse).iloc[0]
    assert f["min_date"] == D and f["max_date"] == D


def test_bad_values_are_null_with_raw_kept_not_file_errors(run, warehouse, drop):
    rows = [["学籍号", "学校代码", "点名日期", "出勤情况"],
            ["ｇ0001", "4110030001", "2026-05-06", "出勤"],
            ["g0002", "4110030001", "2026-02-31", "补课"],
            ["", "", "", ""],  # a blank row keeps row numbers physical
            [" G0003 ", "4110030001", "2026/5/7", "旷课"]]
    drop("attendance", "att.csv", rows)
    run(staged_assets["attendance"])
    df = staged(warehouse, "attendance")
    assert df["row_no"].tolist() == [2, 3, 5]
    assert df["student_no"].tolist() == ["G0001", "G0002", "G0003"]
    assert pd.isna(df["date"].iloc[1]) and df["date_raw"].iloc[1] == "2026-02-31"
    assert pd.isna(df["status"].iloc[1]) and df["status_raw"].iloc[1] == "补课"
    assert df["status"].iloc[2] == "unexcused"


def test_all_sources_land(run, warehouse, drop):
    drop("census", "census.csv", [["公民身份号码", "姓名", "性别", "出生日期", "乡镇代码", "村居", "人口状态", "是否残疾"],
                                  [IDS[0], NAMES[0], "1", "20100305", "411003001", "一村", "在户", "否"]])
    drop("exemptions", "ex.csv", [["身份证件号", "审批类型", "审批日期", "截止日期", "申请原因"],
                                  [IDS[1], "休学", "2026-03-01", "2026-08-31", "疾病"]])
    drop("home_teaching", "ht.xlsx", [["身份证件号", "送教时间", "送教课时", "送教教师"],
                                      [IDS[2], dt.date(2026, 5, 6), 3, "陈老师"]])
    result = run(*staged_assets.values())
    assert warehouse.scalar("SELECT residence_status FROM staged.census") == "resident"
    assert warehouse.scalar("SELECT kind FROM staged.exemptions") == "suspension"
    assert warehouse.scalar("SELECT class_hours FROM staged.home_teaching") == 3.0
    assert warehouse.scalar("SELECT count(*) FROM raw.files WHERE status = 'ingested'") == 3
    assert metadata(result, "registry")["dagster/row_count"].value == 0  # empty landing is fine


# --- idempotence ------------------------------------------------------------------------------------

def test_reingest_is_a_noop(run, warehouse, drop, kongchuo_home):
    landed = drop("registry", "r.csv", registry_rows())
    run(staged_assets["registry"])
    before = table_hash(staged(warehouse, "registry"))
    drop("registry", "r_copy_same_bytes.csv", data=landed.read_bytes())
    result = run(staged_assets["registry"])
    assert table_hash(staged(warehouse, "registry")) == before
    assert warehouse.scalar("SELECT count(*) FROM raw.files") == 1
    assert len(list((kongchuo_home / "raw" / "registry").iterdir())) == 1
    md = metadata(result, "registry")
    assert md["dagster/row_count"].value == 5 and md["rows_ingested"].value == 0
    assert "r.csv" in md["files_skipped"].value and "r_copy_same_bytes.csv" in md["files_skipped"].value


# --- quarantine -------------------------------------------------------------------------------------

def _missing_required():
    rows = registry_rows()
    return {"rows": [r[:4] + r[5:] for r in rows]}  # no 出生日期


def _duplicated():
    rows = registry_rows()
    rows[0][9] = "身份证件号"  # second header for id_number
    return {"rows": rows}


def _undecodable():
    body = "\n".join(",".join(map(str, r)) for r in registry_rows()).encode("utf-8")
    lines = body.split(b"\n")
    lines[3] = lines[3].replace("王小红".encode(), b"\xff\xfe\x80")
    return {"data": b"\n".join(lines)}


@pytest.mark.parametrize("make,expect", [
    (_missing_required, ["bad.csv：第 1 行（表头），A–I 列", "缺少必填列：出生日期（birth_date）"]),
    (_duplicated, ["bad.csv", "row 1 (header)", "columns B and J", "'身份证号'", "'身份证件号'", "'id_number'"]),
    (_undecodable, ["bad.csv", "row 4", "column C ('姓名')", "UTF-8"]),
], ids=["missing_required", "duplicated_column", "undecodable"])
def test_bad_file_is_quarantined_and_others_land(run, dagster_instance, warehouse, drop, kongchuo_home, make, expect):
    drop("registry", "a_first.csv", registry_rows())
    run(staged_assets["registry"])
    first_sha = files(warehouse)["file_sha"].iloc[0]
    before = table_hash(staged(warehouse, "registry"))

    bad = drop("registry", "bad.csv", **make())
    bad_bytes = bad.read_bytes()
    drop("registry", "c_good.xlsx", registry_rows(statuses=("休学",) * 5))
    result = run(staged_assets["registry"])

    reg = files(warehouse).set_index("original_name")
    error = reg.loc["bad.csv", "error"]
    assert reg.loc["bad.csv", "status"] == "quarantined"
    for part in expect:
        assert part in error
    assert reg.loc["c_good.xlsx", "status"] == "ingested"  # the good file in the same run still lands
    assert table_hash(staged(warehouse, "registry", f"file_sha = '{first_sha}'")) == before
    assert warehouse.scalar(f"SELECT count(*) FROM staged.registry WHERE file_sha = "
                            f"'{reg.loc['bad.csv', 'file_sha']}'") == 0

    q = kongchuo_home / "quarantine" / "registry"
    assert (q / "bad.csv").read_bytes() == bad_bytes
    assert (q / "bad.csv.error.txt").read_text(encoding="utf-8").startswith(error)
    assert not bad.exists()  # left landing
    assert (kongchuo_home / "raw" / "registry" / f"{reg.loc['bad.csv', 'file_sha']}.csv").read_bytes() == bad_bytes

    md = metadata(result, "registry")
    assert md["quarantined_count"].value == 1 and "bad.csv" in md["quarantined_files"].value
    logs = "\n".join(e.user_message for e in dagster_instance.all_logs(result.run_id))
    assert "quarantined bad.csv" in logs
    _assert_no_personal_data(error, logs, json.dumps({k: str(v) for k, v in md.items()}, ensure_ascii=False),
                             (q / "bad.csv.error.txt").read_text(encoding="utf-8"))


def test_failure_mid_file_rolls_back(warehouse, drop, kongchuo_home):
    """A row with too many fields far down the file: earlier chunks were inserted, the transaction undoes them."""
    rows = registry_rows()
    rows.append(rows[1] + ["extra", "fields"])
    drop("registry", "ragged.csv", rows)
    outcomes = ingest_source(KongchuoHome(path=str(kongchuo_home)), warehouse, "registry", run_id="t",
                             chunk_rows=2)
    assert outcomes[0].status == "quarantined"
    assert "ragged.csv: row 7, column L" in outcomes[0].error
    assert warehouse.scalar("SELECT count(*) FROM staged.registry") == 0


def test_unsupported_file_is_quarantined(run, warehouse, drop, kongchuo_home):
    drop("attendance", "notes.txt", data=b"hello")
    drop("attendance", "~$open.xlsx", data=b"lock")  # Excel lock file: left alone
    result = run(staged_assets["attendance"])
    assert "unsupported file type '.txt'" in metadata(result, "attendance")["quarantined_files"].value
    assert (kongchuo_home / "quarantine" / "attendance" / "notes.txt.error.txt").exists()
    assert (kongchuo_home / "landing" / "attendance" / "~$open.xlsx").exists()


def _assert_no_personal_data(*texts: str) -> None:
    for text in texts:
        for value in (*IDS, *NAMES, *(f"G{i}" for i in IDS)):
            assert value not in text, f"personal data leaked: {mask_id(value)}"


def test_metadata_preview_is_masked(run, dagster_instance, warehouse, drop):
    drop("registry", "r.csv", registry_rows())
    result = run(staged_assets["registry"])
    md = metadata(result, "registry")
    logs = "\n".join(e.user_message for e in dagster_instance.all_logs(result.run_id))
    _assert_no_personal_data(md["preview"].value, logs, str({k: v for k, v in md.items()}))
    assert mask_id(IDS[0]) in md["preview"].value


# --- views ------------------------------------------------------------------------------------------

def test_current_views_keep_the_latest_file(run, warehouse, drop):
    drop("registry", "r1.csv", registry_rows())
    att = [["全国学籍号", "学校标识码", "日期", "考勤状态"], [f"G{IDS[0]}", "4110030001", "2026-05-06", "出勤"],
           [f"G{IDS[1]}", "4110030001", "2026-05-06", "出勤"]]
    drop("attendance", "a1.csv", att)
    drop("census", "c1.csv", [["身份证号码", "姓名", "性别", "出生日期", "乡镇代码", "居住状态"],
                              [IDS[0], NAMES[0], "男", "2010-03-05", "411003001", "在户"],
                              [IDS[0], NAMES[0], "男", "2010-03-05", "411003001", "外出"]])  # later row wins
    run(staged_assets["registry"], staged_assets["attendance"], staged_assets["census"])
    drop("registry", "r2.csv", registry_rows(statuses=("辍学",) + ("在读",) * 4))  # newer snapshot of the school
    drop("attendance", "a2.csv", [att[0], [f"G{IDS[0]}", "4110030001", "2026-05-06", "旷课"]])  # correction
    drop("census", "c2.csv", [["身份证号码", "姓名", "性别", "出生日期", "乡镇代码", "居住状态"],
                              [IDS[0], NAMES[0], "男", "2010-03-05", "411003001", "迁出"]])
    run(staged_assets["registry"], staged_assets["attendance"], staged_assets["census"])

    reg = warehouse.query_df("SELECT person_key, status FROM staged.registry_current ORDER BY person_key")
    assert len(reg) == 5 and reg.set_index("person_key").loc[IDS[0], "status"] == "dropped_out"
    assert (reg.set_index("person_key").drop(IDS[0])["status"] == "active").all()
    cur = warehouse.query_df("SELECT student_no, status FROM staged.attendance_current ORDER BY student_no")
    assert cur["status"].tolist() == ["unexcused", "present"]
    assert warehouse.scalar("SELECT count(*) FROM staged.attendance") == 3
    census = warehouse.query_df("SELECT residence_status FROM staged.census_current")
    assert census["residence_status"].tolist() == ["moved_out"]


# --- reference --------------------------------------------------------------------------------------

def test_reference_replaces_all_rows(run, warehouse, kongchuo_home):
    ref = kongchuo_home / "reference"
    ref.mkdir()
    (ref / "townships.csv").write_text("township_code,township_name,district_code\n411003001,灞陵街道,411003\n",
                                       encoding="utf-8")
    (ref / "schools.csv").write_bytes(
        "school_code,school_name,township_code,stage,is_rural\n4110030001,一小,411003001,小学,1\n"
        "4110030002,二中,411003001,初中,否\n".encode("gbk"))
    result = run(staged_reference)
    run(staged_reference)
    schools = warehouse.query_df("SELECT * FROM staged.schools ORDER BY school_code")
    assert schools["is_rural"].tolist() == [True, False] and schools["school_name"].tolist() == ["一小", "二中"]
    assert warehouse.scalar("SELECT count(*) FROM staged.townships") == 1
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert md["schools_rows"].value == 2 and str(ref) in md["schools_file"].value


def test_total_and_signature_lines_are_counted_not_loaded(run, warehouse, drop):
    """A township form: title and 填报单位 lines above the header, 合计 and 填表人/复核人 lines below the data."""
    rows = [["建安区2026年秋季学生学籍名册"], ["填报单位（盖章）：建安区实验学校", "", "填报日期：2026年9月"],
            *registry_rows(), [], ["合计", "", "", "5人"], ["填表人：王老师", "", "复核人：李老师"]]
    drop("registry", "r.csv", rows)
    result = run(staged_assets["registry"])
    md = metadata(result, "registry")
    assert md["rows_ingested"].value == 5
    assert md["skipped_rows"].value == {"r.csv": {"空行": 1, "合计": 1, "填表人": 1}}
    assert staged(warehouse, "registry")["row_no"].tolist() == [4, 5, 6, 7, 8]
    assert md["skipped_sheets"].value == "(none)"
