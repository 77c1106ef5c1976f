"""Faults and bad input (issue 8): a corpus of malformed extracts (``tests/bad_inputs.py``), one test each.

Every case lands one bad file next to a good file of the same source, on top of a warehouse that already
holds good extracts of every source, and runs :func:`assets.ingest.ingest_source`. Then, whatever the case:

- nothing already ingested is lost or changed (hash of every staged table's earlier rows, ``raw.files``
  rows and every file under ``raw/``, before and after);
- the good file of the same run still lands;
- the raw copy of the bad file is byte-identical to what was delivered;
- no full ID number, student number or name appears in any error text, error note or finding detail.

And what the case says: quarantined with an error naming file, row and column (asserted exactly); or
ingested with the bad values NULL and DQ03 (or DQ01) naming file, row and column of each — the checks' own
SQL/functions are called directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import use_home

from assets.ingest import ingest_source
from checks import rules
from checks.dq import _id_findings
from kongchuo.masking import mask_id
from kongchuo.settings import SOURCES, default_warehouse_url
from tests.bad_inputs import CASES, IDS, NAMES, SCHOOL, Case, attendance_rows, census_rows, csv_bytes, registry_rows
from warehouse.home import KongchuoHome
from warehouse.partitions import period_bounds
from warehouse.resource import WarehouseResource

PERIOD = "2026-05"
RUN_ID = "bad-input-run"


def _good(source: str, offset: int) -> bytes:
    """A valid file of ``source`` about people ``offset``, ``offset + 1``."""
    ids = IDS[offset:offset + 2]
    rows = {
        "registry": lambda: registry_rows(2, offset),
        "attendance": lambda: attendance_rows(2, offset),
        "census": lambda: census_rows(2, offset),
        "casework": lambda: [["身份证件号", "劝返日期", "劝返方式", "劝返结果"]] + [[i, "2026-05-11", "电话", "已返校"] for i in ids],
        "exemptions": lambda: [["身份证件号", "类型", "批准日期", "有效期至"]] + [[i, "延缓入学", "2026-04-01", "2026-08-31"] for i in ids],
        "home_teaching": lambda: [["身份证件号", "送教日期", "课时"]] + [[i, "2026-05-12", "3"] for i in ids],
    }[source]()
    # Registry and census files are snapshots of their school / township (issue 13): the good files hold another
    # scope than the bad ones, so a good file never replaces the bad file's rows before the checks see them.
    other = {"registry": (SCHOOL, "4110030002"), "census": ("411003001", "411003002")}.get(source)
    if other:
        rows = [rows[0]] + [[other[1] if v == other[0] else v for v in row] for row in rows[1:]]
    return csv_bytes(rows)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(home: Path, warehouse) -> dict[str, object]:
    """Every staged table, raw.files and raw/ as hashes (compared before/after the bad file's run)."""
    tables = {}
    for source in SOURCES:
        df = warehouse.query_df(f"SELECT * FROM staged.{source} ORDER BY file_sha, row_no")
        tables[source] = (len(df), _sha(df.to_csv(index=False).encode()), set(df["file_sha"]))
    cols = ("file_sha", "source", "original_name", "raw_path", "size_bytes", "encoding", "row_count", "status",
            "error", "min_date", "max_date", "run_id", "ingested_at")
    files = warehouse.query_df(  # as text: a NULL row_count elsewhere must not turn 3 into 3.0
        "SELECT " + ", ".join(f"coalesce(CAST({c} AS TEXT), '-') AS {c}" for c in cols) + " FROM raw.files ORDER BY file_sha")
    files = {row[0]: _sha(repr(row).encode()) for row in files.itertuples(index=False)}
    raw = {str(p.relative_to(home)): _sha(p.read_bytes()) for p in sorted((home / "raw").rglob("*")) if p.is_file()}
    return {"tables": tables, "files": files, "raw": raw}


@pytest.fixture(scope="module")
def baseline_template(tmp_path_factory) -> Path:
    """A KONGCHUO_HOME whose warehouse already holds a good extract of every source (people 12, 13); built
    once, copied for each case."""
    root = tmp_path_factory.mktemp("baseline") / "home"
    warehouse = WarehouseResource(url=default_warehouse_url(root))
    warehouse.ensure_layout()
    home = KongchuoHome(path=str(root))
    for source in SOURCES:
        (root / "landing" / source).mkdir(parents=True)
        (root / "landing" / source / f"a_baseline_{source}.csv").write_bytes(_good(source, 12))
        assert [o.status for o in ingest_source(home, warehouse, source, run_id="baseline")] == ["ingested"]
    warehouse.dispose()
    return root


@pytest.fixture
def kongchuo_home(baseline_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_home(tmp_path / "home", monkeypatch, copy_of=baseline_template)


@pytest.fixture
def warehouse(kongchuo_home: Path):
    resource = WarehouseResource(url=default_warehouse_url(kongchuo_home))
    yield resource
    resource.dispose()


@pytest.fixture
def baseline(kongchuo_home: Path) -> KongchuoHome:
    return KongchuoHome(path=str(kongchuo_home))


def _personal_values() -> list[str]:
    return [*IDS, *(f"G{i}" for i in IDS), *set(NAMES), "張小明"]


def _assert_no_personal_data(*texts: str) -> None:
    for text in texts:
        for value in _personal_values():
            assert value not in text, f"personal data in an error text: {mask_id(value)}"


def _dq03_findings(warehouse, source: str) -> pd.DataFrame:
    start, end = period_bounds(PERIOD)
    return warehouse.query_df(rules.dq03_sql(source), {"period": PERIOD, "start": start, "end": end,
                                                       "run_id": RUN_ID, "source": source})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, baseline: KongchuoHome, kongchuo_home: Path, warehouse):
    before = _snapshot(kongchuo_home, warehouse)
    data = case.build()
    landing = kongchuo_home / "landing" / case.source
    bad = landing / case.name
    bad.write_bytes(data)
    good_bytes = _good(case.source, 16)
    (landing / "zz_good.csv").write_bytes(good_bytes)

    outcomes = {o.name: o for o in ingest_source(baseline, warehouse, case.source, run_id=RUN_ID)}
    after = _snapshot(kongchuo_home, warehouse)
    sha = _sha(data)
    suffix = Path(case.name).suffix.lower()

    # -- nothing already ingested is lost or changed ---------------------------------------------------
    for source in SOURCES:
        n, _, shas = before["tables"][source]
        old = warehouse.query_df(
            f"SELECT * FROM staged.{source} WHERE file_sha IN ({', '.join(repr(s) for s in shas)}) "
            f"ORDER BY file_sha, row_no")
        assert (len(old), _sha(old.to_csv(index=False).encode())) == before["tables"][source][:2], source
        if source != case.source:
            assert after["tables"][source] == before["tables"][source], source
    assert {k: v for k, v in after["files"].items() if k in before["files"]} == before["files"]
    for path, digest in before["raw"].items():
        assert after["raw"].get(path) == digest, f"raw copy changed or lost: {path}"

    # -- the good file of the same run still lands ------------------------------------------------------
    assert outcomes["zz_good.csv"].status == "ingested" and outcomes["zz_good.csv"].rows == 2
    assert warehouse.scalar(f"SELECT count(*) FROM staged.{case.source} WHERE file_sha = :s",
                            {"s": _sha(good_bytes)}) == 2

    # -- the raw copy is byte-identical -----------------------------------------------------------------
    assert (kongchuo_home / "raw" / case.source / f"{sha}{suffix}").read_bytes() == data
    new_raw = set(after["raw"]) - set(before["raw"])
    assert new_raw == {f"raw/{case.source}/{sha}{suffix}", f"raw/{case.source}/{_sha(good_bytes)}.csv"}

    outcome = outcomes[case.name]
    files_row = warehouse.query_df("SELECT * FROM raw.files WHERE file_sha = :s", {"s": sha})
    assert len(files_row) == 1
    texts: list[str] = []

    if case.expect == "quarantine":
        assert outcome.status == "quarantined", outcome
        error = outcome.error
        # English file-level messages start 'bad.csv: row …'; the Chinese header messages 'bad.csv：第 1 行…' or,
        # in a workbook, 'bad.xlsx 工作表「Sheet」：第 1 行…'
        assert error.startswith((f"{case.name}: ", f"{case.name}：", f"{case.name} 工作表「")), error
        for part in case.where:
            assert part in error, (part, error)
        assert "row ?" not in error and "column ?" not in error
        q = kongchuo_home / "quarantine" / case.source
        note = (q / f"{case.name}.error.txt").read_text(encoding="utf-8")
        assert (q / case.name).read_bytes() == data and note.startswith(error)
        assert not bad.exists()
        assert files_row["status"].iloc[0] == "quarantined" and files_row["error"].iloc[0] == error
        assert warehouse.scalar(f"SELECT count(*) FROM staged.{case.source} WHERE file_sha = :s", {"s": sha}) == 0
        texts += [error, note]
    else:
        assert outcome.status == "ingested", outcome.error
        assert files_row["status"].iloc[0] == "ingested" and files_row["row_count"].iloc[0] == case.rows
        staged = warehouse.query_df(f"SELECT * FROM staged.{case.source} WHERE file_sha = :s ORDER BY row_no",
                                    {"s": sha})
        assert len(staged) == case.rows
        if case.first_row is not None:
            assert staged["row_no"].tolist() == list(range(case.first_row, case.first_row + case.rows))
        assert bad.exists() and bad.read_bytes() == data  # ingested files stay in landing, unchanged

    if case.expect == "dq03":
        found = _dq03_findings(warehouse, case.source)
        found = found[found["file_sha"] == sha]
        # a workbook's findings name the sheet too ('文件 bad.xlsx 工作表「Sheet」 第3行 列「…」')
        if case.name.endswith(".xlsx"):
            assert all(re.search(r" 工作表「Sheet1?」 第", d) for d in found["detail"]), list(found["detail"])
        got = {(int(r), re.sub(r" 工作表「[^」]*」", "", d)) for r, d in zip(found["row_no"], found["detail"])}
        expected_rows = {(row, label) for row, label in case.findings}
        named = {(row, label) for row, label in expected_rows
                 if any(r == row and f"文件 {case.name} 第{row}行 列「{label}」" in d for r, d in got)}
        assert named == expected_rows, sorted(d for _, d in got)
        assert len(found) == len(expected_rows), sorted(d for _, d in got)  # nothing else flagged
        texts += found["detail"].tolist()
    elif case.expect == "dq01":
        start, end = period_bounds(PERIOD)
        f1, _, _ = _id_findings(warehouse, {"period": PERIOD, "start": start, "end": end, "run_id": RUN_ID})
        f1 = f1[f1["file_sha"] == sha]
        assert sorted(f1["row_no"].astype(int)) == sorted(r for r, _ in case.findings)
        texts += f1["detail"].tolist()
    elif case.expect == "ingest" and case.source in rules.CURRENT:
        found = _dq03_findings(warehouse, case.source)
        assert not (found["file_sha"] == sha).any(), found["detail"].tolist()

    _assert_no_personal_data(*texts)


def test_corpus_is_broad():
    """The issue asks for at least 30 malformed inputs covering every kind of outcome."""
    assert len(CASES) >= 30
    assert {c.expect for c in CASES} == {"quarantine", "dq03", "dq01", "ingest"}
    assert {c.source for c in CASES} == set(SOURCES)


def test_merged_header_lands_every_column(baseline, kongchuo_home, warehouse):
    """A two-row merged header loses no column: the sub-header names under 基本信息 are read."""
    case = next(c for c in CASES if c.id == "merged_group_header_xlsx")
    data = case.build()
    (kongchuo_home / "landing" / "registry" / case.name).write_bytes(data)
    ingest_source(baseline, warehouse, "registry", run_id=RUN_ID)
    df = warehouse.query_df("SELECT * FROM staged.registry WHERE file_sha = :s ORDER BY row_no", {"s": _sha(data)})
    assert df["row_no"].tolist() == [3, 4, 5]
    assert df["id_number"].tolist() == IDS[:3], "ID numbers under the merged group header were not read"
    assert df["student_no"].tolist() == [f"G{i}" for i in IDS[:3]], "student numbers were not read"
    assert df["name"].tolist() == NAMES[:3], "names were not read"
    assert df["gender"].tolist() == ["M", "F", "M"]
    assert (df["birth_date"] == dt.date(2011, 4, 7)).all() and (df["grade"] == 7).all()
