"""Reading one landed extract (CSV, XLSX or XLS) into chunks of raw text cells under canonical column names.

- Encoding (CSV): UTF-8 with or without BOM, else GB18030 (a superset of GBK and GB2312). The whole file is
  checked in line-aligned blocks before parsing, so an undecodable byte is reported with its line number.
- Workbooks: ``.xlsx`` and legacy ``.xls`` (Excel 97-2003), both read with python-calamine (by content, so an
  .xlsx saved under an .xls name, or an .xls under an .xlsx name, is read too; an HTML page named .xls is
  refused with a message saying so, an encrypted workbook with one asking to remove the password).
  EVERY visible sheet whose header matches the source is read (one sheet per grade or class is common), one
  after the other, each with its own header; hidden and very hidden sheets are ignored; sheets without a
  matching header (or empty) are skipped, and :attr:`SourceFile.skipped_sheets` lists them with the reason.
  Each staged row carries its ``sheet``; row-level messages name it (``学籍.xls 工作表「七年级」第 12 行 D 列``).
  Cells may be dates, datetimes, Excel serial numbers, numbers or text; every cell is turned into text (dates
  as ISO text, integral numbers without ``.0``) and the typed parsing is left to :mod:`kongchuo.normalize`.
- Header row: the first of the first :data:`HEADER_SCAN_ROWS` rows in which at least two cells are known
  header names of the source, so a long title, ``填报单位（盖章）：`` and date lines above it are passed over.
  Header text is compared by :func:`kongchuo.sources.normalize_header`: ``★``/``*``/``＊`` required marks
  before or after, line breaks inside the cell, ``（必填）``/``(选填)`` notes, full-width brackets and spaces do
  not matter. Unknown columns are ignored and reported; two headers for one canonical column are an error;
  missing required columns are ONE message in Chinese naming every one of them, the headers found and the
  nearest known name of each unknown header (``「学藉状态」可能是「学籍状态」``).
- Total and note lines: a row WITHOUT an ID number or student number whose first non-empty cell starts with
  合计/总计/小计/填表人/填报人/审核人/复核人/制表/说明/备注/负责人/填报单位/填报日期/注：, or that holds 合计/总计/小计
  in some cell and has no name, is not a record and not an error: it is dropped and counted per kind (the word;
  blank rows as ``空行``) in :attr:`SourceFile.skipped_rows`. A row with an ID or student number is always a
  record, whatever its first cell says; a keyless row that is no such line stays a record (DQ03 lists it).
- ID numbers typed as numbers: an ``id_number`` cell that is an Excel number of 16+ digits (Excel keeps 15
  significant digits), or text ``4.11003E+17``, is a ROW error (``row_error``: file, sheet, row, column,
  "身份证号被存为数字，末位已丢失，请将该列设为文本后重新导出"); the ID becomes NULL (raw text kept) and the rest of
  the file loads. When most IDs of a chunk end in 000, every one of them is such an error (the column was a
  number). A lone text ID ending in 000 is checked like any other ID (DQ01 lists it when its check digit is
  wrong): about one in 1,100 real IDs ends so, and treating one mistyped ID as a lost number made it a blocking
  row error for the whole district; only number cells are certain.
- Attendance month grid (the class teacher's sheet): a header with 学籍号 and/or 身份证号 (姓名 and 学校标识码
  optional) and at least :data:`MIN_GRID_DAYS` day columns (``1``..``31``, ``1日``, ``1号``, ``10月1日``) and no
  日期/考勤状态 column. Cells hold √/✓/病/事/旷/迟/早 (blank = no roll call that day). Year and month come from a
  年月 column, else a line above the header (``2026年10月``), else the file name (``考勤_2026-10.xlsx``,
  ``2026年10月``); the school code from a 学校标识码 column, else a ``学校标识码：2410030069`` line above the header.
  Each marked day becomes one canonical roll-call row (row number = the grid's row); a day that does not exist
  in the month (31 in November) keeps its text in ``date_raw`` and DQ03 lists it.
- Row numbers (``row_no``) are what a person sees: the row number in Excel, or the line number in a text
  editor (a record spanning several lines because of a quoted line break counts as one row).
- Memory stays bounded: CSV is parsed in chunks of :data:`CHUNK_ROWS` rows; sheets are loaded one at a time.

Errors are :class:`IngestError`; the message names the file, the row and the column, and never quotes a
cell value (cells hold minors' names and ID numbers). File-level problems caught before parsing: an empty
file; UTF-16 text; NUL bytes or a byte-order mark inside a UTF-8 file (two exports joined); a cell longer
than Excel's 32,767 characters; a quote opened and never closed; an "XLSX" that is HTML, an encrypted
workbook, not a zip or a damaged one; an "XLS" that is HTML or text; a stray cell so far from the table that
reading a sheet would exhaust memory (calamine materialises each sheet's bounding box); a workbook with no
visible sheet whose header matches (the message of the sheet that came closest).

Other real shapes are handled in :mod:`kongchuo.normalize` (they need no reading logic): attendance
是否请假/请假 + 请假类型; public-security household extracts (公民身份号码, 户籍地址/户籍区划 → township, 人员状态 +
注销原因); deferral rosters (申请类别, 批准时间, 缓学期限 as a range); the national registry's names (个人标识码,
学籍辅号, 是否留守儿童 ...) are aliases in :mod:`kongchuo.sources`.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import html
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from kongchuo.excel import column_letter
from kongchuo.sources import SourceSpec, normalize_header

HEADER_SCAN_ROWS = 10
CHUNK_ROWS = 500_000
SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".xls")
WORKBOOK_SUFFIXES = (".xlsx", ".xls")
_BLOCK_BYTES = 16 << 20
_UTF8_EVIDENCE_BYTES = 24  # this many valid non-ASCII UTF-8 bytes before a bad byte: it is a broken UTF-8 file
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell: anything longer did not come from a spreadsheet
MAX_XLSX_CELLS = 30_000_000  # bounding box of one sheet (1,048,576 rows x ~28 columns)
DELIMITERS = (",", "\t", ";")

csv.field_size_limit(2**31 - 1)  # header sniffing must reach the over-long cell to name it, not crash on it


class IngestError(Exception):
    """A file-level problem that sends the whole file to quarantine. The message is safe to log."""


@dataclass
class MonthGrid:
    """A class teacher's month grid (attendance): one row per child, one column per day of the month."""

    days: dict[int, int]  # day of month -> 0-based column position
    year_month: tuple[int, int] | None  # from the lines above the header or the file name (a 年月 column wins)
    school_code: str | None  # from a 学校标识码：… line above the header (a 学校标识码 column wins)


@dataclass
class Table:
    """One table of a file: the CSV itself, or one visible sheet whose header matches the source."""

    sheet: str | None  # None for CSV
    header_row: int  # 1-based, the last header row
    header_map: dict[str, str]  # raw header text -> canonical column
    positions: dict[str, int]  # canonical column -> 0-based column position
    ignored_columns: list[str]
    width: int
    grid: MonthGrid | None = None


@dataclass
class SourceFile:
    """An opened extract: its tables (sheets), then :meth:`chunks` of canonical text cells plus ``row_no``,
    ``sheet`` and ``row_error``. :attr:`skipped_rows` counts the note, total and blank lines passed over (filled
    while :meth:`chunks` runs), :attr:`skipped_sheets` the sheets not read and why."""

    path: Path
    name: str
    spec: SourceSpec
    encoding: str | None
    tables: list[Table]
    delimiter: str = ","
    skipped_sheets: list[tuple[str, str]] = field(default_factory=list)
    skipped_rows: Counter = field(default_factory=Counter)
    loaded: dict[str, object] = field(default_factory=dict, repr=False)  # sheet name -> calamine sheet, read once

    # The first table, for callers that know one table only.
    @property
    def header_row(self) -> int:
        return self.tables[0].header_row

    @property
    def header_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for t in self.tables:
            out.update(t.header_map)
        return out

    @property
    def positions(self) -> dict[str, int]:
        return self.tables[0].positions

    @property
    def ignored_columns(self) -> list[str]:
        return list(dict.fromkeys(c for t in self.tables for c in t.ignored_columns))

    @property
    def is_workbook(self) -> bool:
        return self.path.suffix.lower() in WORKBOOK_SUFFIXES

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        for table in self.tables:
            rows = self._sheet_chunks(table, chunk_rows) if self.is_workbook else self._csv_chunks(table, chunk_rows)
            for cells, full in rows:
                frame = self._select(table, cells, full)
                if frame is not None:
                    frame.attrs["where"] = self._locations(table)
                    yield frame

    def _locations(self, table: Table) -> dict[str, object]:
        """What :mod:`kongchuo.normalize` needs to word a row-level message (no values)."""
        labels = {c: f"{column_letter(p)} 列（{self._label_at(table, p) or c}）" for c, p in table.positions.items()}
        return {"file": self.name, "sheet": table.sheet, "columns": labels}

    # -- CSV ---------------------------------------------------------------------------------------
    def _csv_chunks(self, table: Table, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, Callable]]:
        reader = pd.read_csv(
            self.path, sep=self.delimiter, header=None, names=list(range(table.width)), index_col=False,
            dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False, encoding=self.encoding,
            chunksize=chunk_rows, engine="c", quotechar='"',
        )
        try:
            with reader:
                for chunk in reader:
                    chunk.index = chunk.index + 1  # row numbers as people see them
                    yield chunk, (lambda i, c=chunk: [v for v in c.loc[i].tolist() if isinstance(v, str)])
        except pd.errors.ParserError as exc:
            raise IngestError(self._parser_error(table, str(exc))) from None

    def _parser_error(self, table: Table, message: str) -> str:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        if m:
            expected, line, saw = (int(g) for g in m.groups())
            return (f"{self.name}: row {line}, column {column_letter(saw - 1)}: the row has {saw} fields, "
                    f"more than the {expected} columns of the header (row {table.header_row})")
        m = re.search(r"EOF inside string starting at row (\d+)", message)
        if m:
            found = _unclosed_quote(self.path, self.encoding, self.delimiter)
            where = (f"row {found[0]}, column {column_letter(found[1])}{self._label_at(table, found[1], quoted=True)}"
                     if found else f"row {int(m.group(1)) + 1}, column ?")
            return (f"{self.name}: {where}: a quote (\") opens a value that is never closed, so the rest of the "
                    f"file would be read as one cell; close or remove the quote")
        m = re.search(r"line (\d+)", message)
        row = m.group(1) if m else "?"
        detail = re.sub(r"'[^']*'", "'…'", message.split("\n")[0])
        return f"{self.name}: row {row}, column ?: the CSV cannot be parsed ({detail})"

    # -- workbooks ---------------------------------------------------------------------------------
    def _sheet_chunks(self, table: Table, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, Callable]]:
        rows: list[list[object]] = []
        first = 0
        sheet = self.loaded.pop(table.sheet, None)  # read once; a second pass loads the sheet again
        for i, row in enumerate(_sheet_rows(self.path, self.name, table.sheet, sheet)):
            if i < table.header_row:  # header_row is 1-based, so this skips the header too
                continue
            if not rows:
                first = i
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield self._sheet_frame(table, rows, first)
                rows = []
        if rows:
            yield self._sheet_frame(table, rows, first)

    def _sheet_frame(self, table: Table, rows: list[list[object]], first: int) -> tuple[pd.DataFrame, Callable]:
        cols = {}
        width = min(len(r) for r in rows)
        wanted = set(table.positions.values()) | set((table.grid.days.values()) if table.grid else ())
        columns = list(zip(*rows)) if rows else []  # one transposition in C, not a list per column in Python
        lost = None
        for pos in sorted(wanted):
            values = columns[pos] if pos < width else [r[pos] if pos < len(r) else None for r in rows]
            types = set(map(type, values))
            if pos == table.positions.get("id_number") and types & {float, int}:
                lost = np.array([type(v) in (float, int) and abs(v) >= 1e15 for v in values], dtype=bool)
            # Most columns are all text: they go to Arrow as they are; only the others call _cell_text per cell.
            cols[pos] = pd.Series(values if types <= {str, type(None)} else
                                  [v if type(v) is str else _cell_text(v) for v in values], dtype="str")
        chunk = pd.DataFrame(cols)
        chunk.index = pd.RangeIndex(first + 1, first + 1 + len(rows))
        if lost is not None and lost.any():
            chunk.attrs["numeric_id"] = lost  # a number cell: Excel kept 15 digits of it
        return chunk, (lambda i: [_cell_text(v) or "" for v in rows[i - first - 1]])

    # -- shared --------------------------------------------------------------------------------------
    def _select(self, table: Table, chunk: pd.DataFrame, full_row: Callable[[int], list[str]]) -> pd.DataFrame | None:
        """Data rows below the header, canonical names, ``row_no``; blank, total and note lines are counted in
        :attr:`skipped_rows` and dropped (see :func:`note_kind`)."""
        numeric_id = chunk.attrs.get("numeric_id")
        keep = chunk.index.to_numpy() > table.header_row
        cols = dict(table.positions)
        if table.grid:
            cols.update({f"day_{d}": p for d, p in table.grid.days.items()})
        frame = chunk.loc[keep, list(cols.values())]
        frame.columns = list(cols.keys())
        frame = frame.astype("str")
        rows = chunk.index.to_numpy()[keep]
        for col in frame.columns:  # whitespace-only cells count as empty
            too_long = (frame[col].str.len() > MAX_CELL_CHARS).fillna(False).to_numpy(dtype=bool)
            if too_long.any():
                raise IngestError(self._long_cell_message(table, int(rows[too_long.argmax()]), col))
            frame[col] = frame[col].where(frame[col].str.strip().str.len() > 0)
        frame["row_no"] = rows.astype("int64")
        frame = frame[~self._note_rows(table, frame, full_row)]
        if len(frame) == 0:
            return None
        if table.sheet is not None:
            frame["sheet"] = pd.Series(table.sheet, index=frame.index, dtype="string")
        frame = self._id_stored_as_number(table, frame, numeric_id[keep] if numeric_id is not None else None, rows)
        if table.grid:
            frame = self._grid_rows(table, frame)
        return frame.reset_index(drop=True) if len(frame) else None

    def _note_rows(self, table: Table, frame: pd.DataFrame, full_row: Callable[[int], list[str]]) -> np.ndarray:
        """Rows that are no record: blank, or a total/note line (only rows without an ID or student number, i.e.
        no digit in those cells, are looked at, so a pupil's row is never dropped); counted per kind in
        :attr:`skipped_rows`."""
        keys = [c for c in ("id_number", "student_no") if c in frame.columns]
        keyless = np.ones(len(frame), dtype=bool)
        for key in keys:  # an ID or student number has digits; '小计' written in the ID column is no key
            keyless &= ~frame[key].str.contains(r"\d", regex=True).fillna(False).to_numpy(dtype=bool)
        drop = np.zeros(len(frame), dtype=bool)
        if not keyless.any():
            return drop
        known = frame.drop(columns="row_no")
        empty = known.isna().all(axis=1).to_numpy()
        names = frame["name"].to_numpy() if "name" in frame.columns else None
        for i in np.flatnonzero(keyless):
            row_no = int(frame["row_no"].iat[i])
            kind = note_kind(full_row(row_no), has_name=names is not None and isinstance(names[i], str))
            if kind is None and empty[i]:
                kind = BLANK_ROW
            if kind is not None:
                self.skipped_rows[kind] += 1
                drop[i] = True
        return drop

    def _id_stored_as_number(self, table: Table, frame: pd.DataFrame, numeric: np.ndarray | None,
                             rows: np.ndarray) -> pd.DataFrame:
        """An ID number that went through an Excel number (a number cell, ``4.11003E+17``, or 18 digits ending
        in ``000`` with a wrong check digit): a row error; the ID becomes NULL (raw text kept), so such rows can
        never collapse several children into one record."""
        if "id_number" not in frame.columns:
            return frame
        lost = id_lost_to_number(frame["id_number"])
        if numeric is not None:
            lost = lost | pd.Series(numeric, index=rows).reindex(frame["row_no"].to_numpy()).fillna(False).to_numpy(bool)
        if not lost.any():
            return frame
        pos = table.positions["id_number"]
        frame = frame.copy()
        frame["row_error"] = pd.Series(pd.NA, index=frame.index, dtype="string")
        frame.loc[lost, "row_error"] = [
            f"{row_place(self.name, table.sheet, r)} {column_letter(pos)} 列（{self._label_at(table, pos)}）：{ID_AS_NUMBER}"
            for r in frame.loc[lost, "row_no"]]
        frame["id_number_lost"] = lost
        return frame

    def _grid_rows(self, table: Table, frame: pd.DataFrame) -> pd.DataFrame:
        """The month grid → one canonical roll-call row per child per marked day (blank = no roll call)."""
        grid = table.grid
        assert grid is not None
        if "year_month" in frame.columns:
            ym = frame["year_month"].str.extract(_YEAR_MONTH_CELL)
            year = ym[0].fillna(str(grid.year_month[0]) if grid.year_month else pd.NA)
            month = ym[1].fillna(str(grid.year_month[1]) if grid.year_month else pd.NA)
        else:
            year = pd.Series(str(grid.year_month[0]), index=frame.index)  # resolve_table made sure there is one
            month = pd.Series(str(grid.year_month[1]), index=frame.index)
        base = frame.drop(columns=[f"day_{d}" for d in grid.days] + ["year_month"], errors="ignore")
        if "school_code" not in base.columns:
            base["school_code"] = grid.school_code
        parts = []
        for day in sorted(grid.days):
            marks = frame[f"day_{day}"]
            marked = marks.notna().to_numpy()
            if not marked.any():
                continue
            part = base.loc[marked].copy()
            part["status"] = marks[marked].str.strip()
            part["date"] = (year[marked].astype(str) + "-" + month[marked].astype(str).str.zfill(2)
                            + f"-{day:02d}")
            parts.append(part)
        if not parts:
            return base.iloc[0:0].assign(status=None, date=None)
        return pd.concat(parts).sort_values("row_no", kind="stable")

    def _long_cell_message(self, table: Table, row: int, col: str) -> str:
        pos = table.positions[col] if col in table.positions else table.grid.days[int(col[4:])]
        sheet = f" 工作表「{table.sheet}」" if table.sheet is not None else ""
        return (f"{self.name}:{sheet} row {row}, column {column_letter(pos)}{self._label_at(table, pos, quoted=True)}: "
                f"the cell is longer than {MAX_CELL_CHARS:,} characters (Excel's limit for a cell); the export is "
                f"damaged")

    @staticmethod
    def _label_at(table: Table, pos: int, quoted: bool = False) -> str:
        label = next((raw for raw, c in table.header_map.items() if table.positions.get(c) == pos), None)
        label = _SPACES.sub(" ", label) if label else label  # a header wrapped over two lines reads as one
        if not quoted:
            return label or ""
        return f" ('{label}')" if label else ""


def row_place(name: str, sheet: str | None, row: object) -> str:
    """'学籍.xls 工作表「七年级」第 12 行' or '学籍.csv 第 12 行'."""
    return f"{name} 工作表「{sheet}」第 {row} 行" if sheet is not None else f"{name} 第 {row} 行"


BLANK_ROW = "空行"
# A row without an ID or student number whose first non-empty cell starts with one of these is a total or a
# note line, never a record: totals (合计/总计/小计), signatures and notes below the data (填表人, 审核人 ...).
NOTE_WORDS = ("合计", "总计", "小计", "填表人", "填报人", "审核人", "复核人", "制表", "说明", "备注", "负责人",
              "填报单位", "填表单位", "填报日期", "填表日期", "注：", "注:")
TOTAL_WORDS = ("合计", "总计", "小计")
MIN_NUMERIC_COLUMN = 3  # this many IDs ending in 000, most of the chunk's: the ID column was a number
ID_AS_NUMBER = "身份证号被存为数字，末位已丢失，请将该列设为文本后重新导出"
_SPACES = re.compile(r"[\s\u3000]+")
_SCIENTIFIC = r"^\d(?:\.\d+)?[eE]\+?\d{1,2}$"
_TRUNCATED18 = r"^\d{15}000$"
_YEAR_MONTH_CELL = r"(\d{4})\D{0,2}?(\d{1,2})"


def note_kind(cells: list[str], has_name: bool) -> str | None:
    """The kind of a total or note line ('合计', '填表人' ...), or None for anything else.

    ``cells`` is the whole row as text (only rows without an ID or student number are asked). A row is such a
    line when its first non-empty cell starts with one of :data:`NOTE_WORDS` (spaces ignored: ``合  计``), or
    when a cell contains 合计/总计/小计 and the row has no name (a total labelled in a later column)."""
    texts = [_SPACES.sub("", c) for c in cells if c and c.strip()]
    if not texts:
        return None
    first = texts[0]
    for word in NOTE_WORDS:
        if first.startswith(word):
            return word.rstrip("：:")
    if not has_name:
        for text in texts:
            for word in TOTAL_WORDS:
                if word in text:
                    return word
    return None


def id_lost_to_number(ids: pd.Series) -> np.ndarray:
    """ID texts that came out of an Excel number: scientific notation, or all 18-digit IDs ending in the zeros
    Excel puts after its 15 significant digits when most IDs of the chunk end so (the column was a number; real
    IDs end in 000 about once in 1,100). A lone ID ending in 000 is checked like any other (DQ01)."""
    text = ids.str.strip()
    sci = text.str.match(_SCIENTIFIC).fillna(False).to_numpy(dtype=bool, copy=True)
    cut = text.str.match(_TRUNCATED18).fillna(False).to_numpy(dtype=bool, copy=True)
    if cut.sum() >= MIN_NUMERIC_COLUMN and cut.sum() > 0.5 * text.notna().sum():
        return sci | cut  # most IDs of the chunk end in 000: the whole column went through a number
    # A lone text ID ending in 000 with a wrong check digit is just an invalid ID (DQ01 lists it): treating it as
    # a lost number made one mistyped ID a blocking row error for the whole district. Number cells of a
    # workbook are caught by the reader's cell types instead.
    return sci


def open_source_file(path: Path, spec: SourceSpec, name: str | None = None) -> SourceFile:
    """Detect the encoding (CSV) or the matching sheets (workbooks) and the header of each; raise
    :class:`IngestError` for file-level problems. ``name`` is the file name people know (the landing name),
    used in every message."""
    path = Path(path)
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"{name}: row 1, column A: unsupported file type '{suffix or '(none)'}' "
                          f"(expected {', '.join(SUPPORTED_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise IngestError(f"{name}: row 1, column A: the file is empty (0 bytes)")
    if suffix in WORKBOOK_SUFFIXES:
        return _open_workbook(path, spec, name)
    encoding = detect_encoding(path, name, spec)
    head, delimiter = _sniff_csv(path, encoding, lines=HEADER_SCAN_ROWS)
    table = resolve_table(head, spec, name, None)
    # A CSV data row with more fields than the header (or the title rows above it) is an error: its values
    # would sit under the wrong headers.
    table.width = max(len(r) for r in head[: table.header_row])
    return SourceFile(path, name, spec, encoding, [table], delimiter)


def _open_workbook(path: Path, spec: SourceSpec, name: str) -> SourceFile:
    """Every visible sheet whose header matches; hidden sheets and sheets without a matching header are listed
    in ``skipped_sheets``; none matching is an error (the best sheet's message)."""
    book = open_workbook(path, name)
    opened = SourceFile(path, name, spec, None, [])
    failures: list[tuple[int, str]] = []
    for meta in book.sheets_metadata:
        if str(meta.visible).rsplit(".", 1)[-1] != "Visible":
            opened.skipped_sheets.append((meta.name, "隐藏工作表 hidden sheet"))
            continue
        if str(meta.typ).rsplit(".", 1)[-1] != "WorkSheet":
            opened.skipped_sheets.append((meta.name, "不是数据工作表（图表等）not a worksheet"))
            continue
        if path.suffix.lower() == ".xlsx":
            check_sheet_box(path, name, meta.name)
        sheet = _load_sheet(book, name, meta.name)
        head = []
        for i, row in enumerate(_sheet_rows(path, name, meta.name, sheet)):
            if i >= HEADER_SCAN_ROWS:
                break
            head.append([_cell_text(v) or "" for v in row])
        if not any(c.strip() for r in head for c in r):
            opened.skipped_sheets.append((meta.name, "空工作表 empty sheet"))
            continue
        try:
            table = resolve_table(head, spec, name, meta.name)
        except IngestError as exc:
            opened.skipped_sheets.append((meta.name, str(exc)))
            failures.append((_best_hits(head, spec), str(exc)))
            continue
        opened.tables.append(table)
        if len(opened.tables) == 1:
            opened.loaded[meta.name] = sheet
    if not opened.tables:
        if failures:
            raise IngestError(max(failures, key=lambda f: f[0])[1])  # the sheet that came closest
        raise IngestError(f"{name}: row 1, column A: the workbook has no visible sheet with data")
    return opened


def _best_hits(head: list[list[str]], spec: SourceSpec) -> int:
    aliases = spec.alias_map
    return max((sum(1 for c in r if c and normalize_header(c) in aliases) for r in head), default=0)


_DAY = re.compile(r"^(?:\d{1,2}月)?(\d{1,2})(?:日|号)?$")
_TITLE_YM = re.compile(r"(20\d{2})\s*年\s*(\d{1,2})\s*月")
_NAME_YM = re.compile(r"(20\d{2})(?:\s*年\s*|[-_.])(\d{1,2})(?:月|(?!\d))")
_TITLE_SCHOOL = re.compile(r"学校(?:标识码|代码|识别码)\s*[:：]?\s*(\d{10})")
MIN_GRID_DAYS = 5


def resolve_table(head: list[list[str]], spec: SourceSpec, name: str, sheet: str | None) -> Table:
    """The header among the first rows of a CSV or a sheet, as a :class:`Table`; :class:`IngestError` otherwise.

    The header is the first row in which at least two cells are known header names of the source. A two-row
    header (a group title such as 基本信息 merged over its columns, their names in the row below, the other
    headers merged down over both rows) is read as one: when every non-empty cell of the row under the header
    is a known header name in a column the header row left empty or unknown, the two rows combine. An
    attendance header with day columns (1..31, 1日, 1号, 10月1日) is a month grid (:class:`MonthGrid`)."""
    where = f"{name} 工作表「{sheet}」" if sheet is not None else name
    aliases = spec.alias_map
    for idx, row in enumerate(head[:HEADER_SCAN_ROWS]):
        hits = [(pos, cell) for pos, cell in enumerate(row) if cell and normalize_header(cell) in aliases]
        if len(hits) < 2:
            continue
        last = idx
        if idx + 1 < len(head):
            below = [(pos, cell) for pos, cell in enumerate(head[idx + 1]) if cell and cell.strip()]
            taken = {p for p, _ in hits}
            if below and all(normalize_header(c) in aliases and p not in taken for p, c in below):
                hits = sorted(hits + below)
                last = idx + 1
        rows = f"row {idx + 1}" if last == idx else f"rows {idx + 1}-{last + 1}"
        prefix = f"{name}: 工作表「{sheet}」 " if sheet is not None else f"{name}: "
        header_map, positions = _map_header(hits, aliases, prefix, rows)
        grid = _month_grid(row, head[:idx], positions, spec, name) if spec.name == "attendance" else None
        missing = _missing_required(spec, positions, grid)
        if missing:
            raise IngestError(_missing_message(where, idx, last, row, missing, spec))
        if grid is not None and grid.year_month is None and "year_month" not in positions:
            days = sorted(grid.days.values())
            raise IngestError(
                f"{where} 第 {idx + 1} 行（表头），{column_letter(days[0])}–{column_letter(days[-1])} 列（日期列）："
                f"月考勤表找不到年月：请在表头上方写明「2026年10月」、加一列「年月」，或在文件名中写明年月（如 "
                f"考勤_2026-10.xlsx）")
        used = {p for p, _ in hits} | (set(grid.days.values()) if grid else set())
        ignored = [cell.strip() for p, cell in enumerate(row) if cell and cell.strip() and p not in used]
        return Table(sheet, last + 1, header_map, positions, ignored, max(len(r) for r in head[: last + 1]), grid)
    n = max(1, min(len(head), HEADER_SCAN_ROWS))
    best = max(range(n), key=lambda i: sum(1 for c in head[i] if c and c.strip())) if head else 0
    row = head[best] if head else []
    missing = _missing_required(spec, {}, None)
    raise IngestError(_missing_message(where, 0, n - 1, row, missing, spec, found_header=False))


def _map_header(hits: list[tuple[int, str]], aliases: dict[str, str], prefix: str, rows: str
                ) -> tuple[dict[str, str], dict[str, int]]:
    header_map: dict[str, str] = {}
    positions: dict[str, int] = {}
    text = dict(hits)
    for pos, cell in hits:
        canonical = aliases[normalize_header(cell)]
        if canonical in positions:
            first = positions[canonical]
            raise IngestError(
                f"{prefix}{rows} (header), columns {column_letter(first)} and {column_letter(pos)}: "
                f"headers '{text[first].strip()}' and '{cell.strip()}' both map to column '{canonical}'")
        positions[canonical] = pos
        header_map[cell.strip()] = canonical
    return header_map, positions


def _missing_required(spec: SourceSpec, positions: dict[str, int], grid: MonthGrid | None) -> list[str]:
    """Labels of every required column that is absent, as '学籍状态（status）'."""
    present = set(positions)
    if grid is not None:
        present |= {"date", "status"} | ({"school_code"} if grid.school_code else set())
    missing = [f"{spec.column(c).label}（{c}）" for c in spec.required if not spec.satisfied(c, present)]
    if spec.one_of and not any(c in present for c in spec.one_of):
        missing.append("或".join(spec.column(c).label for c in spec.one_of) + f"（{'/'.join(spec.one_of)}）")
    return missing


def _missing_message(where: str, idx: int, last: int, row: list[str], missing: list[str], spec: SourceSpec,
                     found_header: bool = True) -> str:
    """One message naming every missing required column, the headers found, and the nearest known name of
    each found header that is not known."""
    rows = f"第 {idx + 1} 行" if last == idx else f"第 {idx + 1}–{last + 1} 行"
    cells = [(p, c.strip()) for p, c in enumerate(row) if c and c.strip()]
    first_col, last_col = (cells[0][0], cells[-1][0]) if cells else (0, 0)
    span = (f"，{column_letter(first_col)} 列" if first_col == last_col
            else f"，{column_letter(first_col)}–{column_letter(last_col)} 列")
    shown = [c for _, c in cells]
    if not found_header:  # the row may be data (a sheet without a header): only header-like cells are named
        shown = [c for c in shown if normalize_header(c) in spec.alias_map or _nearest_aliases([c], spec)]
    found = "、".join(f"「{c}」" for c in shown) or "（无）"
    if len(shown) < len(cells):
        found += f"（另有 {len(cells) - len(shown)} 个不像列名的单元格，未列出）"
    what = "（表头）" if found_header else f"（未找到表头：没有一行含两个以上{spec.label}列名）"
    text = f"{where}：{rows}{what}{span}：缺少必填列：{'、'.join(missing)}；找到的表头：{found}"
    hints = _nearest_aliases(shown, spec)
    return text + ("；" + "；".join(hints) if hints else "")


def _nearest_aliases(headers: list[str], spec: SourceSpec) -> list[str]:
    labels = spec.alias_labels
    aliases = spec.alias_map
    out = []
    for header in headers:
        key = normalize_header(header)
        if key in aliases or len(key) > 30:
            continue
        close = difflib.get_close_matches(key, list(labels), n=1, cutoff=0.6)
        if close:
            out.append(f"「{header}」可能是「{labels[close[0]]}」")
    return out


def _month_grid(row: list[str], above: list[list[str]], positions: dict[str, int], spec: SourceSpec,
                name: str) -> MonthGrid | None:
    """Day columns in an attendance header make it a month grid; year/month and school code come from the lines
    above the header (``2026年10月``, ``学校标识码：2410030069``) or the file name."""
    if "date" in positions or "status" in positions:
        return None
    days: dict[int, int] = {}
    for pos, cell in enumerate(row):
        m = _DAY.match(_SPACES.sub("", cell or ""))
        if m and 1 <= int(m.group(1)) <= 31 and pos not in positions.values():
            days.setdefault(int(m.group(1)), pos)
    if len(days) < MIN_GRID_DAYS:
        return None
    title = " ".join(c for r in above for c in r if c)
    ym = _TITLE_YM.search(title) or _NAME_YM.search(name)
    school = _TITLE_SCHOOL.search(title)
    year_month = (int(ym.group(1)), int(ym.group(2))) if ym and 1 <= int(ym.group(2)) <= 12 else None
    return MonthGrid(days, year_month, school.group(1) if school else None)


def resolve_header(head: list[list[str]], spec: SourceSpec, name: str
                   ) -> tuple[int, dict[str, str], dict[str, int], list[str]]:
    """:func:`resolve_table` for one CSV: (0-based index of the last header row, raw→canonical, positions,
    ignored)."""
    table = resolve_table(head, spec, name, None)
    return table.header_row - 1, table.header_map, table.positions, table.ignored_columns



# --- encodings --------------------------------------------------------------------------------------

_SAVE_AS = "save the file as UTF-8 or GBK"


def detect_encoding(path: Path, name: str | None = None, spec: SourceSpec | None = None) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030'; :class:`IngestError` with row and column if neither decodes, for
    UTF-16 text, for NUL bytes, and for a UTF-8 byte-order mark after the start (two exports joined)."""
    name = name or Path(path).name
    with open(path, "rb") as fh:
        start = fh.read(3)
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise IngestError(f"{name}: row 1, column A: the file is UTF-16 text (Excel's 'Unicode text'), not a "
                          f"CSV in UTF-8 or GBK; {_SAVE_AS} (CSV UTF-8)")
    bom = start == b"\xef\xbb\xbf"
    nul = _find_bytes(path, b"\x00")
    if nul is not None:
        raise IngestError(_position_message(path, name, nul, "utf-8", "NUL bytes (\\x00), which no text export "
                                            "holds (a binary or UTF-16 file?)", spec, _SAVE_AS))
    bad = _first_bad_byte(path, "utf-8")
    if bad is None:
        mark = _find_bytes(path, b"\xef\xbb\xbf", start=3 if bom else 0)
        if mark is not None:
            raise IngestError(_position_message(
                path, name, mark, "utf-8", "a byte-order mark (U+FEFF), which only starts a file: two exports "
                "were probably joined into one", spec, "deliver them as separate files"))
        return "utf-8-sig" if bom else "utf-8"
    if bom or _non_ascii_before(path, bad) >= _UTF8_EVIDENCE_BYTES:
        raise IngestError(_position_message(path, name, bad, "utf-8", "not valid UTF-8", spec, _SAVE_AS))
    bad_gb = _first_bad_byte(path, "gb18030")
    if bad_gb is None:
        return "gb18030"
    raise IngestError(_position_message(path, name, bad_gb, "gb18030", "neither UTF-8 nor GB18030/GBK", spec,
                                        _SAVE_AS))


def _find_bytes(path: Path, needle: bytes, start: int = 0) -> int | None:
    """Offset of the first ``needle`` at or after ``start`` (needles hold no b'\\n', so blocks never split one)."""
    for offset, block in _blocks(path):
        at = block.find(needle, max(0, start - offset))
        if at >= 0:
            return offset + at
    return None


def _blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """Line-aligned blocks (offset, bytes); b'\\n' never occurs inside a UTF-8 or GB18030 character."""
    offset, pending = 0, b""
    with open(path, "rb") as fh:
        while True:
            data = fh.read(_BLOCK_BYTES)
            if not data:
                break
            data = pending + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                pending = data
                continue
            yield offset, data[:cut]
            offset += cut
            pending = data[cut:]
    if pending:
        yield offset, pending


def _first_bad_byte(path: Path, encoding: str) -> int | None:
    for offset, block in _blocks(path):
        try:
            block.decode(encoding)
        except UnicodeDecodeError as exc:
            return offset + exc.start
    return None


def _non_ascii_before(path: Path, end: int) -> int:
    with open(path, "rb") as fh:
        data = fh.read(min(end, 1 << 20))
    return sum(1 for b in data if b >= 0x80)


def _position_message(path: Path, name: str, bad: int, encoding: str, what: str,
                      spec: SourceSpec | None, advice: str) -> str:
    """'<file>: row R, column C ('<header>'): bytes at offset N are <what>; <advice>' for a byte offset."""
    with open(path, "rb") as fh:
        before = fh.read(bad)
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    prefix = before[line_start:].decode(encoding, errors="replace")
    header, delimiter = "", ","
    try:
        head, delimiter = _sniff_csv(path, encoding, errors="replace", lines=HEADER_SCAN_ROWS)
    except Exception:  # noqa: BLE001 - the position is still worth reporting
        head = []
    col = prefix.count(delimiter)
    if spec is not None and head:
        try:
            idx, _, positions, _ = resolve_header(head, spec, name)
            if idx + 1 < line:
                by_pos = {pos: head[idx][pos].replace("\ufeff", "").strip() for pos in positions.values()
                          if pos < len(head[idx])}
                by_pos.update({pos: head[idx - 1][pos].strip() for pos in positions.values()
                               if pos not in by_pos or not by_pos[pos]} if idx else {})
                header = f" ('{by_pos[col]}')" if by_pos.get(col) else ""
        except Exception:  # noqa: BLE001 - naming the header is a courtesy
            header = ""
    return f"{name}: row {line}, column {column_letter(col)}{header}: bytes at offset {bad} are {what}; {advice}"


def _sniff_csv(path: Path, encoding: str, errors: str = "strict", lines: int = HEADER_SCAN_ROWS
               ) -> tuple[list[list[str]], str]:
    """The first ``lines`` records (for header detection) and the delimiter (',', tab or ';')."""
    with open(path, encoding=encoding, errors=errors, newline="") as fh:
        sample = []
        for _ in range(lines):
            line = fh.readline()
            if not line:
                break
            sample.append(line)
    head_text = "".join(sample[:HEADER_SCAN_ROWS])
    delimiter = max(DELIMITERS, key=head_text.count)  # ties go to the comma
    rows = list(csv.reader(sample, delimiter=delimiter, quotechar='"'))  # the lines as read: CR-only endings too
    return rows, delimiter


def _unclosed_quote(path: Path, encoding: str | None, delimiter: str) -> tuple[int, int] | None:
    """(line, 0-based field) of a quote that opens a value and is never closed, as the CSV parser sees it
    (a quote counts only at the start of a field; '""' inside quotes is a literal quote)."""
    line, col, opened, in_quote, at_start = 1, 0, None, False, True
    with open(path, encoding=encoding or "utf-8", errors="replace", newline="") as fh:
        for text in iter(lambda: fh.read(1 << 20), ""):
            i, n = 0, len(text)
            while i < n:
                ch = text[i]
                if in_quote:
                    if ch == '"':
                        if i + 1 < n and text[i + 1] == '"':
                            i += 1
                        else:
                            in_quote = False
                    elif ch == "\n":
                        line += 1
                elif ch == '"' and at_start:
                    in_quote, opened = True, (line, col)
                elif ch == delimiter:
                    col += 1
                elif ch == "\n":
                    line, col = line + 1, 0
                at_start = not in_quote and ch in (delimiter, "\n", "\r")
                i += 1
    return opened if in_quote else None


# --- workbooks (XLSX, XLS) ---------------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Without a leading '<(?:\w+:)?' the scanner starts no attempt at every '<' (3x faster on a 20k-row sheet): only
# cells carry r="<letters><digits>" and only rows r="<digits>" (<mergeCell ref=, sqref= have no space before r=).
_CELL_COL = re.compile(rb' r="([A-Z]{1,3})\d')
_ROW_NO = re.compile(rb'row r="(\d{1,7})"')


def check_workbook(path: Path, name: str) -> None:
    """Say what an unreadable workbook really is (HTML, encrypted, a renamed CSV, a damaged zip)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    where = f"{name}: row 1, column A"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if path.suffix.lower() == ".xls":
        if head.startswith(_OLE2) or zipfile.is_zipfile(path):
            return
        if text.startswith(b"<"):
            raise IngestError(f"{where}: an HTML or XML page (web systems often export tables this way and name "
                              f"them .xls), not an Excel workbook; open it in Excel and save it as .xlsx or CSV")
        raise IngestError(f"{where}: not an Excel 97-2003 workbook (a CSV or text file renamed .xls?); export it "
                          f"again as .xls, .xlsx or CSV")
    if head.startswith(_OLE2):
        return  # an .xls named .xlsx is read; an encrypted workbook fails to open (open_workbook says so)
    if not zipfile.is_zipfile(path):
        if text.startswith(b"<"):
            raise IngestError(f"{where}: an HTML or XML page (web systems often export tables this way), not an "
                              f"XLSX workbook; open it in Excel and save it as .xlsx or CSV")
        if head.startswith(b"PK"):
            raise IngestError(f"{where}: a damaged or truncated XLSX workbook (the zip archive is incomplete); "
                              f"export or copy it again")
        raise IngestError(f"{where}: not a zip archive, so not an XLSX workbook (a CSV or text file renamed "
                          f".xlsx?); export it again as .xlsx or CSV")


def check_xlsx(path: Path, name: str) -> None:
    """:func:`check_workbook`, then the bounding-box guard of the first sheet (kept for callers of one sheet)."""
    check_workbook(path, name)
    check_sheet_box(path, name, None)


def check_sheet_box(path: Path, name: str, sheet: str | None) -> None:
    """Refuse an XLSX sheet (the first when ``sheet`` is None) whose bounding box is too large to read:
    calamine builds the whole rectangle in memory, and one stray value in XFD1048576 asks for 17 billion
    cells and aborts the process. (An .xls sheet is at most 65,536 x 256 cells.)"""
    try:
        with zipfile.ZipFile(path) as book:
            parts = _sheet_parts(book)
            part = parts.get(sheet) if sheet is not None else next(iter(parts.values()), None)
            if part is None:
                return
            rows: list[int] = []
            cols: set[bytes] = set()
            tail = b""
            with book.open(part) as fh:
                for block in iter(lambda: fh.read(4 << 20), b""):
                    data = tail + block
                    cut = max(0, len(data) - 64)
                    cols.update(_CELL_COL.findall(data, 0, cut + 32))
                    rows.extend(map(int, _ROW_NO.findall(data, 0, cut + 32)))
                    tail = data[cut:]
                cols.update(_CELL_COL.findall(tail, 32))
                rows.extend(map(int, _ROW_NO.findall(tail, 32)))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError):
        return  # calamine reports it
    if not rows or not cols:
        return
    numbers = [_column_number(c.decode()) for c in cols]
    height, width = max(rows) - min(rows) + 1, max(numbers) - min(numbers) + 1
    if height * width > MAX_XLSX_CELLS:
        which = f"sheet 「{sheet}」" if sheet is not None else "the first sheet"
        raise IngestError(
            f"{name}: row {max(rows)}, column {column_letter(max(numbers))}: {which} spans {height:,} rows x "
            f"{width:,} columns ({height * width:,} cells), too large to read; a value far from the table? "
            f"Delete the rows and columns beyond the table and save again")


def _column_number(letters: str) -> int:
    """'A' → 0, 'XFD' → 16383."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _sheet_parts(book: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its part in the zip, in workbook order."""
    workbook = book.read("xl/workbook.xml")
    rels = book.read("xl/_rels/workbook.xml.rels")
    targets = {}
    for rel in re.finditer(rb"<Relationship\b[^>]*>", rels):
        rid = re.search(rb'\bId="([^"]+)"', rel.group(0))
        target = re.search(rb'\bTarget="([^"]+)"', rel.group(0))
        if rid and target:
            t = target.group(1).decode()
            targets[rid.group(1)] = t.lstrip("/") if t.startswith("/") else f"xl/{t}"
    out = {}
    for m in re.finditer(rb"<(?:\w+:)?sheet\b[^>]*>", workbook):
        sheet_name = re.search(rb'\bname="([^"]*)"', m.group(0))
        rid = re.search(rb'\br:id="([^"]+)"', m.group(0))
        if sheet_name and rid and rid.group(1) in targets:
            out[html.unescape(sheet_name.group(1).decode("utf-8"))] = targets[rid.group(1)]
    return out


def open_workbook(path: Path, name: str) -> object:
    """The workbook (python-calamine reads .xlsx and .xls alike), after :func:`check_workbook`."""
    check_workbook(path, name)
    try:
        from python_calamine import CalamineWorkbook

        with open(path, "rb") as fh:  # by content, not by name: an .xlsx saved with an .xls name is read too
            return CalamineWorkbook.from_filelike(io.BytesIO(fh.read()))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types
        with open(path, "rb") as fh:
            ole2 = fh.read(8) == _OLE2
        if ole2:  # an encrypted OOXML package is an OLE2 container, as is a password-protected .xls
            raise IngestError(f"{name}: row 1, column A: a password-protected (encrypted) workbook, or a damaged "
                              f"Excel 97-2003 file; remove the password, or save it again as .xlsx") from None
        raise IngestError(f"{name}: row 1, column A: not a readable {_kind(path)} workbook "
                          f"({type(exc).__name__})") from None


def _kind(path: Path) -> str:
    return "XLS" if path.suffix.lower() == ".xls" else "XLSX"


def _load_sheet(book: object, name: str, sheet: str) -> object:
    try:
        return book.get_sheet_by_name(sheet)
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{name}: 工作表「{sheet}」 row 1, column A: the sheet cannot be read "
                          f"({type(exc).__name__})") from None


def _sheet_rows(path: Path, name: str, sheet_name: str | None, sheet: object | None = None) -> Iterator[list[object]]:
    """Rows of one sheet; ``sheet`` is one already loaded (loading costs as much as reading, so the header scan
    and the data pass share one)."""
    if sheet is None:
        book = open_workbook(path, name)
        sheet = _load_sheet(book, name, sheet_name) if sheet_name is not None else book.get_sheet_by_index(0)
    try:
        rows = sheet.iter_rows()
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{name}: row 1, column A: not a readable {_kind(path)} workbook "
                          f"({type(exc).__name__})") from None
    yield from rows


def _cell_text(value: object) -> str | None:
    """A spreadsheet cell as text: dates ISO, integral numbers without '.0', empty → None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
