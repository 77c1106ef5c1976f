"""One way to write a print-ready report workbook: title, header, rows, totals, A4 landscape, atomic save.

Print layout (both writers, from the Sheet alone: :func:`merge_ranges`, :func:`row_heights`, :func:`page_breaks`):
title, sub-title and footer lines merged across the table; two-level headers merged (a group label over its
columns, a single label over both rows); every cell wraps its text and each row is as high as its text needs
(a CJK character ≈ 2 column units); fitted to the page width; header rows repeated on every page; manual page
breaks so the totals row and the footer lines never start a page without the last data row.

Files are written to a temporary name in the same folder and renamed into place, so a half-written report
is never visible under its final name. The same sheets give the same bytes (fixed zip times and document
stamps), so a report's SHA-256 in the manifest changes only when its content does.

Two writers for the one :class:`Sheet` layout:

- :func:`write_workbook` (every report uses it) streams the XLSX parts itself: each sheet's XML is built as
  one string from the Sheet and deflated into the archive (assembled in memory: the size of the finished
  file, written in one go), and the workbook parts (sheet list, print titles, content types) are written
  last, so the sheets can come from an iterator and only one sheet's XML is in memory at a time. styles.xml is fixed: the six cell styles a Sheet needs (title, sub-title/footer line,
  header with borders, body with borders, totals with borders; plus date variants) have fixed ids.
- :func:`write_workbook_openpyxl` is the reference: openpyxl write-only mode, the layout as it was written
  before. A test writes the same Sheets with both and compares every cell value and merged range (read back
  with calamine), and LibreOffice converts the fast writer's output to PDF.

Why not openpyxl for everything: R3 (一生一表) has one sheet per open case, so its cost grows with the number of
sheets, and openpyxl's write-only sheet is expensive to start (a temporary file per sheet, an lxml xmlfile
writer, a WriteOnlyCell and style copy per cell), which over the tens of thousands of sheets of a city or a
province adds up to minutes. An ordinary in-memory workbook is slower still. The streaming writer does the
same sheets with none of that per-sheet set-up (numbers in BENCHMARKS.md).

Deliberate differences from openpyxl: every str is written as an inline string (openpyxl turns a string
starting with "=" into a formula and "#N/A" into an error value: a formula-injection risk for free-text
fields such as a case's reason), characters XML cannot hold (C0 controls other than tab and newline) are
dropped instead of failing the whole report, and no theme part is written (fonts are named explicitly).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import math
import numbers
import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

FONT = "宋体"


@dataclass
class Sheet:
    """One worksheet: a title line, optional sub-title lines, a header row, data rows, optional totals row
    and footer lines (填表人/审核人/填报日期)."""

    name: str
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    totals: Sequence[Any] | None = None
    subtitle_lines: Sequence[str] = ()
    footer_lines: Sequence[str] = ()
    widths: Sequence[float] | None = None
    header_rows: Sequence[Sequence[Any]] = field(default_factory=list)  # extra header rows above `headers`
    # Body columns whose text may need several lines (row heights are computed from them); None: every column.
    wrap_columns: Sequence[int] | None = None
    # Sheet-scoped defined names holding a text constant (name → text), e.g. the R5 sheet's school code: a
    # machine-readable label that survives renaming the sheet and does not depend on the heading's wording.
    defined_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def first_data_row(self) -> int:
        """1-based row number of the first data row (readers use it to find the table)."""
        return 2 + len(self.subtitle_lines) + len(self.header_rows) + 1

    @property
    def column_count(self) -> int:
        """Width of the table: the title is merged across it."""
        return max([len(self.headers), len(self.widths or ()), *(len(r) for r in self.header_rows)] or [1])

    def column_widths(self) -> list[float]:
        return list(self.widths or [max(8.0, min(40.0, 2.2 * len(str(h)) + 2)) for h in self.headers])


# ---------------------------------------------------------------------------------------------------------
# Sheet names (both writers)

_NAME_UNSAFE = re.compile(r"[\\/*?:\[\]\x00-\x1f]")


def safe_sheet_name(name: str, taken: set[str]) -> str:
    """An Excel-safe sheet name, unique in ``taken`` (lower-cased names, updated): no ``\\/*?:[]``, no
    leading or trailing apostrophe, at most 31 characters; duplicates (case-insensitive) get 1, 2, ...
    appended as openpyxl does."""
    base = _NAME_UNSAFE.sub("_", str(name)).strip("'")[:31].strip("'") or "Sheet"
    if base.lower() == "history":  # reserved by Excel
        base = f"{base}_"
    title, n = base, 0
    while title.lower() in taken:
        n += 1
        title = f"{base[:31 - len(str(n))]}{n}"
    taken.add(title.lower())
    return title


def column_letter(index: int) -> str:
    """0 → 'A', 25 → 'Z', 26 → 'AA' (how Excel names columns; also used in ingest error messages)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_COLS = [column_letter(i) for i in range(702)]  # A .. ZZ


def _col(i: int) -> str:
    return _COLS[i] if i < len(_COLS) else column_letter(i)


# ---------------------------------------------------------------------------------------------------------
# Print layout (both writers): merged ranges, row heights that fit their text, page breaks.
#
# Widths are Excel's column units (about one Latin digit). A CJK character of the 10-point report font is
# about two units wide: :func:`text_units` counts 2 for a character of three UTF-8 bytes (CJK, full-width
# punctuation), 1 for ASCII. A cell holds ``width - CELL_PADDING`` units on a line.

CELL_PADDING = 1.0
LINE_POINTS = 13.5          # one line of 10-point text
TITLE_LINE_POINTS = 22.0    # one line of the 16-point title
ROW_PADDING = 3.0           # points added to a row of several lines
DEFAULT_ROW_POINTS = 15.0   # rows without a height of their own (sheetFormatPr defaultRowHeight)
# A4 landscape (842 × 595 pt) less the margins below; the estimate keeps a safety margin so the printer's own
# breaks never come before ours.
MARGIN_LR_IN, MARGIN_TB_IN, MARGIN_HF_IN = 0.4, 0.6, 0.3
PRINT_WIDTH_PT = 842 - 2 * 72 * MARGIN_LR_IN
PRINT_HEIGHT_PT = (595 - 2 * 72 * MARGIN_TB_IN) * 0.9


def text_units(value: Any) -> float:
    """Estimated width of one line of text in column units (CJK character ≈ 2, ASCII ≈ 1)."""
    s = value if type(value) is str else _display(value)
    return (len(s.encode("utf-8")) + len(s)) / 2


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def lines_needed(value: Any, width: float) -> int:
    """Lines a wrapped cell of ``width`` units needs for ``value``."""
    if value is None or value == "":
        return 1
    usable = max(1.0, width - CELL_PADDING)
    if type(value) is str:
        if len(value) * 2 <= usable and "\n" not in value:
            return 1  # the common case: short text
        return sum(max(1, math.ceil(text_units(part) / usable)) for part in value.split("\n"))
    return max(1, math.ceil(text_units(value) / usable))


def _height(lines: int, line_points: float = LINE_POINTS) -> float:
    return DEFAULT_ROW_POINTS if lines <= 1 and line_points == LINE_POINTS else lines * line_points + ROW_PADDING


def header_row_numbers(sheet: Sheet) -> range:
    """1-based rows of the table header (extra header rows and the header row)."""
    first = 2 + len(sheet.subtitle_lines)
    return range(first, first + len(sheet.header_rows) + 1)


def _header_grid(sheet: Sheet) -> list[list[Any]]:
    ncols = sheet.column_count
    return [list(r) + [""] * (ncols - len(r)) for r in [*sheet.header_rows, sheet.headers]]


def header_merges(sheet: Sheet) -> list[tuple[int, int, int, int]]:
    """Merged header cells (first row, first column, last row, last column; rows 1-based, columns 0-based).

    Header rows read top-down: a label with empty cells below it spans those rows (乡镇（街道） over both
    rows of a two-level header); a group label followed by empty cells to its right, over labelled columns,
    spans them (疑似辍学人数 over 小学 | 初中 | 合计)."""
    grid = _header_grid(sheet)
    if len(grid) < 2:
        return []
    top = header_row_numbers(sheet).start
    merges = []
    covered: set[tuple[int, int]] = set()
    for i, row in enumerate(grid[:-1]):
        for c, label in enumerate(row):
            if label in ("", None) or (i, c) in covered:
                continue
            below = i
            while below + 1 < len(grid) and grid[below + 1][c] in ("", None):
                below += 1
            right = c
            if below == i:
                while right + 1 < len(row) and row[right + 1] in ("", None) and (i, right + 1) not in covered:
                    right += 1
            if below > i or right > c:
                merges.append((top + i, c, top + below, right))
                covered.update((rr, cc) for rr in range(i, below + 1) for cc in range(c, right + 1))
    return merges


def line_rows(sheet: Sheet) -> list[int]:
    """Rows of the title, the sub-title lines and the footer lines: each is merged across the table."""
    first_footer = sheet.first_data_row + len(sheet.rows) + (1 if sheet.totals is not None else 0)
    return [1, *range(2, 2 + len(sheet.subtitle_lines)),
            *range(first_footer, first_footer + len(sheet.footer_lines))]


def merge_ranges(sheet: Sheet) -> list[tuple[int, int, int, int]]:
    """Every merged range of a sheet: title, sub-title and footer lines across the table, header groups."""
    ncols = sheet.column_count
    lines = [(r, 0, r, ncols - 1) for r in line_rows(sheet)] if ncols > 1 else []
    return [*lines[:1 + len(sheet.subtitle_lines)], *header_merges(sheet), *lines[1 + len(sheet.subtitle_lines):]]


def _ref(r1: int, c1: int, r2: int, c2: int) -> str:
    return f"{_col(c1)}{r1}:{_col(c2)}{r2}"


def row_heights(sheet: Sheet) -> dict[int, float]:
    """Row heights (points) that fit each row's text: title, lines, header rows, and body rows (of the
    ``wrap_columns``) whose text needs more than one line. Rows not listed keep the default height."""
    widths = sheet.column_widths()
    widths += [DEFAULT_COLUMN_WIDTH] * (sheet.column_count - len(widths))
    total_width = sum(widths)
    heights: dict[int, float] = {1: _height(lines_needed(sheet.title, total_width / 1.6), TITLE_LINE_POINTS)}
    for r, line in zip(range(2, 2 + len(sheet.subtitle_lines)), sheet.subtitle_lines):
        heights[r] = _height(lines_needed(line, total_width))
    heights.update(_header_heights(sheet, widths))
    cols = range(len(widths)) if sheet.wrap_columns is None else [c for c in sheet.wrap_columns if c < len(widths)]
    # a str of at most (width - padding) / 2 characters fits one line whatever they are: only longer ones are measured
    limits = [(c, (widths[c] - CELL_PADDING) / 2) for c in cols]
    r = sheet.first_data_row
    for values in sheet.rows:
        n, size = 1, len(values)
        for c, limit in limits:
            if c < size:
                v = values[c]
                if type(v) is str and len(v) <= limit and "\n" not in v:
                    continue
                n = max(n, lines_needed(v, widths[c]))
        if n > 1:
            heights[r] = _height(n)
        r += 1
    if sheet.totals is not None:
        n = max([lines_needed(v, widths[c]) for c, v in enumerate(sheet.totals) if c < len(widths)] or [1])
        if n > 1:
            heights[r] = _height(n)
        r += 1
    for line in sheet.footer_lines:
        heights[r] = _height(lines_needed(line, total_width))
        r += 1
    return heights


_HEADER_CACHE: dict[tuple, list[float]] = {}


def _header_heights(sheet: Sheet, widths: list[float]) -> dict[int, float]:
    """Heights of the header rows (the same for every sheet of a kind: computed once per header and widths)."""
    key = (tuple(sheet.headers), tuple(tuple(r) for r in sheet.header_rows), tuple(widths))
    try:
        hit = _HEADER_CACHE.get(key)
    except TypeError:  # an unhashable header value
        key, hit = None, None
    if hit is None:
        hit = _header_line_heights(sheet, widths)
        if key is not None:
            if len(_HEADER_CACHE) >= 256:
                _HEADER_CACHE.clear()
            _HEADER_CACHE[key] = hit
    return dict(zip(header_row_numbers(sheet), hit))


def _header_line_heights(sheet: Sheet, widths: list[float]) -> list[float]:
    """Each header row's height: each cell's text within its merged width; a label spanning several rows
    may use their lines together (the last row it spans grows when they are too few)."""
    grid = _header_grid(sheet)
    rows = list(header_row_numbers(sheet))
    merges = {(r1, c1): (r2, c2) for r1, c1, r2, c2 in header_merges(sheet)}
    lines = [1] * len(rows)
    spanning = []
    for i, row in enumerate(grid):
        for c, label in enumerate(row):
            if label in ("", None):
                continue
            r2, c2 = merges.get((rows[i], c), (rows[i], c))
            n = lines_needed(label, sum(widths[c:c2 + 1]))
            if r2 == rows[i]:
                lines[i] = max(lines[i], n)
            else:
                spanning.append((i, rows.index(r2), n))
    for i, j, n in spanning:
        have = sum(lines[i:j + 1])
        if n > have:
            lines[j] += n - have
    return [n * LINE_POINTS + ROW_PADDING for n in lines]


def page_breaks(sheet: Sheet, heights: dict[int, float]) -> list[int]:
    """Rows after which a printed page ends (manual breaks), or [] when the sheet fits one page.

    Pages are filled with rows (the header rows repeat on each); a break never leaves the totals row or the
    footer lines (合计, 填表人) alone at the top of a page: it moves up so the last data row goes with them."""
    widths = sheet.column_widths()
    printed_width = sum((w * 7 + 5) * 0.75 for w in widths) or 1.0
    page = PRINT_HEIGHT_PT / min(1.0, PRINT_WIDTH_PT / printed_width)
    top = sheet.first_data_row
    header = sum(heights.get(r, DEFAULT_ROW_POINTS) for r in range(1, top))
    last = top + len(sheet.rows) + (1 if sheet.totals is not None else 0) + len(sheet.footer_lines) - 1
    if header + sum(heights.get(r, DEFAULT_ROW_POINTS) for r in range(top, last + 1)) <= page:
        return []
    glued_from = top + len(sheet.rows)  # totals and footer rows: never the first row of a page
    breaks, used, r = [], header, top
    while r <= last:
        h = heights.get(r, DEFAULT_ROW_POINTS)
        if used + h > page and r > (breaks[-1] + 1 if breaks else top):
            start = r
            if start >= glued_from:
                start = max(glued_from - 1, (breaks[-1] + 2) if breaks else top + 1)
            breaks.append(start - 1)
            used = header + sum(heights.get(x, DEFAULT_ROW_POINTS) for x in range(start, r))
        used += h
        r += 1
    return breaks


DEFAULT_COLUMN_WIDTH = 8.0


# ---------------------------------------------------------------------------------------------------------
# The streaming writer

# Cell styles: fixed xf ids in the fixed styles.xml below. Each has a date and a date-time variant.
TITLE, LINE, HEADER, BODY, TOTAL = 1, 2, 3, 4, 5
_STYLES = (  # (font id, border id, alignment) of xf 1..5; every text wraps inside its (merged) cell
    (1, 0, '<alignment horizontal="center" vertical="center" wrapText="1"/>'),
    (2, 0, '<alignment vertical="center" wrapText="1"/>'),
    (3, 1, '<alignment horizontal="center" vertical="center" wrapText="1"/>'),
    (2, 1, '<alignment vertical="center" wrapText="1"/>'),
    (3, 1, '<alignment vertical="center" wrapText="1"/>'),
)
_DATE_FMT, _DATETIME_FMT = 164, 165


def _xf(num_fmt: int, font: int, border: int, alignment: str) -> str:
    attrs = (f'numFmtId="{num_fmt}" fontId="{font}" fillId="0" borderId="{border}" xfId="0"'
             + (' applyNumberFormat="1"' if num_fmt else "") + ' applyFont="1"'
             + (' applyBorder="1"' if border else "") + (' applyAlignment="1"' if alignment else ""))
    return f"<xf {attrs}>{alignment}</xf>" if alignment else f"<xf {attrs}/>"


_XFS = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'] + [
    _xf(0, *s) for s in _STYLES] + [_xf(fmt, *s) for s in _STYLES for fmt in (_DATE_FMT, _DATETIME_FMT)]


def _date_style(style: int, is_datetime: bool) -> int:
    return 1 + len(_STYLES) + 2 * (style - 1) + (1 if is_datetime else 0)


_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

STYLES_XML = (
    f'{_DECL}<styleSheet xmlns="{_NS}">'
    f'<numFmts count="2"><numFmt numFmtId="{_DATE_FMT}" formatCode="yyyy-mm-dd"/>'
    f'<numFmt numFmtId="{_DATETIME_FMT}" formatCode="yyyy-mm-dd h:mm:ss"/></numFmts>'
    '<fonts count="4"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    f'<font><b/><sz val="16"/><name val="{FONT}"/></font><font><sz val="10"/><name val="{FONT}"/></font>'
    f'<font><b/><sz val="10"/><name val="{FONT}"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"/><right style="thin"/><top style="thin"/><bottom style="thin"/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    f'<cellXfs count="{len(_XFS)}">{"".join(_XFS)}</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>'
    '</styleSheet>')

# XML 1.0 cannot hold C0 controls other than tab, newline and carriage return (nor U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = dt.datetime(1899, 12, 30)


def _text(s: str) -> str:
    if _XML_ILLEGAL.search(s):
        s = _XML_ILLEGAL.sub("", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(s: str) -> str:
    return _text(s).replace('"', "&quot;")


def _cell(ref: str, v: Any, style: int) -> str:
    """One ``<c>`` element (empty string for a cell not written)."""
    t = type(v)
    if t is str:
        if v == "":
            return f'<c r="{ref}" s="{style}"/>'
        v = v[:32767]
        space = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
        return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{_text(v)}</t></is></c>'
    if t is int:
        return f'<c r="{ref}" s="{style}"><v>{v}</v></c>'
    if v is None:
        return f'<c r="{ref}" s="{style}"/>'
    if t is bool or isinstance(v, bool):
        return f'<c r="{ref}" s="{style}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, (dt.date, dt.datetime)):
        if isinstance(v, dt.datetime):
            if v.tzinfo is not None:
                raise TypeError("Excel cannot hold time zones: pass a naive datetime")
            serial, is_dt = (v - _EPOCH).total_seconds() / 86400, True
        else:
            serial, is_dt = (v - _EPOCH.date()).days, False
        return f'<c r="{ref}" s="{_date_style(style, is_dt)}"><v>{serial!r}</v></c>'
    if isinstance(v, numbers.Integral):
        return f'<c r="{ref}" s="{style}"><v>{int(v)}</v></c>'
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            return f'<c r="{ref}" s="{style}"/>'
        return f'<c r="{ref}" s="{style}"><v>{f!r}</v></c>'
    if isinstance(v, str):  # a str subclass
        return _cell(ref, str(v), style)
    raise TypeError(f"cannot write a {t.__name__} to a report cell")


def _row(parts: list[str], r: int, values: Iterable[Any], style: int) -> None:
    """One ``<row>``, every cell checked for characters XML cannot hold (the careful path, see sheet_xml)."""
    rs = str(r)
    parts.append(f'<row r="{rs}">')
    append, cols, ncols, illegal = parts.append, _COLS, len(_COLS), _XML_ILLEGAL.search
    for i, v in enumerate(values):
        ref = (cols[i] if i < ncols else column_letter(i)) + rs
        # the common case inline (most cells are short strings): no leading/trailing space, nothing to drop
        if type(v) is str and v and not v[0].isspace() and not v[-1].isspace() and len(v) <= 32767 \
                and not illegal(v):
            append(f'<c r="{ref}" s="{style}" t="inlineStr"><is><t>'
                   f'{v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}</t></is></c>')
        else:
            append(_cell(ref, v, style))
    append("</row>")


def _row_fast(parts: list[str], r: int, values: Sequence[Any], style: int) -> None:
    """:func:`_row` without the per-cell check for characters XML cannot hold: the caller checks the finished
    sheet once (a cell holding one comes out with it, the sheet is then redone with :func:`_row`). Same output
    as :func:`_row` for every sheet without such characters."""
    if type(values) is not list and type(values) is not tuple:
        values = list(values)
    if len(values) > len(_COLS):
        _row(parts, r, values, style)
        return
    rs = str(r)
    plain = f'" s="{style}">'
    inline = f'" s="{style}" t="inlineStr"><is><t>'
    append = parts.append
    append(f'<row r="{rs}">')
    for col, v in zip(_COLS, values):
        t = type(v)
        if t is str:
            # str.strip() returns the string itself when there is no leading or trailing white space
            if v and v.strip() is v and len(v) <= 32767:
                if "&" in v or "<" in v or ">" in v:
                    v = v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                append(f'<c r="{col}{rs}{inline}{v}</t></is></c>')
                continue
        elif t is int:
            append(f'<c r="{col}{rs}{plain}<v>{v}</v></c>')
            continue
        append(_cell(col + rs, v, style))
    append("</row>")


# Rows that repeat across the sheets of a workbook (a table's header row, the footer lines) at the same row
# number are rendered once: key (row, style, values).
_ROW_CACHE: dict[tuple, str] = {}
_COLS_CACHE: dict[tuple, str] = {}


def _cached_row(r: int, values: Sequence[Any], style: int) -> str:
    """The rendered row, from the cache when all its values are str (1, 1.0 and True are equal keys)."""
    values = tuple(values)
    key = (r, style, values) if all(type(v) is str for v in values) else None
    hit = _ROW_CACHE.get(key) if key is not None else None
    if hit is None:
        parts: list[str] = []
        _row(parts, r, values, style)
        hit = "".join(parts)
        if key is not None:
            if len(_ROW_CACHE) >= 4096:
                _ROW_CACHE.clear()
            _ROW_CACHE[key] = hit
    return hit


def _sheet_data(sheet: Sheet, row: Callable[[list[str], int, Sequence[Any], int], None],
                heights: dict[int, float] | None = None) -> tuple[str, int]:
    """The rows of ``<sheetData>`` and the last row number; rows in ``heights`` get that height."""
    parts: list[str] = []
    heights = heights or {}

    def sized(start: int, r: int) -> None:  # the row just rendered at parts[start] gets its height
        if r in heights:
            parts[start] = parts[start].replace(f'<row r="{r}">', f'<row r="{r}" ht="{heights[r]:g}" customHeight="1">', 1)

    r = 1
    row(parts, r, [sheet.title], TITLE)
    sized(0, r)
    for line in sheet.subtitle_lines:
        r += 1
        start = len(parts)
        row(parts, r, [line], LINE)
        sized(start, r)
    for extra in sheet.header_rows:
        r += 1
        parts.append(_cached_row(r, extra, HEADER))
        sized(len(parts) - 1, r)
    r += 1
    parts.append(_cached_row(r, sheet.headers, HEADER))
    sized(len(parts) - 1, r)
    for values in sheet.rows:
        r += 1
        if r in heights:
            start = len(parts)
            row(parts, r, values, BODY)
            sized(start, r)
        else:
            row(parts, r, values, BODY)
    if sheet.totals is not None:
        r += 1
        start = len(parts)
        row(parts, r, sheet.totals, TOTAL)
        sized(start, r)
    for line in sheet.footer_lines:
        r += 1
        parts.append(_cached_row(r, [line], LINE))
        sized(len(parts) - 1, r)
    return "".join(parts), r


def _cols_xml(widths: list[float]) -> str:
    key = tuple(widths)
    hit = _COLS_CACHE.get(key)
    if hit is None:
        cols = "".join(f'<col min="{i}" max="{i}" width="{w:g}" customWidth="1"/>'
                       for i, w in enumerate(widths, start=1))
        hit = f"<cols>{cols}</cols>" if cols else ""
        if len(_COLS_CACHE) >= 256:
            _COLS_CACHE.clear()
        _COLS_CACHE[key] = hit
    return hit


def sheet_xml(sheet: Sheet, first: bool = False) -> str:
    """The worksheet part of one Sheet (same layout as :func:`_write_sheet_openpyxl`).

    The rows are rendered without looking for characters XML cannot hold (C0 controls, U+FFFE/U+FFFF), and
    the finished rows are checked once: ``str.isprintable`` (fast, true for nearly every sheet) rules them
    out, else the regex decides and a sheet holding one is rendered again cell by cell, dropping them."""
    heights = row_heights(sheet)
    data, r = _sheet_data(sheet, _row_fast, heights)
    if not data.isprintable() and _XML_ILLEGAL.search(data):
        data, r = _sheet_data(sheet, _row, heights)
    ncols = sheet.column_count
    widest = max([ncols, 1, len(sheet.totals or ()), *(len(v) for v in sheet.rows)])
    top = sheet.first_data_row
    selected = ' tabSelected="1"' if first else ""
    ranges = merge_ranges(sheet)
    merge = (f'<mergeCells count="{len(ranges)}">'
             + "".join(f'<mergeCell ref="{_ref(*m)}"/>' for m in ranges) + "</mergeCells>") if ranges else ""
    breaks = page_breaks(sheet, heights)
    row_breaks = (f'<rowBreaks count="{len(breaks)}" manualBreakCount="{len(breaks)}">'
                  + "".join(f'<brk id="{b}" max="16383" man="1"/>' for b in breaks) + "</rowBreaks>") if breaks else ""
    return (
        f'{_DECL}<worksheet xmlns="{_NS}" xmlns:r="{_REL_NS}">'
        '<sheetPr><outlinePr summaryBelow="1" summaryRight="1"/><pageSetUpPr fitToPage="1"/></sheetPr>'
        f'<dimension ref="A1:{_col(widest - 1)}{r}"/>'
        f'<sheetViews><sheetView{selected} workbookViewId="0">'
        f'<pane ySplit="{top - 1}" topLeftCell="A{top}" activePane="bottomLeft" state="frozen"/>'
        f'<selection pane="bottomLeft" activeCell="A{top}" sqref="A{top}"/></sheetView></sheetViews>'
        '<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
        + _cols_xml(sheet.column_widths())
        + f'<sheetData>{data}</sheetData>{merge}'
        f'<pageMargins left="{MARGIN_LR_IN}" right="{MARGIN_LR_IN}" top="{MARGIN_TB_IN}" bottom="{MARGIN_TB_IN}" '
        f'header="{MARGIN_HF_IN}" footer="{MARGIN_HF_IN}"/>'
        '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
        f'{row_breaks}</worksheet>')


_FIXED_TIME = (2000, 1, 1, 0, 0, 0)
_CT = "application/vnd.openxmlformats-officedocument"


def _entry(zf: zipfile.ZipFile, name: str, data: str | bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    # Level 1: deflate was a large share of writing R3 at province scale, and level 1 cuts it to a fraction for
    # slightly larger files (see BENCHMARKS.md).
    data = data.encode("utf-8") if isinstance(data, str) else data
    if not _entry_direct(zf, info, data):
        zf.writestr(info, data, compresslevel=1)


def _entry_direct(zf: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes) -> bool:
    """What ``zf.writestr(info, data, compresslevel=1)`` writes to a seekable archive (same bytes, see
    tests/test_excel.py), with the entry compressed and its header written once: writestr writes the header,
    streams the data, seeks back to fill in the sizes and CRC and seeks forward again, which adds up over a
    county's R3 sheets even with the archive in memory. Relies on zipfile internals
    (Python 3.11); the test pins the bytes. False (nothing written) where it does not apply: a large entry
    (ZIP64), or an archive that is not seekable or not plainly in write mode."""
    if (not zf._seekable or zf._writing or zf.mode != "w" or not zf.fp
            or len(data) * 1.05 > zipfile.ZIP64_LIMIT):
        return False
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    info._compresslevel = 1
    info.flag_bits = 0
    info.file_size, info.compress_size, info.CRC = len(data), len(body), zlib.crc32(data)
    fp = zf.fp
    fp.seek(zf.start_dir)
    info.header_offset = fp.tell()
    zf._writecheck(info)
    zf._didModify = True
    fp.write(info.FileHeader(False))
    fp.write(body)
    zf.start_dir = fp.tell()
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info
    return True


_DEFINED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,254}$")


def _check_defined_name(name: str) -> str:
    if not _DEFINED_NAME.match(name) or name.lower().startswith("_xlnm") or re.match(r"^[A-Za-z]{1,3}\d+$", name):
        raise ValueError(f"not a usable defined name: {name!r}")
    return name


def _text_formula(value: str) -> str:
    """A text constant as a defined name's formula: ``"2410030069"`` (quotes doubled)."""
    return '"' + str(value).replace('"', '""') + '"'


def _defined_names_xml(names: Mapping[str, str], sheet_index: int) -> str:
    return "".join(f'<definedName name="{_check_defined_name(n)}" localSheetId="{sheet_index}">'
                   f"{_text(_text_formula(v))}</definedName>" for n, v in names.items())


def _write_xlsx(target: str, sheets: Iterable[Sheet]) -> None:
    names: list[tuple[str, int]] = []  # (sheet name, header rows to repeat on every printed page)
    labels: list[str] = []  # the sheets' own defined names (<definedName> elements)
    taken: set[str] = set()
    # The archive is assembled in memory (the size of the finished file: ~31 MB for a county's 17,000 R3
    # sheets) and written in one go: seeking in a file flushes its buffer.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for sheet in sheets:
            names.append((safe_sheet_name(sheet.name, taken), sheet.first_data_row - 1))
            labels.append(_defined_names_xml(sheet.defined_names, len(names) - 1))
            _entry(zf, f"xl/worksheets/sheet{len(names)}.xml", sheet_xml(sheet, first=len(names) == 1))
        if not names:
            raise ValueError("a workbook needs at least one sheet")
        n = len(names)
        _entry(zf, "xl/styles.xml", STYLES_XML)
        sheet_list = "".join(f'<sheet name="{_attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
                             for i, (name, _) in enumerate(names, start=1))
        titles = "".join(
            f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
            f"{_text(chr(39) + name.replace(chr(39), chr(39) * 2) + chr(39))}!$1:${rows}</definedName>"
            for i, (name, rows) in enumerate(names)) + "".join(labels)
        _entry(zf, "xl/workbook.xml",
               f'{_DECL}<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}"><workbookPr/>'
               '<bookViews><workbookView activeTab="0"/></bookViews>'
               f'<sheets>{sheet_list}</sheets><definedNames>{titles}</definedNames>'
               '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, n + 1))
        _entry(zf, "xl/_rels/workbook.xml.rels",
               f'{_DECL}<Relationships xmlns="{_PKG_REL_NS}">{rels}'
               f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/></Relationships>')
        _entry(zf, "docProps/core.xml",
               f'{_DECL}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
               'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>kongchuo</dc:creator>'
               '<dcterms:created xsi:type="dcterms:W3CDTF">2000-01-01T00:00:00Z</dcterms:created>'
               '<dcterms:modified xsi:type="dcterms:W3CDTF">2000-01-01T00:00:00Z</dcterms:modified>'
               '</cp:coreProperties>')
        _entry(zf, "docProps/app.xml",
               f'{_DECL}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
               '<Application>kongchuo</Application></Properties>')
        _entry(zf, "_rels/.rels",
               f'{_DECL}<Relationships xmlns="{_PKG_REL_NS}">'
               f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
               '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
               f'<Relationship Id="rId3" Type="{_REL_NS}/extended-properties" Target="docProps/app.xml"/>'
               '</Relationships>')
        overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
                            for i in range(1, n + 1))
        _entry(zf, "[Content_Types].xml",
               f'{_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
               '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
               '<Default Extension="xml" ContentType="application/xml"/>'
               f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
               f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
               '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
               f'<Override PartName="/docProps/app.xml" ContentType="{_CT}.extended-properties+xml"/>'
               f"{overrides}</Types>")
    with open(target, "wb") as fh:
        fh.write(buf.getbuffer())


_DRAFT_NOTICES: dict[str, Sheet] = {}  # path -> first sheet, for reports written as drafts (mark_draft)


def mark_draft(path: Path, notice: Sheet) -> None:
    """The next workbook written to ``path`` is a draft: ``notice`` first, every title marked 【草稿】."""
    _DRAFT_NOTICES[str(path)] = notice


def _as_draft(sheets: Iterable[Sheet], notice: Sheet) -> Iterator[Sheet]:
    yield notice
    for sheet in sheets:
        yield dataclasses.replace(sheet, title=f"【草稿】{sheet.title}")


def write_workbook(path: Path, sheets: Iterable[Sheet]) -> str:
    """Write ``sheets`` (any iterable: consumed one sheet at a time) to ``path`` atomically; returns the
    file's SHA-256."""
    notice = _DRAFT_NOTICES.pop(str(path), None)
    if notice is not None:
        sheets = _as_draft(sheets, notice)
    return _atomic(Path(path), lambda tmp: _write_xlsx(tmp, sheets))


# ---------------------------------------------------------------------------------------------------------
# The openpyxl reference writer


def _openpyxl_cell(ws, value: Any, *, bold: bool = False, size: int = 10, border: bool = True,
                   center: bool = False):
    """A styled write-only cell. Assigning Font/Border/Alignment objects looks each up in the workbook's style
    tables, for every cell (costly for large reports); the style ids are per workbook, so they are resolved once
    per workbook and style, and each cell gets a copy of the resolved style array."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.styles.cell_style import StyleArray

    c = WriteOnlyCell(ws, value=value)
    key = (bold, size, border, center)
    styles = ws.parent.__dict__.setdefault("_kongchuo_styles", {})
    resolved = styles.get(key)
    if resolved is None:
        c.font = Font(name=FONT, bold=bold, size=size)
        if border:
            thin = Side(style="thin")
            c.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        c.alignment = Alignment(horizontal="center" if center else None, vertical="center", wrap_text=True)
        styles[key] = StyleArray(c._style)
    else:
        c._style = StyleArray(resolved)
    if isinstance(value, dt.date):  # the copied style array drops the date format openpyxl gave the cell
        c.number_format = "yyyy-mm-dd h:mm:ss" if isinstance(value, dt.datetime) else "yyyy-mm-dd"
    return c


def _write_sheet_openpyxl(wb, sheet: Sheet, taken: set[str]) -> None:
    from openpyxl.utils import get_column_letter

    wb._creating = True  # see _book(): the title is made unique here, not by openpyxl's list scan
    try:
        ws = wb.create_sheet(title=safe_sheet_name(sheet.name, taken))
    finally:
        wb._creating = False
    for i, w in enumerate(sheet.column_widths(), start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = f"A{sheet.first_data_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{sheet.first_data_row - 1}"
    _defined_names_openpyxl(ws, sheet.defined_names)
    for m in merge_ranges(sheet):
        ws.merged_cells.add(_ref(*m))
    heights = row_heights(sheet)
    for r, h in heights.items():
        ws.row_dimensions[r].height = h
    ws.page_margins.left = ws.page_margins.right = MARGIN_LR_IN
    ws.page_margins.top = ws.page_margins.bottom = MARGIN_TB_IN
    ws.page_margins.header = ws.page_margins.footer = MARGIN_HF_IN
    from openpyxl.worksheet.pagebreak import Break
    for b in page_breaks(sheet, heights):
        ws.row_breaks.append(Break(id=b))
    cell = _openpyxl_cell
    ws.append([cell(ws, sheet.title, bold=True, size=16, border=False, center=True)])
    for line in sheet.subtitle_lines:
        ws.append([cell(ws, line, border=False)])
    for extra in sheet.header_rows:
        ws.append([cell(ws, v, bold=True, center=True) for v in extra])
    ws.append([cell(ws, h, bold=True, center=True) for h in sheet.headers])
    for row in sheet.rows:
        ws.append([cell(ws, v) for v in row])
    if sheet.totals is not None:
        ws.append([cell(ws, v, bold=True) for v in sheet.totals])
    for line in sheet.footer_lines:
        ws.append([cell(ws, line, border=False)])
    # Finish the sheet now: a write-only sheet holds its temporary file open until it is closed.
    ws.close()


def _defined_names_openpyxl(ws, names: Mapping[str, str]) -> None:
    from openpyxl.workbook.defined_name import DefinedName

    for name, value in names.items():
        ws.defined_names[_check_defined_name(name)] = DefinedName(name, attr_text=_text_formula(value))


def _book():
    """A write-only openpyxl workbook whose sheet titles are made unique by the caller. openpyxl checks a new
    title against every existing one (a list scan per sheet: quadratic in the number of sheets); here the
    check sees an empty list while a sheet is created."""
    from openpyxl import Workbook

    class _Book(Workbook):
        _creating = False

        @property
        def sheetnames(self) -> list[str]:
            return [] if self._creating else super().sheetnames

    return _Book(write_only=True)


def write_workbook_openpyxl(path: Path, sheets: Iterable[Sheet]) -> str:
    """The reference writer (openpyxl write-only mode): same layout and cell values as :func:`write_workbook`,
    much slower per sheet (see BENCHMARKS.md); the tests compare the two."""
    def write(tmp: str) -> None:
        wb = _book()
        taken: set[str] = set()
        for sheet in sheets:
            _write_sheet_openpyxl(wb, sheet, taken)
        wb.save(tmp)
        _make_reproducible(tmp)

    return _atomic(Path(path), write)


_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _make_reproducible(path: str) -> None:
    """Same cells, same bytes: fix the zip entry times and the document's created/modified stamps."""
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = _STAMP.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            _entry(dst, info.filename, data)


# ---------------------------------------------------------------------------------------------------------


def _atomic(path: Path, write: Callable[[str], None]) -> str:
    """Run ``write`` on a temporary file next to ``path``, fsync it and rename it into place; the SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".partial-{os.getpid()}-", suffix=".xlsx", dir=path.parent)  # pid: a later run removes it if this process died
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sha256_file(path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
