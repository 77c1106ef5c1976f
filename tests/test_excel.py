"""The report writer (kongchuo/excel.py): the streaming writer against the openpyxl reference (every cell value,
sheet name and merged range read back with calamine; the print layout read back with openpyxl), reproducible
bytes, atomic replacement, and a PDF from LibreOffice."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from kongchuo.excel import Sheet, safe_sheet_name, write_workbook, write_workbook_openpyxl

FOOTER = ["填表人：                审核人：                填报日期："]


def _sheets(n: int = 30) -> list[Sheet]:
    """Sheets like the reports': an index with totals, then case sheets; awkward values and sheet names."""
    index = Sheet(
        name="目录", title="建安区2026年06月控辍保学一生一表（在册案件 3 件）", subtitle_lines=["统计期间：2026年06月    单位：人"],
        headers=["序号", "乡镇（街道）", "学校", "姓名", "身份证件号", "当前状态", "劝返次数", "工作表"],
        rows=[[i, "某镇", "某小学", "某*", "411003********123X", "劝返中", i % 4, f"{i:03d}某"] for i in range(1, n + 1)],
        totals=["合计", "", "", n, "", "", "", ""], footer_lines=FOOTER, widths=[6, 14, 30, 10, 22, 18, 9, 14])
    awkward = Sheet(
        name="a/b:c*d?[e]" + "长" * 40, title="特殊值 <&> \"引号\" 'single'",
        subtitle_lines=["  leading and trailing spaces  ", "多行\n第二行", "tab\there"],
        header_rows=[["分组", "", "数值", ""]], headers=["文本", "空", "整数", "小数"],
        rows=[["<tag>&amp;", "", 0, 0.1], ["N/A", None, -7, 1 / 3], ["TRUE", "", 10**12, 12.5],
              [True, False, 3, float("nan")], [dt.date(2026, 6, 30), dt.datetime(2026, 6, 30, 8, 15, 0), 1, 2.0]],
        totals=["合计", None, 10**12 - 4, 15.0], footer_lines=FOOTER)
    plain = [Sheet(name=f"{i:03d}某某", title=f"建安区控辍保学一生一表（某{i}）",
                   subtitle_lines=[f"姓名：某{i}", "乡镇（街道）：某镇", "监护人：某", "当前状态：劝返中"],
                   headers=["序号", "所属期间", "日期", "事项", "原状态", "新状态", "原因/结果", "依据", "劝返次数", "来源",
                            "来源文件(SHA-256)"],
                   rows=[[j, "2026-06", "2026-06-01", "劝返", "疑似辍学", "劝返中", "家访", "依据" * j, j, "casework",
                          "abcdef012345"] for j in range(1, i % 5 + 1)],
                   footer_lines=FOOTER, widths=[6, 10, 12, 16, 16, 16, 30, 36, 9, 12, 16])
             for i in range(1, n + 1)]
    dupes = [Sheet(name="History", title="t", headers=["x"], rows=[[1]]),
             Sheet(name="目录", title="t", headers=["x"], rows=[]),
             Sheet(name="'quoted'", title="t", headers=["a", "b"], rows=[["only one"]])]
    return [index, awkward, *plain, *dupes]


def _values(path: Path) -> dict[str, tuple[list, list]]:
    book = CalamineWorkbook.from_path(str(path))
    out = {}
    for name in book.sheet_names:
        sheet = book.get_sheet_by_name(name)
        out[name] = (sheet.to_python(), sorted(sheet.merged_cell_ranges))
    return out


def test_fast_writer_matches_openpyxl_reference(tmp_path: Path):
    fast, ref = tmp_path / "fast.xlsx", tmp_path / "ref.xlsx"
    write_workbook(fast, iter(_sheets()))
    write_workbook_openpyxl(ref, _sheets())
    got, want = _values(fast), _values(ref)
    assert list(got) == list(want) and len(got) == len(_sheets())
    for name in want:
        assert got[name][0] == want[name][0], name
        assert got[name][1] == want[name][1], name
    names = list(got)
    assert names[0] == "目录" and all(len(n) <= 31 and not set(n) & set("\\/*?:[]") for n in names)
    assert len({n.lower() for n in names}) == len(names)
    # the title, sub-title and footer lines are merged across the table; the awkward sheet's two-level header
    # is merged (分组 over two columns, 数值 over two columns); its values came through as written
    assert want["目录"][1] == [((0, 0), (0, 7)), ((1, 0), (1, 7)), ((34, 0), (34, 7))]
    assert got[names[1]][1] == [((r, 0), (r, 3)) for r in range(4)] + [((4, 0), (4, 1)), ((4, 2), (4, 3)),
                                                                        ((12, 0), (12, 3))]
    awkward = got[names[1]][0]
    assert awkward[1][0] == "  leading and trailing spaces  " and awkward[2][0] == "多行\n第二行"
    assert awkward[5][:2] == ["文本", "空"] and awkward[6][0] == "<tag>&amp;" and awkward[7][0] == "N/A"


def test_fast_writer_keeps_formula_and_error_lookalikes_as_text(tmp_path: Path):
    """openpyxl turns "=..." into a formula and "#N/A" into an error value; free text must stay text."""
    path = tmp_path / "text.xlsx"
    write_workbook(path, [Sheet(name="s", title="t", headers=["a", "b"], rows=[["=1+1", "#N/A"]])])
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("s").to_python()
    assert rows[2] == ["=1+1", "#N/A"]


def test_fast_writer_print_layout_matches_openpyxl(tmp_path: Path):
    from openpyxl import load_workbook

    fast, ref = tmp_path / "fast.xlsx", tmp_path / "ref.xlsx"
    write_workbook(fast, _sheets(60))  # an index of 60 rows: more than a printed page
    write_workbook_openpyxl(ref, _sheets(60))
    books = [load_workbook(fast), load_workbook(ref)]
    index = books[0].worksheets[0]
    assert index.row_breaks.brk and all(b.id < index.max_row - 2 for b in index.row_breaks.brk)

    def layout(ws):
        cells = [ws.cell(row=r, column=1) for r in range(1, ws.max_row + 1)]
        return (ws.title, ws.freeze_panes, ws.print_title_rows, ws.page_setup.orientation, ws.page_setup.paperSize,
                ws.page_setup.fitToWidth, ws.page_setup.fitToHeight, ws.sheet_properties.pageSetUpPr.fitToPage,
                {k: d.width for k, d in ws.column_dimensions.items() if d.customWidth},
                {r: d.height for r, d in ws.row_dimensions.items() if d.height},
                sorted(str(m) for m in ws.merged_cells.ranges), [b.id for b in ws.row_breaks.brk],
                (ws.page_margins.left, ws.page_margins.top),
                [(c.font.name, c.font.b, c.font.sz, c.border.left.style, c.border.bottom.style,
                  c.alignment.horizontal, bool(c.alignment.wrap_text), c.is_date) for c in cells])

    for a, b in zip(*(book.worksheets for book in books), strict=True):
        assert layout(a) == layout(b), a.title


def test_fast_writer_is_reproducible_and_atomic(tmp_path: Path):
    one, two = tmp_path / "one.xlsx", tmp_path / "two.xlsx"
    sha = write_workbook(one, _sheets())
    assert write_workbook(two, (s for s in _sheets())) == sha
    assert one.read_bytes() == two.read_bytes()

    def failing():
        yield from _sheets(2)
        raise RuntimeError("query failed half way")

    with pytest.raises(RuntimeError):
        write_workbook(one, failing())
    assert one.read_bytes() == two.read_bytes()  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial-")] == []
    with pytest.raises(ValueError):
        write_workbook(tmp_path / "empty.xlsx", [])
    assert not (tmp_path / "empty.xlsx").exists()


def test_safe_sheet_name():
    taken: set[str] = set()
    assert safe_sheet_name("a" * 40, taken) == "a" * 31
    assert safe_sheet_name("A" * 40, taken) == "A" * 30 + "1"
    assert safe_sheet_name("x[1]:y", taken) == "x_1__y"
    assert safe_sheet_name("''", taken) == "Sheet"
    assert safe_sheet_name("history", taken) == "history_"


@pytest.mark.skipif(not (shutil.which("libreoffice") or shutil.which("soffice")),
                    reason="LibreOffice is not installed (apt-get install -y --no-install-recommends libreoffice-calc)")
def test_fast_writer_output_converts_to_pdf(tmp_path: Path):
    binary = shutil.which("libreoffice") or shutil.which("soffice")
    path = tmp_path / "fast.xlsx"
    write_workbook(path, _sheets(5))
    proc = subprocess.run(
        [binary, "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(path)], capture_output=True, text=True, timeout=300)
    pdf = tmp_path / "fast.pdf"
    assert proc.returncode == 0 and pdf.exists() and pdf.stat().st_size > 1000, proc.stderr[-500:]
    assert pdf.read_bytes().startswith(b"%PDF")


def _careful_xml(sheet: Sheet, first: bool = False) -> str:
    """sheet_xml as it was: every row rendered by the careful path (each cell checked for characters XML cannot
    hold), no cached rows."""
    import kongchuo.excel as X

    fast, cached = X._row_fast, X._cached_row

    def uncached(r, values, style):
        parts: list[str] = []
        X._row(parts, r, values, style)
        return "".join(parts)

    X._row_fast, X._cached_row = X._row, uncached
    try:
        return X.sheet_xml(sheet, first=first)
    finally:
        X._row_fast, X._cached_row = fast, cached


def test_sheet_xml_fast_path_is_the_careful_rendering():
    """The fast rows (no per-cell check for characters XML cannot hold, one check per sheet), the cached
    header/footer rows and the cached column widths give exactly the careful rendering."""
    from kongchuo.excel import sheet_xml

    tricky = ["\x01控制符", "a\x0bb", "\ufffe", "trailing ", " leading", "\u3000全角空格", "多行\n第二行", "x" * 40000,
              "<&>", "", None, 0, -3, 10**20, 1.5, float("inf"), True, False, dt.date(2026, 5, 3),
              dt.datetime(2026, 5, 3, 8, 0, 0)]
    sheets = [*_sheets(12),
              Sheet(name="ill", title="标题\x02", subtitle_lines=["副\x1f标题"], headers=["h\x00", "b"],
                    rows=[tricky, ["ok", "\x07"]], totals=["合计", 1], footer_lines=["填表人\x03"]),
              Sheet(name="types", title="t", header_rows=[[1, "x"]], headers=[True, "x"], rows=[tricky],
                    footer_lines=["a"]),
              Sheet(name="types2", title="t", header_rows=[[True, "x"]], headers=[1.0, "x"], rows=[[1, 2]],
                    footer_lines=["a"], widths=[10, 10.0]),
              Sheet(name="wide", title="w", headers=[f"c{i}" for i in range(800)], rows=[list(range(800)), ("a",)])]
    for i, sheet in enumerate(sheets):
        assert sheet_xml(sheet, first=i == 0) == _careful_xml(sheet, first=i == 0), sheet.name
    assert "\x01" not in sheet_xml(sheets[-4]) and "控制符" in sheet_xml(sheets[-4])


def test_zip_entries_are_what_writestr_writes(tmp_path: Path):
    """_entry writes an entry directly (header written once) where zipfile.writestr would seek back to fill in
    the sizes: the archive's bytes are the same."""
    import io
    import zipfile

    from kongchuo.excel import _FIXED_TIME, _entry

    def writestr(zf, name, data):
        info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        zf.writestr(info, data.encode("utf-8") if isinstance(data, str) else data, compresslevel=1)

    parts = [("xl/worksheets/sheet1.xml", "<x>一生一表</x>" * 5000), ("empty.xml", ""), ("b.bin", bytes(range(256)) * 9),
             ("docProps/app.xml", b"<Properties/>")]
    archives = []
    for write in (writestr, _entry):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in parts:
                write(zf, name, data)
        archives.append(buf.getvalue())
        path = tmp_path / f"{write.__name__}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:  # and on a file
            for name, data in parts:
                write(zf, name, data)
        archives.append(path.read_bytes())
    assert archives[0] == archives[1] == archives[2] == archives[3]
    with zipfile.ZipFile(io.BytesIO(archives[3])) as zf:
        assert zf.testzip() is None and zf.read("xl/worksheets/sheet1.xml") == parts[0][1].encode("utf-8")


def test_header_merges_and_row_heights():
    """Two-level headers: a label with nothing below spans both rows, a group label spans the empty cells to
    its right; rows grow with their text (a CJK character ≈ 2 column units), short rows keep the default."""
    from kongchuo.excel import DEFAULT_ROW_POINTS, header_merges, lines_needed, row_heights, text_units

    sheet = Sheet(name="s", title="标题", subtitle_lines=["副标题"],
                  header_rows=[["乡镇（街道）", "疑似辍学人数", "", "", "备注"]],
                  headers=["", "小学", "初中", "合计", ""],
                  rows=[["某镇", 1, 2, 3, "短"], ["某镇", 0, 0, 0, "很长的备注" * 6]], widths=[14, 8, 8, 8, 12])
    top = 3
    assert header_merges(sheet) == [(top, 0, top + 1, 0), (top, 1, top, 3), (top, 4, top + 1, 4)]
    assert text_units("学籍") == 4 and text_units("SD1") == 3 and text_units(12345) == 5
    assert lines_needed("很长的备注" * 6, 12) == math.ceil(60 / 11)
    heights = row_heights(sheet)
    first = sheet.first_data_row
    assert first not in heights and heights[first + 1] > 5 * DEFAULT_ROW_POINTS
    assert heights[top] >= DEFAULT_ROW_POINTS and heights[top + 1] >= DEFAULT_ROW_POINTS
