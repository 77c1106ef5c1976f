"""Attendance CSV read by DuckDB's own reader (kongchuo.fastcsv, warehouse.csv_load; issue 16) loads exactly what
the pandas path loads: every staged column in row order, raw.files, skipped lines, row errors. Files whose shape
the two readers could see differently go the pandas path, with its messages.

Each case runs the same landing files through ``ingest_source`` twice, ``fast_csv=False`` (the pandas path, as
before issue 16) and ``fast_csv=True``, and compares; the log says which files the fast path left to pandas."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from assets.ingest import ingest_source
from kongchuo import fastcsv
from kongchuo.fastcsv import PY_SPACE, plan_csv
from kongchuo.generate.core import generate
from kongchuo.readers import ID_AS_NUMBER
from kongchuo.sources import SPECS
from warehouse.home import KongchuoHome
from warehouse.layout import staged_columns
from warehouse.resource import WarehouseResource

HEADER = "身份证号,学校标识码,日期,考勤状态"
FILES_COLUMNS = "file_sha, source, original_name, encoding, row_count, status, error, min_date, max_date, header_map"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    warning = error = info

    def fell_back(self) -> list[str]:
        return [m.split(": ")[1] for m in self.lines if "read by the pandas path" in m]


def _run(landing: Path, root: Path, source: str, fast: bool, chunk_rows: int | None = None) -> dict:
    shutil.copytree(landing, root / "landing" / source)
    home = KongchuoHome(path=str(root))
    warehouse = WarehouseResource(url=f"duckdb:///{root / 'warehouse.duckdb'}")
    log = Log()
    extra = {"chunk_rows": chunk_rows} if chunk_rows else {}
    outcomes = ingest_source(home, warehouse, source, workers=1, fast_csv=fast, log=log, **extra)
    staged = warehouse.query_df(f"SELECT {', '.join(staged_columns(source))} FROM staged.{source} "
                                f"ORDER BY file_sha, row_no")
    files = warehouse.query_df(f"SELECT {FILES_COLUMNS} FROM raw.files WHERE source = :s ORDER BY file_sha",
                               {"s": source})
    # ingested_at is the time of the run; ORDER BY ALL: a month grid's rows share their row number
    current = (warehouse.query_df(f"SELECT * EXCLUDE (ingested_at) FROM staged.{source}_current ORDER BY ALL")
               if source in ("attendance", "registry", "census") else None)
    warehouse.dispose()
    return {"staged": staged, "files": files, "current": current, "log": log,
            "outcomes": [(o.name, o.status, o.rows, o.error, o.skipped_rows, o.ignored_columns) for o in outcomes]}


def both(tmp_path: Path, files: dict[str, bytes], source: str = "attendance", chunk_rows: int | None = None
         ) -> tuple[dict, dict]:
    landing = tmp_path / "files"
    landing.mkdir(parents=True)
    for name, data in files.items():
        (landing / name).write_bytes(data)
    pandas_path = _run(landing, tmp_path / "pandas", source, False, chunk_rows)
    fast_path = _run(landing, tmp_path / "fast", source, True, chunk_rows)
    assert fast_path["outcomes"] == pandas_path["outcomes"]
    pd.testing.assert_frame_equal(fast_path["staged"], pandas_path["staged"])
    pd.testing.assert_frame_equal(fast_path["files"], pandas_path["files"])
    if pandas_path["current"] is not None:
        pd.testing.assert_frame_equal(fast_path["current"], pandas_path["current"])
    assert pandas_path["log"].fell_back() == []
    return pandas_path, fast_path


def test_generated_district_with_real_shapes_loads_the_same_rows(tmp_path: Path) -> None:
    """The generator's attendance files (UTF-8, BOM, GBK; 是否请假/请假类型 columns; real shapes) through both paths."""
    for share in (0.0, 1.0):
        out = tmp_path / f"gen{share}"
        generate("411003", 600, 7, dt.date(2026, 5, 1), dt.date(2026, 5, 31), out, real_shapes=share)
        csvs = sorted((out / "landing" / "attendance").glob("*.csv"))
        assert csvs, "the generator writes attendance CSV files"
        files = {p.name: p.read_bytes() for p in (out / "landing" / "attendance").iterdir()}
        pandas_path, fast_path = both(out / "cmp", files)
        assert fast_path["log"].fell_back() == []  # every CSV went the fast path
        assert len(fast_path["staged"]) == sum(o[2] for o in fast_path["outcomes"]) > 0


@pytest.mark.parametrize("source", ["registry", "census", "casework", "exemptions", "home_teaching"])
def test_other_sources_load_the_same_rows_through_the_fast_path(tmp_path: Path, monkeypatch, source: str) -> None:
    """Only attendance takes the fast path in production (FAST_SOURCES); the others give the same rows through it."""
    monkeypatch.setattr(fastcsv, "FAST_SOURCES", tuple(SPECS))
    out = tmp_path / "gen"
    generate("411003", 400, 7, dt.date(2026, 5, 1), dt.date(2026, 5, 31), out, real_shapes=0.5)
    files = {p.name: p.read_bytes() for p in (out / "landing" / source).iterdir()}
    _, fast = both(out / "cmp", files, source)
    taken = [n for n in files if n.endswith(".csv") and n not in fast["log"].fell_back()]
    assert taken or not any(n.endswith(".csv") for n in files)


def _csv(lines: list[str], encoding: str = "utf-8", newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode(encoding)


ROWS = [f"41100320140226183{i % 10},2410030069,2026-05-0{1 + i % 5},{'出勤' if i % 3 else '病假'}" for i in range(12)]


@pytest.mark.parametrize("encoding, newline", [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("gb18030", "\r"),
                                               ("gb18030", "\r\n")])
def test_encodings_and_line_endings(tmp_path: Path, encoding: str, newline: str) -> None:
    _, fast = both(tmp_path, {"考勤.csv": _csv([HEADER, *ROWS], encoding, newline)})
    assert fast["log"].fell_back() == []
    assert fast["files"]["encoding"].tolist() == [encoding]


def test_titles_totals_notes_blanks_and_odd_values(tmp_path: Path) -> None:
    """Title lines above the header, a 合计 line, a 填表人 line, an all-empty row, whitespace-only and full-width
    cells, a full-width ID (a key: never a note line), a quoted line break, unknown codes and bad dates."""
    lines = [
        "2026年5月考勤汇总,,,",
        "填报单位：某某学校,,,",
        HEADER,
        *ROWS[:4],
        "４１１００３２０１４０２２６１８３４,2410030069,2026/5/6,事假",
        " 411003201402261834 ,\u30002410030069,20260507,旷课",
        ",2410030069,2026-05-32,迟到",
        '411003201402261834,2410030069,"2026-05-08",出 勤',
        '"411003201402261834","2410030069","2026-05-\n09","外出"',
        "   ,  ,\u3000,",
        ",,,",
        "合计,,,12",
        "填表人：张三,,,",
        "#N/A,2410030069,45786,present",
    ]
    pandas_path, fast = both(tmp_path, {"考勤.csv": _csv(lines)})
    assert fast["log"].fell_back() == []
    assert fast["outcomes"][0][4] == {"空行": 2, "合计": 1, "填表人": 1}
    assert fast["staged"]["row_no"].tolist()[:2] == [4, 5]  # below two title lines and the header


def test_tab_delimited_and_leave_columns(tmp_path: Path) -> None:
    lines = ["全国学籍号\t学校标识码\t日期\t是否请假\t请假类型\t备注"]
    for i, (leave, kind) in enumerate([("否", ""), ("是", "病假"), ("是", ""), ("Y", "事假"), ("不详", ""), ("", "")]):
        lines.append(f"G41100320140226183{i}\t2410030069\t2026-05-0{i + 1}\t{leave}\t{kind}\t备注{i}")
    _, fast = both(tmp_path, {"考勤.csv": _csv(lines)})
    assert fast["log"].fell_back() == []
    assert fast["outcomes"][0][5] == ["备注"]


def test_ids_stored_as_numbers_are_row_errors(tmp_path: Path) -> None:
    """Scientific notation is always a row error; 18 digits ending in 000 only where most IDs of a chunk are so
    (chunks of 5 records here, title and header counted, as the pandas path chunks the file)."""
    lines = [HEADER, "4.11003E+17,2410030069,2026-05-06,出勤"]
    lines += [f"41100320140226{i:01d}000,2410030069,2026-05-06,出勤" for i in range(4)]  # chunk 0: 4 of 5
    lines += [f"41100320140226183{i},2410030069,2026-05-07,出勤" for i in range(4)]  # chunk 1: 1 of 5 end in 000
    lines += ["411003201402261000,2410030069,2026-05-07,出勤"]
    _, fast = both(tmp_path, {"考勤.csv": _csv(lines)}, chunk_rows=5)
    assert fast["log"].fell_back() == []
    errors = fast["staged"].dropna(subset=["row_error"])
    assert errors["row_no"].tolist() == [2, 3, 4, 5]
    assert errors["row_error"].iloc[0] == f"考勤.csv 第 2 行 A 列（身份证号）：{ID_AS_NUMBER}"
    assert errors["id_number"].isna().all() and errors["id_number_raw"].notna().all()


@pytest.mark.parametrize("lines, reason", [
    ([HEADER, ROWS[0], "", ROWS[1]], "blank line"),
    ([HEADER, ROWS[0], ROWS[1] + ",extra"], "more fields than the header"),
    ([HEADER, ROWS[0], "411003201402261834,2410030069"], "fewer fields"),
    ([HEADER, ROWS[0], '411003201402261834,"2410030069,2026-05-06,出勤'], "unclosed quote"),
    (['"身份证号\n(必填)",学校标识码,日期,考勤状态', ROWS[0]], "a header cell over two lines"),
])
def test_shapes_left_to_the_pandas_path(tmp_path: Path, lines: list[str], reason: str) -> None:
    data = _csv(lines)
    landing = tmp_path / "files"
    landing.mkdir()
    (landing / "考勤.csv").write_bytes(data)
    pandas_path = _run(landing, tmp_path / "pandas", "attendance", False)
    fast = _run(landing, tmp_path / "fast", "attendance", True)
    assert fast["outcomes"] == pandas_path["outcomes"], reason
    pd.testing.assert_frame_equal(fast["staged"], pandas_path["staged"])
    planned = plan_csv(landing / "考勤.csv", SPECS["attendance"], "考勤.csv")
    assert isinstance(planned, str) or fast["log"].fell_back() == ["考勤.csv"], reason


def test_python_whitespace_list_is_complete() -> None:
    assert PY_SPACE == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def test_lone_carriage_return_in_an_lf_file_is_left_to_pandas(tmp_path: Path) -> None:
    path = tmp_path / "考勤.csv"
    path.write_bytes(_csv([HEADER, ROWS[0]]) + ROWS[1].encode() + b"\r" + _csv([ROWS[2]]))
    assert plan_csv(path, SPECS["attendance"], "考勤.csv") == "mixed line endings or blank lines"
