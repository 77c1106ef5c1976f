"""DQ01/DQ02 for every source with ID numbers, and UTF-8 text inside a GBK file (issue 13), through the real
monthly job on a generated district with a census file holding a bad ID, a birth date that disagrees with its
ID and a name written in UTF-8 inside a GBK file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import use_home
from run_home import run_home

from checks.id_checks import utf8_inside_gbk
from kongchuo import idnumber
from kongchuo.masking import mask_id
from kongchuo.settings import default_warehouse_url
from tests.bad_inputs import CENSUS_HEADER
from warehouse.resource import WarehouseResource

PERIOD = "2026-04"
BORN = dt.date(2013, 7, 8)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("idchecks") / "generated"
    generate("411003", 200, 11, dt.date(2026, 3, 2), dt.date(2026, 4, 30), out)
    return out


def test_utf8_inside_gbk_is_recognised() -> None:
    garbled = "张三".encode("utf-8").decode("gb18030")
    assert utf8_inside_gbk(garbled) and not utf8_inside_gbk("张三") and not utf8_inside_gbk("Li Si")


def test_census_ids_and_mojibake_are_checked_in_the_monthly_run(tmp_path: Path, generated: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 dagster_instance) -> None:
    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    # a new township: no census snapshot of its own yet, so this file adds one (nothing is replaced)
    town = "411003099"
    with open(home / "reference" / "townships.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{town},新设镇,411003\n")
    good = [idnumber.make_id("411003", BORN, 310 + i) for i in range(4)]  # no tail "000": that reads as an ID
    # typed as a number (a row error, kongchuo.readers), not as a wrong check digit
    bad_check_digit = good[0][:17] + ("0" if good[0][17] != "0" else "1")
    fifteen = good[2][:6] + good[2][8:17]  # 15 digits: two-digit year, no check character
    lines = [",".join(CENSUS_HEADER),
             f"{bad_check_digit},王一,男,{BORN},{town},在户",
             f"{good[1]},王二,男,{BORN + dt.timedelta(days=1)},{town},在户",  # birth date disagrees with the ID
             f"{good[2]},王三,男,{BORN},{town},在户",
             f"{fifteen},王四,男,{BORN},{town},在户"]  # a first-generation 15-digit ID: DQ01 lists it
    data = "\n".join(lines).encode("gbk")
    data += f"\n{good[3]},".encode("gbk") + "张三".encode("utf-8") + f",男,{BORN},{town},在户\n".encode("gbk")
    more = [idnumber.make_id("411003", BORN, 400 + i) for i in range(40)]  # 2 invalid of 45: DQ01 warns
    data += "".join(f"{i},王某,男,{BORN},{town},在户\n" for i in more).encode("gbk")
    (home / "landing" / "census" / "户籍_补充_20260420.csv").write_bytes(data)
    # another new township's file with 2 invalid IDs of 3: an error for the file, quarantined (kongchuo/delivery.py)
    town2 = "411003098"
    with open(home / "reference" / "townships.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{town2},新设镇二,411003\n")
    bad_file = "户籍_新设镇二_20260420.csv"
    third = idnumber.make_id("411003", BORN, 390)
    (home / "landing" / "census" / bad_file).write_bytes("\n".join(
        [",".join(CENSUS_HEADER), f"{bad_check_digit},赵一,男,{BORN},{town2},在户",
         f"{fifteen},赵二,男,{BORN},{town2},在户", f"{third},赵三,男,{BORN},{town2},在户"]).encode("utf-8"))
    outcome = run_home(home, PERIOD, dagster_instance)
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    found = warehouse.query_df("SELECT check_id, source, record_key, row_no, detail FROM checks.findings "
                               "WHERE run_id = :r AND source LIKE 'census%'", {"r": outcome.run_id})
    dq01 = found[found["check_id"] == "DQ01"]
    assert bad_check_digit in set(dq01["record_key"]) and fifteen in set(dq01["record_key"])
    assert good[1] in set(found[found["check_id"] == "DQ02"]["record_key"])
    enc = found[(found["check_id"] == "DQ03") & (found["source"] == "census:encoding")]
    assert list(enc["row_no"]) == [6] and "UTF-8" in enc["detail"].iloc[0]
    assert "张三" not in " ".join(found["detail"].astype(str))
    checked = {(c[0], c[1]) for c in outcome.failed_checks}
    assert ("staged/census", "dq01_valid_id_number") in checked
    assert set(dq01.loc[dq01["record_key"].notna(), "record_key"]) == {bad_check_digit, fifteen}  # warnings
    # the file over 5 %: quarantined whole, listed as the check's ERROR, its township's figures wait (draft)
    assert ("staged/census", "dq01_valid_id_number", "ERROR") in outcome.failed_checks
    assert warehouse.scalar("SELECT status FROM raw.files WHERE original_name = :n", {"n": bad_file}) == "quarantined"
    assert warehouse.scalar("SELECT count(*) FROM staged.census_current WHERE township_code = :t",
                            {"t": town2}) == 0
    [held] = list(dq01.loc[dq01["record_key"].isna(), "detail"])
    assert bad_file in held and "第3行" in held and "乡镇 411003098" in held and fifteen not in held
    from assets import completeness

    state = completeness.state(warehouse, PERIOD)
    assert list(state.files["file"]) == [bad_file] and state.townships == ["新设镇二"]
    assert mask_id(bad_check_digit) != bad_check_digit
    # The eight checks run in one step (staged__id_checks) but each is evaluated and listed on its own asset.
    evaluations = {}
    for entry in dagster_instance.all_logs(outcome.run_id):
        ev = entry.dagster_event
        if ev is not None and ev.event_type_value == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            evaluations[(data.asset_key.to_user_string(), data.check_name)] = entry.step_key
    wanted = {(f"staged/{s}", "dq01_valid_id_number") for s in ("census", "attendance", "casework", "exemptions",
                                                                "home_teaching")}
    wanted |= {("staged/census", "dq02_id_matches_birth_gender"), ("staged/registry", "dq03_text_encoding"),
               ("staged/census", "dq03_text_encoding")}
    assert {k: v for k, v in evaluations.items() if k in wanted} == {k: "staged__id_checks" for k in wanted}
    warehouse.dispose()
