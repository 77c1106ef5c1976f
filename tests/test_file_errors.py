"""One bad file never stops the district (issue 13): DQ01 (> 5 % invalid IDs in a file) and DQ08 (codes the
reference data does not know) are errors *for the file*. Such a registry or census file is quarantined at ingest
(:mod:`kongchuo.delivery`), the previous snapshot of its scope stays in force, the run goes on, every report of
the period is a draft naming the file and its school until a corrected file lands, and the check still shows
ERROR in Dagster in every run of the period meanwhile.

The unit tests judge files directly; the last test puts real files in a real KONGCHUO_HOME and runs the real
monthly job (reports read back with calamine)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from kongchuo import delivery, idnumber
from tests.bad_inputs import REGISTRY_HEADER, csv_bytes

BORN = dt.date(2013, 4, 5)
REF = delivery.Reference(frozenset({"2410030001", "2410030002"}), frozenset({"411003001", "411003002"}))
HEADERS = {"身份证号": "id_number", "学校标识码": "school_code", "乡镇代码": "township_code"}


def _ids(n: int, first: int = 100) -> list[str]:
    return [idnumber.make_id("411003", BORN, first + i) for i in range(n)]


def _bad(good: str) -> str:
    return good[:17] + ("0" if good[17] != "0" else "1")  # wrong check digit


def _frame(ids: list[str | None], school: str = "2410030001", township: str | None = None,
           sheet: str | None = None) -> pd.DataFrame:
    return pd.DataFrame({"row_no": range(2, len(ids) + 2), "sheet": [sheet] * len(ids), "id_number": ids,
                         "school_code": [school] * len(ids), "township_code": [township] * len(ids)})


@pytest.mark.fast
def test_dq01_over_five_percent_is_an_error_for_the_file_at_five_percent_it_is_not() -> None:
    ids = _ids(40)
    two = [*ids[:38], _bad(ids[38]), _bad(ids[39])]  # 2 of 40 = 5 %: a warning (listed by the check), not a file error
    assert delivery.file_problem("registry", "a.csv", [_frame(two)], HEADERS, REF) is None
    three = [_bad(ids[0]), *two[1:]]  # 3 of 40 = 7.5 %
    # in two chunks: the share is the file's, not a chunk's
    text = delivery.file_problem("registry", "学籍.csv", [_frame(three[:20]), _frame(three[20:]).assign(
        row_no=range(22, 42))], HEADERS, REF)
    assert text is not None and text.startswith("学籍.csv: DQ01")
    assert "3 个，共 40 个" in text and "列「身份证号」第2行、第40行、第41行" in text
    assert delivery.check_ids_in(text) == ["DQ01"] and delivery.scope_codes(text) == ["2410030001"]
    assert not any(i in text for i in ids) and not any(_bad(i) in text for i in ids)  # no ID number, ever
    # blank IDs (a student number only) are not invalid IDs
    assert delivery.file_problem("registry", "b.csv", [_frame([*ids[:10], None, None])], HEADERS, REF) is None


@pytest.mark.fast
def test_dq08_names_every_unknown_code_with_sheet_row_and_column() -> None:
    ids = _ids(4)
    frame = pd.concat([_frame(ids[:2], sheet="初一"), _frame(ids[2:], school="9999999999", township="411003777",
                                                             sheet="初二")], ignore_index=True)
    frame["row_no"] = [3, 4, 3, 4]
    text = delivery.file_problem("registry", "学籍.xlsx", [frame], HEADERS, REF)
    assert text is not None and delivery.check_ids_in(text) == ["DQ08"]
    assert "学校标识码 9999999999 不在参考数据（学校名录 reference/schools.csv）中：列「学校标识码」工作表「初二」第3行、工作表「初二」第4行" in text
    assert "乡镇代码 411003777 不在参考数据（乡镇名录 reference/townships.csv）中：列「乡镇代码」" in text
    assert delivery.scope_codes(text) == ["2410030001"]  # the known school of the file: its figures wait
    # an ID number typed into the school code column is never written out whole
    leak = _frame(ids[:1], school=ids[0])
    assert ids[0] not in (delivery.file_problem("registry", "c.csv", [leak], HEADERS, REF) or "")
    # no reference data: DQ08 cannot be judged
    assert delivery.file_problem("registry", "d.csv", [frame], HEADERS, delivery.Reference()) is None


@pytest.mark.fast
def test_census_files_are_judged_for_dq01_only_and_name_their_townships() -> None:
    ids = _ids(10)
    frame = _frame([_bad(i) for i in ids[:3]] + ids[3:], school=None, township="411003002")  # type: ignore[arg-type]
    text = delivery.file_problem("census", "户籍.csv", [frame], HEADERS, REF)
    assert text is not None and delivery.check_ids_in(text) == ["DQ01"]
    assert delivery.scope_codes(text) == ["411003002"] and "乡镇 411003002" in text
    unknown_town = _frame(ids, school=None, township="411003999")  # type: ignore[arg-type]
    assert delivery.file_problem("census", "户籍2.csv", [unknown_town], HEADERS, REF) is None  # DQ08: registry only
    assert delivery.file_problem("attendance", "考勤.csv", [frame], HEADERS, REF) is None  # event sources: checks only


# --- the real monthly job ------------------------------------------------------------------------------------

def _registry(ids: list[str], school: str) -> bytes:
    return csv_bytes([REGISTRY_HEADER] + [[f"L{school}{n:04d}", i, "学生", "男", BORN.isoformat(), school, "初一", "在读"]
                                          for n, i in enumerate(ids)])


def _sheets(path: Path) -> dict[str, list[list[object]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def _school_row(path: Path, school: str) -> dict[str, object]:
    """The R1 row of ``school`` as {header: value} (the header row is the one holding 在籍学生数)."""
    sheets = _sheets(path)
    rows = sheets[[n for n in sheets if n != "待补全文件"][0]]
    header = next(r for r in rows if "在籍学生数" in r)
    row = next(r for r in rows if school in [str(v) for v in r])
    return dict(zip([str(h) for h in header], row))


def test_a_file_over_five_percent_invalid_ids_is_quarantined_and_the_district_goes_on(
        tmp_path: Path, autumn: Path, monkeypatch: pytest.MonkeyPatch, dagster_instance) -> None:
    """Hand-worked: a new school sends a snapshot of 20 children (1 October); nobody of it has roll call, so the
    20 are SD5 and R1 counts 20 enrolled. Its snapshot of 20 October holds 18 children, 2 IDs with a wrong check
    digit (2/18 = 11 % > 5 %): quarantined, the school stays at its 20 children, every report is a draft naming
    the file and the school, DQ01 is ERROR; so again on a plain re-run. A corrected file (same delivery name,
    更正) with 18 valid IDs makes the final reports with 18."""
    from conftest import use_home
    from run_home import run_home

    from kongchuo.settings import default_warehouse_url
    from warehouse.resource import WarehouseResource

    home = use_home(tmp_path / "home", monkeypatch, copy_of=autumn)
    school, school_name = "2410039911", "建安区文件错误测试学校"
    with open(home / "reference" / "schools.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{school},{school_name},411003001,初中,false\n")
    people = [idnumber.make_id("411003", BORN, 500 + i) for i in range(20)]
    landing = home / "landing" / "registry"
    (landing / f"学籍_{school}_20261001.csv").write_bytes(_registry(people, school))
    period, folder = "2026-10", home / "reports" / "2026-10"
    first = run_home(home, period, dagster_instance)
    assert first.success, first.summary()
    warehouse = WarehouseResource(url=default_warehouse_url(home))

    def current() -> set[str]:
        return set(warehouse.query_df("SELECT id_number FROM staged.registry_current WHERE school_code = :s",
                                      {"s": school})["id_number"])

    assert current() == set(people)
    r1 = folder / "建安区_2026年10月_控辍保学月报.xlsx"
    assert _school_row(r1, school)["在籍学生数"] == 20

    bad_name = f"学籍_{school}_20261020.csv"
    bad_bytes = _registry([_bad(people[0]), _bad(people[1]), *people[2:18]], school)
    (landing / bad_name).write_bytes(bad_bytes)
    for attempt in ("quarantining run", "plain re-run"):
        outcome = run_home(home, period, dagster_instance)
        assert outcome.success, (attempt, outcome.summary())  # the district's run went through
        assert ("staged/registry", "dq01_valid_id_number", "ERROR") in outcome.failed_checks, attempt
        assert "reports/r1_monthly" in outcome.materialized and not outcome.skipped, attempt
        assert current() == set(people), attempt  # the previous snapshot of the school stays in force
        draft = folder / "建安区_2026年10月_控辍保学月报_草稿.xlsx"
        assert draft.exists() and not r1.exists(), attempt
        notice = "\n".join(" ".join(str(v) for v in row) for row in _sheets(draft)["待补全文件"])
        assert bad_name in notice and f"{school_name}（{school}）" in notice and "DQ01" in notice
        assert "第2行、第3行" in notice and not any(p in notice or _bad(p) in notice for p in people)
        assert _school_row(draft, school)["在籍学生数"] == 20
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["complete"] is False and [i["file"] for i in manifest["incomplete_inputs"]] == [bad_name]
        assert manifest["affected_schools"] == [f"{school_name}（{school}）"]
        found = warehouse.query_df("SELECT severity, detail FROM checks.findings WHERE run_id = :r AND "
                                   "check_id = 'DQ01' AND source = 'registry' AND severity = 'error'",
                                   {"r": outcome.run_id})
        assert len(found) == 1 and bad_name in found["detail"].iloc[0], attempt
    files = warehouse.query_df("SELECT status, error FROM raw.files WHERE original_name = :n", {"n": bad_name})
    assert list(files["status"]) == ["quarantined"] and "DQ01" in files["error"].iloc[0]  # ingested once, kept out
    [kept] = [p for p in (home / "quarantine" / "registry").iterdir() if not p.name.endswith(".error.txt")]
    assert kept.read_bytes() == bad_bytes  # the raw copy, unchanged

    (landing / f"学籍_{school}_20261020_更正.csv").write_bytes(_registry(people[2:18] + people[:2], school))
    final = run_home(home, period, dagster_instance)
    assert final.success, final.summary()
    assert not [c for c in final.failed_checks if c[2] == "ERROR"], final.summary()
    assert current() == set(people[:18])
    assert r1.exists() and not any("草稿" in p.name for p in folder.iterdir())
    assert _school_row(r1, school)["在籍学生数"] == 18
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["complete"] is True
    warehouse.dispose()
