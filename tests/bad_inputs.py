"""A corpus of malformed extracts, generated (no committed binaries), for ``tests/test_bad_input.py``.

Every :class:`Case` builds the bytes of one landing file and says what must happen to it:

- ``quarantine``: the file goes to ``quarantine/<source>/`` and its error names the file and contains every
  string of ``where`` (the exact row and column, e.g. ``"row 4, column C"``; a registry or census file with more
  than 5 % invalid IDs is one too, DQ01's error for the file);
- ``dq03``: the file is ingested, the bad values are NULL (raw text kept where the table has a ``*_raw``
  column) and DQ03 lists one finding per ``(row, column label)`` of ``findings``;
- ``dq01``: ingested; DQ01 (ID numbers) lists the rows of ``findings``;
- ``ingest``: ingested as it is (``rows`` rows, data starting at ``first_row``).

Personal data is synthetic (:data:`IDS`, :data:`NAMES`); the test asserts none of it leaks into an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from xml.sax.saxutils import escape

from kongchuo import idnumber
from kongchuo.readers import column_letter

BORN = dt.date(2011, 4, 7)
IDS = [idnumber.make_id("411003", BORN, i) for i in range(101, 121)]
NAMES = ["张小明", "李明", "王小红", "赵四", "欧阳娜娜", "陈一一", "刘晓东", "孙丽", "周杰", "吴芳"] * 2
SCHOOL = "4110030001"

REGISTRY_HEADER = ["全国学籍号", "身份证号", "姓名", "性别", "出生日期", "学校标识码", "年级", "学籍状态"]
ATTENDANCE_HEADER = ["全国学籍号", "学校标识码", "日期", "考勤状态"]
CENSUS_HEADER = ["身份证号码", "姓名", "性别", "出生日期", "乡镇代码", "居住状态"]


def registry_rows(n: int = 3, offset: int = 0) -> list[list[Any]]:
    """Header + ``n`` valid registry rows (people ``offset .. offset+n-1``)."""
    rows: list[list[Any]] = [list(REGISTRY_HEADER)]
    for i in range(offset, offset + n):
        rows.append([f"G{IDS[i]}", IDS[i], NAMES[i], "男" if i % 2 == 0 else "女", BORN.isoformat(), SCHOOL,
                     "初一", "在读"])
    return rows


def attendance_rows(n: int = 3, offset: int = 0, day: str = "2026-05-06") -> list[list[Any]]:
    return [list(ATTENDANCE_HEADER)] + [[f"G{IDS[i]}", SCHOOL, day, "出勤"] for i in range(offset, offset + n)]


def census_rows(n: int = 3, offset: int = 0) -> list[list[Any]]:
    return [list(CENSUS_HEADER)] + [[IDS[i], NAMES[i], "男" if i % 2 == 0 else "女", BORN.isoformat(), "411003001",
                                     "在户"] for i in range(offset, offset + n)]


ONE_ROW = {
    "registry": lambda: registry_rows(1, 10),
    "attendance": lambda: attendance_rows(1, 10),
    "census": lambda: census_rows(1, 10),
    "casework": lambda: [["身份证件号", "劝返日期", "劝返方式", "劝返结果"], [IDS[10], "2026-05-07", "上门", "未返校"]],
    "exemptions": lambda: [["身份证件号", "类型", "批准日期", "有效期至"], [IDS[10], "休学", "2026-03-01", "2026-08-31"]],
    "home_teaching": lambda: [["身份证件号", "送教日期", "课时"], [IDS[10], "2026-05-08", "3"]],
}


# --- writers ------------------------------------------------------------------------------------------

def csv_bytes(rows: Sequence[Sequence[Any]], encoding: str = "utf-8", delimiter: str = ",",
              newline: str = "\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return buf.getvalue().encode(encoding)


def openpyxl_bytes(rows: Sequence[Sequence[Any]], merges: Sequence[str] = ()) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    for rng in merges:
        sheet.merge_cells(rng)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def raw_xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    """A minimal XLSX written by hand, for cells openpyxl cannot write: a cell is a plain value (str, int,
    float) or a dict ``{"f": formula, "v": cached value or None, "t": "e" for an error value}``."""
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{column_letter(c)}{r}"
            if value is None:
                continue
            if isinstance(value, dict):
                f = f"<f>{escape(value['f'])}</f>" if value.get("f") else ""
                v = value.get("v")
                t = value.get("t")
                if t == "e":
                    cells.append(f'<c r="{ref}" t="e">{f}<v>{escape(str(v))}</v></c>')
                elif isinstance(v, str):
                    cells.append(f'<c r="{ref}" t="str">{f}<v>{escape(v)}</v></c>')
                elif v is None:
                    cells.append(f'<c r="{ref}">{f}</c>')
                else:
                    cells.append(f'<c r="{ref}">{f}<v>{v}</v></c>')
            elif isinstance(value, str):
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<sheetData>{"".join(xml_rows)}</sheetData></worksheet>')
    parts = {
        "[Content_Types].xml":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), text.encode("utf-8"))
    return buf.getvalue()


# --- cases --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    source: str
    name: str  # landing file name
    build: Callable[[], bytes]
    expect: str  # quarantine | dq03 | dq01 | ingest
    where: tuple[str, ...] = ()  # quarantine: strings the error must contain (row, column, reason)
    findings: tuple[tuple[int, str], ...] = ()  # dq03: (row, column label); dq01: (row, "")
    rows: int | None = None  # ingest/dq03: rows the file must land
    first_row: int | None = None  # row_no of the first landed row
    what: str = ""  # one line for the report


def _registry_csv(**kw: Any) -> Callable[[], bytes]:
    return lambda: csv_bytes(registry_rows(3), **kw)


def _truncated_mid_row() -> bytes:
    data = csv_bytes(registry_rows(3))
    return data[: data.rindex(BORN.isoformat().encode())]  # cut inside the last row, before 出生日期


def _truncated_in_quotes() -> bytes:
    rows = registry_rows(3)
    rows[3][7] = "在读\n(备注)"  # a quoted multi-line value in the last row...
    data = csv_bytes(rows)
    return data[: data.rindex(b"\n(")]  # ...cut inside the quotes


def _xlsx_truncated() -> bytes:
    data = openpyxl_bytes(registry_rows(3))
    return data[: len(data) // 2]


def _utf16() -> bytes:
    return "\n".join(",".join(r) for r in registry_rows(3)).encode("utf-16")


def _big5_bad() -> bytes:
    """A Big5 (Taiwan/HK) export. Big5 pairs are mostly valid, wrong GB18030 characters; this one holds a
    0x80 byte, which starts no GB18030 character, in row 2's 姓名."""
    rows = registry_rows(3)
    rows[0] = ["全國學籍號", "身份證號", "姓名", "性別", "出生日期", "學校標識碼", "年級", "學籍狀態"]
    for r in rows[1:]:
        r[2], r[7] = "張小明", "在讀"
    data = csv_bytes(rows, encoding="big5").split(b"\n")
    data[1] = data[1].replace("張".encode("big5"), "張".encode("big5") + b"\x80", 1)
    return b"\n".join(data)


def _latin1() -> bytes:
    """A GBK export with one row pasted in from a Latin-1 system. 'José' ends on 0xE9, and 0xE9 followed by
    ',' is no GB18030 character (most Latin-1 text pairs up into valid, wrong GB18030 characters)."""
    rows = registry_rows(3)
    rows[2][2] = "José"
    bad = b",".join(str(v).encode("latin-1" if i == 2 else "gb18030") for i, v in enumerate(rows[2])) + b"\n"
    return csv_bytes(rows[:2], encoding="gb18030") + bad + csv_bytes(rows[3:], encoding="gb18030")


def _missing_required() -> bytes:
    return csv_bytes([r[:4] + r[5:] for r in registry_rows(3)])  # no 出生日期


def _duplicated() -> bytes:
    rows = registry_rows(3)
    rows[0].append("姓名")
    for r in rows[1:]:
        r.append(r[2])
    return csv_bytes(rows)


def _merged_group_header() -> bytes:
    """Two-row header: '基本信息' merged over A1:D1 with its columns in row 2; the other headers merged
    vertically over rows 1-2 (a common export layout)."""
    top = ["基本信息", None, None, None, "出生日期", "学校标识码", "年级", "学籍状态"]
    sub = ["全国学籍号", "身份证号", "姓名", "性别", None, None, None, None]
    body = registry_rows(3)[1:]
    return openpyxl_bytes([top, sub, *body], merges=["A1:D1", "E1:E2", "F1:F2", "G1:G2", "H1:H2"])


def _merged_data_cells() -> bytes:
    rows = registry_rows(3)
    for r in rows[2:]:
        r[5] = None  # the school code merged down over rows 2-4: only row 2 holds it
    return openpyxl_bytes(rows, merges=["F2:F4"])


def _all_null_required() -> bytes:
    rows = registry_rows(3)
    for r in rows[1:]:
        r[4] = ""
    return csv_bytes(rows)


def _impossible_dates() -> bytes:
    rows = registry_rows(3)
    rows[1][4] = "2011-02-30"
    rows[3][4] = "2011-13-05"
    return csv_bytes(rows)


def _impossible_attendance_dates() -> bytes:
    rows = attendance_rows(3)
    rows[2][2] = "2026-02-30"
    rows[3][2] = "2026/13/1"
    return csv_bytes(rows)


def _wrong_length_ids() -> bytes:
    rows = registry_rows(3)
    rows[1][1] = IDS[0][:17]
    rows[3][1] = IDS[2] + "1"
    return csv_bytes(rows)


def _one_invalid_id_in_twenty() -> bytes:
    rows = registry_rows(20)
    rows[5][1] = IDS[4][:17]
    return csv_bytes(rows)


def _formulas(cached: bool) -> Callable[[], bytes]:
    def build() -> bytes:
        rows: list[list[Any]] = registry_rows(3)
        for r in rows[1:]:
            r[4] = {"f": "DATE(2011,4,7)", "v": 40640 if cached else None}
            r[6] = {"f": '"初"&"一"', "v": "初一" if cached else None}
        return raw_xlsx_bytes(rows)
    return build


def _error_values_xlsx() -> bytes:
    rows: list[list[Any]] = registry_rows(3)
    rows[1][4] = {"f": "VLOOKUP(A2,Sheet2!A:B,2,0)", "v": "#N/A", "t": "e"}
    rows[2][6] = {"f": "#REF!+1", "v": "#REF!", "t": "e"}
    rows[3][2] = {"f": "1/0", "v": "#DIV/0!", "t": "e"}
    return raw_xlsx_bytes(rows)


def _error_values_csv() -> bytes:
    rows = registry_rows(3)
    rows[1][4] = "#N/A"
    rows[2][7] = "#REF!"
    rows[3][2] = "#DIV/0!"
    return csv_bytes(rows)


def _huge_field() -> bytes:
    rows = registry_rows(3)
    rows[2][2] = "长" * (10 << 20)  # a 10-million-character 姓名 (30 MB as UTF-8)
    return csv_bytes(rows)


def _huge_field_head() -> bytes:
    rows = registry_rows(3)
    rows[1][7] = "x" * (200 << 10)  # larger than the csv module's field limit, within the header scan
    return csv_bytes(rows)


def _mixed_encodings() -> bytes:
    rows = registry_rows(3)
    return csv_bytes(rows[:3]) + csv_bytes(rows[3:], encoding="gbk")  # row 4 saved as GBK


def _bom_in_middle() -> bytes:
    first = csv_bytes(registry_rows(2), encoding="utf-8-sig")
    second = csv_bytes(registry_rows(1, 5), encoding="utf-8-sig")  # a second export appended: BOM + header
    return first + second


def _nul_bytes() -> bytes:
    data = csv_bytes(registry_rows(3))
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(NAMES[1].encode(), NAMES[1].encode() + b"\x00\x00")
    return b"\n".join(lines)


def _unbalanced_quote() -> bytes:
    data = csv_bytes(registry_rows(3)).split(b"\n")
    cells = data[2].split(b",")
    cells[2] = b'"' + cells[2]  # opens a quote in 姓名 that is never closed
    data[2] = b",".join(cells)
    return b"\n".join(data)


def _extra_fields() -> bytes:
    rows = registry_rows(3)
    rows[2] += ["多余", "列"]
    return csv_bytes(rows)


def _header_on_row_5() -> bytes:
    rows = registry_rows(3)
    rows[2][3] = "未知"  # a bad gender on file row 7
    return b"\n\n,,,\n\n" + csv_bytes(rows)


def _title_only_xlsx() -> bytes:
    return openpyxl_bytes([["建安区2026年5月学籍名册"]])


def _html_as(ext: str) -> Callable[[], bytes]:
    def build() -> bytes:
        cells = "".join(f"<td>{h}</td>" for h in REGISTRY_HEADER)
        return (f'<html><head><meta charset="utf-8"></head><body><table><tr>{cells}</tr>'
                f"</table></body></html>").encode("utf-8")
    return build


def _encrypted_xlsx() -> bytes:
    # An encrypted OOXML package is an OLE2 compound file (EncryptionInfo + EncryptedPackage streams).
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff" + b"\x00" * 490


def _csv_named_xlsx() -> bytes:
    return csv_bytes(registry_rows(3))


def _semicolon() -> bytes:
    return csv_bytes(registry_rows(3), delimiter=";")


def _bad_codes() -> bytes:
    rows = census_rows(3)
    rows[1][2] = "未知"  # gender
    rows[3][5] = "失踪"  # residence status
    return csv_bytes(rows, encoding="gbk")


def _far_cell_xlsx() -> bytes:
    rows: list[list[Any]] = registry_rows(3)
    body = raw_xlsx_bytes(rows)
    # one stray value in the last cell of the sheet (XFD1048576): a dense reader would allocate 17e9 cells
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace("</sheetData>", '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


Q, D3, D1, OK = "quarantine", "dq03", "dq01", "ingest"

CASES: list[Case] = [
    Case("truncated_csv_mid_row", "registry", "bad.csv", _truncated_mid_row, D3, rows=3,
         findings=((4, "出生日期"), (4, "学校标识码"), (4, "年级"), (4, "学籍状态")),
         what="CSV cut inside the last row: the row lands with the cut-off cells NULL"),
    Case("truncated_csv_in_quotes", "registry", "bad.csv", _truncated_in_quotes, Q, where=("row 4, column H",),
         what="CSV cut inside a quoted value (EOF inside string)"),
    Case("truncated_xlsx_zip", "registry", "bad.xlsx", _xlsx_truncated, Q, where=("row 1, column A", "XLSX"),
         what="XLSX zip cut in half"),
    Case("utf16", "registry", "bad.csv", _utf16, Q, where=("row 1, column A", "UTF-16"),
         what="CSV saved as UTF-16 ('Unicode text')"),
    Case("big5_not_gb18030", "registry", "bad.csv", _big5_bad, Q, where=("row 2, column C", "GB18030"),
         what="Big5 bytes with a byte no GB18030 character starts with"),
    Case("latin1_garbage", "registry", "bad.csv", _latin1, Q, where=("row 3, column C ('姓名')",),
         what="a Latin-1 row inside a GBK file"),
    Case("missing_required_column", "registry", "bad.csv", _missing_required, Q,
         where=("bad.csv：第 1 行（表头），A–G 列：缺少必填列：出生日期（birth_date）；找到的表头：「全国学籍号」",),
         what="no 出生日期 column"),
    Case("duplicated_column", "registry", "bad.csv", _duplicated, Q,
         where=("row 1 (header), columns C and I", "'name'"), what="姓名 twice"),
    Case("merged_group_header_xlsx", "registry", "bad.xlsx", _merged_group_header, OK, rows=3, first_row=3,
         what="two-row header with merged cells (基本信息 over A1:D1, others merged down)"),
    Case("merged_data_cells_xlsx", "registry", "bad.xlsx", _merged_data_cells, D3, rows=3,
         findings=((3, "学校标识码"), (4, "学校标识码")),
         what="学校标识码 merged down over three rows: only the first holds it"),
    Case("empty_csv", "registry", "bad.csv", lambda: b"", Q, where=("row 1, column A", "empty"),
         what="0-byte CSV"),
    Case("empty_xlsx", "registry", "bad.xlsx", lambda: b"", Q, where=("row 1, column A", "empty"),
         what="0-byte XLSX"),
    Case("header_only", "registry", "bad.csv", lambda: csv_bytes(registry_rows(0)), OK, rows=0,
         what="header and no rows: an empty extract lands as 0 rows"),
    Case("all_null_required", "registry", "bad.csv", _all_null_required, D3, rows=3,
         findings=((2, "出生日期"), (3, "出生日期"), (4, "出生日期")), what="出生日期 empty in every row"),
    Case("impossible_dates", "registry", "bad.csv", _impossible_dates, D3, rows=3,
         findings=((2, "出生日期"), (4, "出生日期")), what="2011-02-30 and month 13"),
    Case("impossible_attendance_dates", "attendance", "bad.csv", _impossible_attendance_dates, D3, rows=3,
         findings=((3, "日期"), (4, "日期")), what="roll-call dates 2026-02-30 and 2026/13/1"),
    Case("id_wrong_length", "registry", "bad.csv", _wrong_length_ids, Q, where=("DQ01", "第2行、第4行", "身份证号"),
         what="17- and 19-character ID numbers: 2 of 3 invalid, over DQ01's 5 % for a file"),
    Case("id_one_in_twenty", "registry", "bad.csv", _one_invalid_id_in_twenty, D1, rows=20, findings=((6, ""),),
         what="one 17-character ID of 20 (5 %: DQ01 lists it, the file lands)"),
    Case("formulas_cached_xlsx", "registry", "bad.xlsx", _formulas(True), OK, rows=3, first_row=2,
         what="formula cells with cached values: the cached values land"),
    Case("formulas_uncached_xlsx", "registry", "bad.xlsx", _formulas(False), D3, rows=3,
         findings=tuple((r, c) for r in (2, 3, 4) for c in ("出生日期", "年级")),
         what="formula cells never calculated (no cached value)"),
    Case("excel_errors_xlsx", "registry", "bad.xlsx", _error_values_xlsx, D3, rows=3,
         findings=((2, "出生日期"), (3, "年级"), (4, "姓名")), what="#N/A, #REF!, #DIV/0! error cells"),
    Case("excel_errors_csv", "registry", "bad.csv", _error_values_csv, D3, rows=3,
         findings=((2, "出生日期"), (3, "学籍状态"), (4, "姓名")), what="#N/A, #REF!, #DIV/0! as text in a CSV"),
    Case("huge_field", "registry", "bad.csv", _huge_field, Q, where=("row 3, column C ('姓名')", "32,767"),
         what="a 10-million-character cell"),
    Case("huge_field_in_header_scan", "registry", "bad.csv", _huge_field_head, Q,
         where=("row 2, column H ('学籍状态')", "32,767"), what="a 200 KB cell within the first rows"),
    Case("mixed_encodings", "registry", "bad.csv", _mixed_encodings, Q, where=("row 4, column C ('姓名')", "UTF-8"),
         what="a GBK line inside a UTF-8 file"),
    Case("bom_in_middle", "registry", "bad.csv", _bom_in_middle, Q, where=("row 4, column A", "byte-order mark"),
         what="two UTF-8-BOM exports concatenated"),
    Case("nul_bytes", "registry", "bad.csv", _nul_bytes, Q, where=("row 3, column C ('姓名')", "NUL"),
         what="NUL bytes inside a cell"),
    Case("unbalanced_quote", "registry", "bad.csv", _unbalanced_quote, Q, where=("row 3, column C ('姓名')", "quote"),
         what="a quote opened and never closed"),
    Case("extra_fields", "registry", "bad.csv", _extra_fields, Q, where=("row 3, column J", "10 fields"),
         what="a data row with two more fields than the header"),
    Case("tab_delimited", "registry", "bad.csv", _registry_csv(delimiter="\t"), OK, rows=3, first_row=2,
         what="tab-separated"),
    Case("semicolon_delimited", "registry", "bad.csv", _semicolon, OK, rows=3, first_row=2,
         what="semicolon-separated"),
    Case("crlf_gbk", "census", "bad.csv", lambda: csv_bytes(census_rows(3), encoding="gbk", newline="\r\n"), OK,
         rows=3, first_row=2, what="GBK with CRLF line ends"),
    Case("html_as_xls", "registry", "bad.xls", _html_as("xls"), Q, where=("row 1, column A", "HTML"),
         what="an HTML table saved as .xls"),
    Case("html_as_xlsx", "registry", "bad.xlsx", _html_as("xlsx"), Q, where=("row 1, column A", "HTML"),
         what="an HTML table saved as .xlsx"),
    Case("encrypted_xlsx", "registry", "bad.xlsx", _encrypted_xlsx, Q, where=("row 1, column A", "password"),
         what="a password-protected workbook (OLE2 container)"),
    Case("csv_named_xlsx", "registry", "bad.xlsx", _csv_named_xlsx, Q, where=("row 1, column A", "not a zip"),
         what="a CSV renamed to .xlsx"),
    Case("title_only_xlsx", "registry", "bad.xlsx", _title_only_xlsx, Q,
         where=("bad.xlsx 工作表「Sheet」：第 1 行（未找到表头", "），A 列：缺少必填列：姓名（name）、性别（gender）"),
         what="a sheet with only a title"),
    Case("header_on_row_5", "registry", "bad.csv", _header_on_row_5, D3, rows=3, first_row=6,
         findings=((7, "性别"),), what="four blank rows above the header; a bad value on row 7"),
    Case("bad_codes_census", "census", "bad.csv", _bad_codes, D3, rows=3,
         findings=((2, "性别"), (4, "居住状态")), what="gender 未知 and residence 失踪"),
    Case("far_stray_cell_xlsx", "registry", "bad.xlsx", _far_cell_xlsx, Q, where=("row 1048576, column XFD",),
         what="a stray value in cell XFD1048576"),
    Case("txt_extension", "attendance", "bad.txt", lambda: csv_bytes(attendance_rows(3)), Q,
         where=("row 1, column A", "'.txt'"), what="unsupported extension .txt"),
    Case("json_extension", "census", "bad.json", lambda: b'[{"id": 1}]', Q, where=("row 1, column A", "'.json'"),
         what="unsupported extension .json"),
    *[Case(f"one_row_{s}", s, "bad.csv" if s != "home_teaching" else "bad.xlsx",
           (lambda s=s: csv_bytes(ONE_ROW[s]())) if s != "home_teaching" else (lambda s=s: openpyxl_bytes(ONE_ROW[s]())),
           OK, rows=1, first_row=2, what=f"a one-row {s} file")
      for s in ONE_ROW],
]

assert len({c.id for c in CASES}) == len(CASES)
