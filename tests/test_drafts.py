"""Drafts instead of wrong reports (issue 13): one quarantined delivery never fails the district's run; every run
of the period (not only the one that quarantined it) builds the reports as drafts — 草稿 in title and file
name, a first sheet listing the file to fix and the schools and townships it affects, ``"complete": false`` in
the manifest — until a valid replacement lands; then the final reports appear by themselves.

A generated district (300 students, March–April 2026) is run through the real monthly job."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import use_home
from python_calamine import CalamineWorkbook
from run_home import run_home

from assets import completeness
from kongchuo.settings import default_warehouse_url
from warehouse.resource import WarehouseResource

PERIOD = "2026-04"
R1 = "控辍保学月报"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("drafts") / "generated"
    generate("411003", 300, 5, dt.date(2026, 3, 2), dt.date(2026, 4, 30), out)
    return out


def _r1(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(f"*_{R1}*.xlsx"))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _sheets(path: Path) -> dict[str, list[list[object]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def test_a_quarantined_delivery_makes_drafts_until_it_is_replaced(tmp_path: Path, generated: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   dagster_instance) -> None:
    home = use_home(tmp_path / "home", monkeypatch, copy_of=generated)
    school = pd.read_csv(home / "reference" / "schools.csv", dtype=str).iloc[0] if (
        home / "reference" / "schools.csv").exists() else None
    code = school["school_code"] if school is not None else "4110031001"
    bad_name = f"学籍_{code}_2026-04.csv"
    (home / "landing" / "registry" / bad_name).write_bytes("姓名,备注\n张三,这不是学籍表\n".encode("utf-8"))
    folder = home / "reports" / PERIOD

    first = run_home(home, PERIOD, dagster_instance)
    assert first.success, first.summary()
    assert _r1(folder) == [f"建安区_2026年04月_{R1}_草稿.xlsx"]
    sheets = _sheets(folder / _r1(folder)[0])
    notice_name, report_name = list(sheets)[:2]
    assert notice_name == "待补全文件"
    notice = "\n".join(" ".join(str(v) for v in row) for row in sheets[notice_name])
    assert "草稿" in notice and bad_name in notice and "registry" in notice
    if school is not None:
        assert f"{school['school_name']}（{code}）" in notice
    assert "【草稿】" in str(sheets[report_name][0][0])
    fix_lists = sorted(p.name for p in folder.glob("*整改*.xlsx"))
    assert fix_lists and all(n.endswith("_草稿.xlsx") for n in fix_lists)  # R5 too
    assert list(_sheets(folder / fix_lists[0]))[0] == "待补全文件"
    manifest = _manifest(folder)
    assert manifest["complete"] is False
    assert [(i["source"], i["file"]) for i in manifest["incomplete_inputs"]] == [("registry", bad_name)]
    assert _portal_status(home) == ("draft", "草稿（待补全）")

    again = run_home(home, PERIOD, dagster_instance)  # a plain re-run still knows
    assert again.success, again.summary()
    assert _r1(folder) == [f"建安区_2026年04月_{R1}_草稿.xlsx"] and _manifest(folder)["complete"] is False
    warehouse = WarehouseResource(url=default_warehouse_url(home))
    assert list(completeness.open_quarantines(warehouse, PERIOD)["file"]) == [bad_name]
    assert list(completeness.open_quarantines(warehouse, "2026-03")["file"]) == []  # named April: not March

    good = sorted((home / "landing" / "registry").glob("学籍_*.csv"))[0]
    corrected = home / "landing" / "registry" / f"学籍_{code}_2026-04_更正.csv"
    corrected.write_bytes(good.read_bytes() + b"\n")  # a valid file, not byte-identical to an earlier one
    final = run_home(home, PERIOD, dagster_instance)
    assert final.success, final.summary()
    assert _r1(folder) == [f"建安区_2026年04月_{R1}.xlsx"]
    assert "待补全文件" not in _sheets(folder / _r1(folder)[0])
    assert _manifest(folder)["complete"] is True and not any("草稿" in p.name for p in folder.iterdir())
    assert _portal_status(home) == ("current", "当前版本")
    warehouse.dispose()


def _portal_status(home: Path) -> tuple[str, str]:
    """How the portal lists the period's R1: 草稿（待补全） while the manifest says the inputs are incomplete."""
    from portal.catalog import Catalogue

    [r1] = [r for r in Catalogue(home / "reports", b"s").scan() if r.kind == "R1" and r.period == PERIOD]
    return r1.status, r1.status_label


def test_delivery_key_ignores_folder_and_correction_marks() -> None:
    key = completeness.delivery_key
    assert key("一中学籍.csv") == key("一中学籍_更正.xlsx") == key("补报/一中学籍（1）.csv") == key("一中学籍 v2.csv")
    assert key("一中学籍.csv") != key("二中学籍.csv")
