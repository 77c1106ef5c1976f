"""Every report of a district run prints as it should: LibreOffice renders each workbook to PDF, and, computed
from the file itself (column widths, row heights, merged ranges and alignment read back with openpyxl, not the
writer), no header or text cell needs more room than its column width × the lines its row height holds.

Text width is estimated as a clerk's printer would see it: a CJK character (East Asian wide or full-width)
takes 2 column units, anything else 1; a cell holds ``width - 1`` units a line; a line of 10-point text takes
13.5 points of row height (22 for the 16-point title)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from district_run import MONTHS, QUARTER, district_run
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

MONTH = MONTHS[-1]
DEFAULT_WIDTH, DEFAULT_HEIGHT = 8.43, 15.0


@pytest.fixture(scope="module")
def run():
    return district_run()


def _report_files(run) -> list[Path]:
    files = sorted(run.reports(MONTH).glob("*.xlsx")) + sorted(run.reports(QUARTER).glob("*.xlsx"))
    assert {kind for kind in ("月报", "统计表", "一生一表", "上报名单", "整改清单", "送教上门情况表")
            if any(kind in p.name for p in files)} == {"月报", "统计表", "一生一表", "上报名单", "整改清单",
                                                      "送教上门情况表"}
    return files


def _units(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _lines(text: str, width: float) -> int:
    usable = max(1.0, width - 1)
    return sum(max(1, math.ceil(_units(part) / usable)) for part in text.split("\n"))


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


def _overflows(ws) -> list[str]:
    """Cells (by reference; never their text: reports hold names and IDs) whose text does not fit."""
    width = {c: (d.width if d.customWidth else DEFAULT_WIDTH) for c, d in ws.column_dimensions.items()}
    height = {r: d.height for r, d in ws.row_dimensions.items() if d.height}
    spans = {(m.min_row, m.min_col): m for m in ws.merged_cells.ranges}
    inside = {(r, c) for m in ws.merged_cells.ranges for r in range(m.min_row, m.max_row + 1)
              for c in range(m.min_col, m.max_col + 1) if (r, c) != (m.min_row, m.min_col)}
    bad = []
    for row in ws.iter_rows():
        for cell in row:
            if cell.value in (None, "") or (cell.row, cell.column) in inside:
                continue
            m = spans.get((cell.row, cell.column))
            rows = range(cell.row, (m.max_row if m else cell.row) + 1)
            cols = range(cell.column, (m.max_col if m else cell.column) + 1)
            w = sum(width.get(get_column_letter(c), DEFAULT_WIDTH) for c in cols)
            h = sum(height.get(r, DEFAULT_HEIGHT) for r in rows)
            line = 22.0 if (cell.font.sz or 11) > 12 else 13.5
            fit = max(1, math.floor((h - 1.5) / line))
            text = _shown(cell.value)
            if cell.alignment.wrap_text:
                if _lines(text, w) > fit:
                    bad.append(f"{ws.title}!{cell.coordinate} needs {_lines(text, w)} lines, row holds {fit}")
            elif _units(text) > w - 1:
                bad.append(f"{ws.title}!{cell.coordinate} is {_units(text)} units wide, column {w:g}")
    return bad


def _totals_row(ws) -> int | None:
    return next((c.row for c in ws["A"] if c.value == "合计"), None)


def test_every_report_fits_its_cells_and_page_setup(run):
    files = _report_files(run)
    checked_sheets, problems = 0, []
    for path in files:
        book = load_workbook(path)
        for ws in book.worksheets:
            checked_sheets += 1
            problems += [f"{path.name}: {p}" for p in _overflows(ws)]
            assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, (path.name, ws.title)
            assert ws.print_title_rows, (path.name, ws.title)  # header rows repeat on every page
            # no page ends right above 合计 or the footer lines: the last data row goes with them
            totals = _totals_row(ws)
            if totals:
                assert [b.id for b in ws.row_breaks.brk if b.id >= totals - 1] == [], (path.name, ws.title)
    assert checked_sheets > len(files)
    [r1] = [p for p in files if p.name.endswith("_控辍保学月报.xlsx")]
    assert load_workbook(r1).worksheets[0].row_breaks.brk  # R1 runs over several pages: the breaks are set
    assert problems == [], problems[:20]


def test_r2_two_level_header_is_merged(run):
    [path] = run.reports(QUARTER).glob("*_控辍保学排查整改工作情况统计表.xlsx")
    ws = load_workbook(path).worksheets[0]
    top = next(c.row for c in ws["A"] if c.value == "乡镇（街道）")
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert f"A{top}:A{top + 1}" in merged  # 乡镇（街道） spans both header rows
    groups = [m for m in ws.merged_cells.ranges if m.min_row == m.max_row == top and m.max_col > m.min_col]
    labels = {ws.cell(row=top, column=m.min_col).value for m in groups}
    assert {"适龄儿童入学情况", "疑似辍学人数", "其中重点群体", "劝返复学人数", "失学及未返校"} <= labels


def test_r1_header_groups_and_legend(run):
    from kongchuo.labels import RULE_NAMES

    [path] = run.reports(MONTH).glob("*_控辍保学月报.xlsx")
    ws = load_workbook(path).worksheets[0]
    top = next(c.row for c in ws["A"] if c.value == "乡镇（街道）")
    groups = {ws.cell(row=top, column=m.min_col).value for m in ws.merged_cells.ranges
              if m.min_row == m.max_row == top and m.max_col > m.min_col}
    assert len(groups) == 4
    text = " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)
    assert "填报单位：建安区教育体育局" in text
    for rule, name in RULE_NAMES.items():  # the 说明 block explains every rule code
        assert f"{rule}（{name}）" in text, rule


def test_r3_contents_page_keeps_totals_with_the_table(tmp_path):
    """A contents page of many cases: page breaks fall between data rows, never right above 合计."""
    from kongchuo.excel import page_breaks, row_heights
    from kongchuo.one_form import county_sheets

    n = 120
    cases = {k: [None] * n for k in (
        "person_key", "state", "attempt_count", "id_number", "student_no", "name", "gender", "birth_date",
        "school_code", "school_name", "grade", "class_name", "status", "township_name", "village",
        "guardian_name", "guardian_phone", "is_poverty_family", "is_left_behind", "is_migrant", "is_disabled",
        "is_in_difficulty")}
    cases.update(person_key=[f"p{i}" for i in range(n)], state=["persuading"] * n, attempt_count=[1] * n,
                 name=["某某"] * n, school_name=["某某镇中心小学"] * n, township_name=["某镇"] * n)
    history = {k: [] for k in ("person_key", "created_for_period", "event_date", "event_type", "from_state",
                               "to_state", "reason", "evidence", "attempt_count", "source", "source_file")}
    seen = set()
    for rows in range(60, n):
        cases_n = {k: v[:rows] for k, v in cases.items()}
        _, sheets = county_sheets("某县", "2026-06", {}, {}, cases_n, history)
        index = next(sheets)
        breaks = page_breaks(index, row_heights(index))
        totals_row = index.first_data_row + len(index.rows)
        assert breaks and all(b < totals_row - 1 for b in breaks), rows
        assert all(b >= index.first_data_row for b in breaks)
        seen.add(len(breaks))
    assert len(seen) >= 2  # the contents page grew over a page boundary


def _pdf_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


@pytest.mark.skipif(not (shutil.which("libreoffice") or shutil.which("soffice")),
                    reason="LibreOffice is not installed (apt-get install -y --no-install-recommends libreoffice-calc)")
def test_every_report_renders_to_pdf(run, tmp_path):
    binary = shutil.which("libreoffice") or shutil.which("soffice")
    for path in _report_files(run):
        proc = subprocess.run(
            [binary, "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--convert-to", "pdf",
             "--outdir", str(tmp_path), str(path)], capture_output=True, text=True, timeout=600)
        pdf = tmp_path / (path.stem + ".pdf")
        assert proc.returncode == 0 and pdf.exists(), (path.name, proc.stderr[-500:])
        sheets = load_workbook(path).worksheets
        assert pdf.read_bytes().startswith(b"%PDF")
        # LibreOffice paginates exactly at our breaks (none of its own could leave 合计 alone on a page)
        assert _pdf_pages(pdf) == sum(len(ws.row_breaks.brk) + 1 for ws in sheets), path.name


def test_overflow_check_sees_text_that_does_not_fit(tmp_path):
    """The computation above finds a long text in a row left at the default height (its column not measured),
    and passes the same sheet once the writer measures that column."""
    from kongchuo.excel import Sheet, write_workbook

    long_text = "学籍转出超过30天仍未被任何学校接收，请核实" * 3
    for measured, expect_bad in (((), True), (None, False)):
        path = tmp_path / f"{expect_bad}.xlsx"
        write_workbook(path, [Sheet(name="s", title="标题", headers=["序号", "说明"], rows=[[1, long_text]],
                                    widths=[6, 20], wrap_columns=measured)])
        assert bool(_overflows(load_workbook(path).worksheets[0])) is expect_bad
