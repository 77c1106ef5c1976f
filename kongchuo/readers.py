"""Reading one landed extract (CSV or XLSX) into chunks of raw text cells under canonical column names.

- Encoding (CSV): UTF-8 with or without BOM, else GB18030 (a superset of GBK and GB2312). The whole file is
  checked in line-aligned blocks before parsing, so an undecodable byte is reported with its line number.
- XLSX: the first sheet, read with python-calamine. Cells may be dates, datetimes, Excel serial numbers,
  numbers or text; every cell is turned into text (dates as ISO text, integral numbers without ``.0``) and
  the typed parsing is left to :mod:`kongchuo.normalize`.
- Header row: the first of the first :data:`HEADER_SCAN_ROWS` rows in which at least two cells are known
  header names of the source (titles above the header are common in Chinese exports). Unknown columns are
  ignored and reported; two headers for one canonical column, or a missing required column, are errors.
- Row numbers (``row_no``) are what a person sees: the row number in Excel, or the line number in a text
  editor (a record spanning several lines because of a quoted line break counts as one row).
- Memory stays bounded: CSV is parsed in chunks of :data:`CHUNK_ROWS` rows; XLSX rows are streamed.

Errors are :class:`IngestError`; the message names the file, the row and the column, and never quotes a
cell value (cells hold minors' names and ID numbers). File-level problems caught before parsing: an empty
file; UTF-16 text; NUL bytes or a byte-order mark inside a UTF-8 file (two exports joined); a cell longer
than Excel's 32,767 characters; a quote opened and never closed; an "XLSX" that is HTML, an encrypted or
legacy OLE2 workbook, not a zip or a damaged one; a stray cell so far from the table that reading the
sheet would exhaust memory (calamine materialises the sheet's bounding box).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from kongchuo.excel import column_letter
from kongchuo.sources import SourceSpec, normalize_header

HEADER_SCAN_ROWS = 10
CHUNK_ROWS = 500_000
SUPPORTED_SUFFIXES = (".csv", ".xlsx")
_BLOCK_BYTES = 16 << 20
_UTF8_EVIDENCE_BYTES = 24  # this many valid non-ASCII UTF-8 bytes before a bad byte: it is a broken UTF-8 file
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell: anything longer did not come from a spreadsheet
MAX_XLSX_CELLS = 30_000_000  # bounding box of the first sheet (1,048,576 rows x ~28 columns)
DELIMITERS = (",", "\t", ";")

csv.field_size_limit(2**31 - 1)  # header sniffing must reach the over-long cell to name it, not crash on it


class IngestError(Exception):
    """A file-level problem that sends the whole file to quarantine. The message is safe to log."""


@dataclass
class SourceFile:
    """An opened extract: its header, then :meth:`chunks` of canonical text cells plus ``row_no``."""

    path: Path
    name: str
    spec: SourceSpec
    encoding: str | None
    header_row: int  # 1-based
    header_map: dict[str, str]  # raw header text -> canonical column
    positions: dict[str, int]  # canonical column -> 0-based column position
    ignored_columns: list[str] = field(default_factory=list)
    delimiter: str = ","
    width: int = 0
    sheet: object | None = field(default=None, repr=False)  # XLSX: the first sheet, loaded while finding the header

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        if self.path.suffix.lower() == ".xlsx":
            yield from self._xlsx_chunks(chunk_rows)
        else:
            yield from self._csv_chunks(chunk_rows)

    # -- CSV ---------------------------------------------------------------------------------------
    def _csv_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        reader = pd.read_csv(
            self.path, sep=self.delimiter, header=None, names=list(range(self.width)), index_col=False,
            dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False, encoding=self.encoding,
            chunksize=chunk_rows, engine="c", quotechar='"',
        )
        try:
            with reader:
                for chunk in reader:
                    frame = self._select(chunk, chunk.index.to_numpy() + 1)
                    if frame is not None:
                        yield frame
        except pd.errors.ParserError as exc:
            raise IngestError(self._parser_error(str(exc))) from None

    def _parser_error(self, message: str) -> str:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        if m:
            expected, line, saw = (int(g) for g in m.groups())
            return (f"{self.name}: row {line}, column {column_letter(saw - 1)}: the row has {saw} fields, "
                    f"more than the {expected} columns of the header (row {self.header_row})")
        m = re.search(r"EOF inside string starting at row (\d+)", message)
        if m:
            found = _unclosed_quote(self.path, self.encoding, self.delimiter)
            where = (f"row {found[0]}, column {column_letter(found[1])}{self._label_at(found[1])}" if found
                     else f"row {int(m.group(1)) + 1}, column ?")
            return (f"{self.name}: {where}: a quote (\") opens a value that is never closed, so the rest of the "
                    f"file would be read as one cell; close or remove the quote")
        m = re.search(r"line (\d+)", message)
        row = m.group(1) if m else "?"
        detail = re.sub(r"'[^']*'", "'…'", message.split("\n")[0])
        return f"{self.name}: row {row}, column ?: the CSV cannot be parsed ({detail})"

    # -- XLSX --------------------------------------------------------------------------------------
    def _xlsx_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        rows: list[list[object]] = []
        first = 0
        sheet, self.sheet = self.sheet, None  # read once; a second pass loads the file again
        for i, row in enumerate(_xlsx_rows(self.path, self.name, sheet)):
            if i < self.header_row:  # header_row is 1-based, so this skips the header too
                continue
            if not rows:
                first = i
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield from self._xlsx_frame(rows, first)
                rows = []
        if rows:
            yield from self._xlsx_frame(rows, first)

    def _xlsx_frame(self, rows: list[list[object]], first: int) -> Iterator[pd.DataFrame]:
        cols = {}
        width = min(len(r) for r in rows)
        for canonical, pos in self.positions.items():
            # Most cells are text already: only the others go through _cell_text (a call per cell costs ~1 µs).
            values = [r[pos] for r in rows] if pos < width else [r[pos] if pos < len(r) else None for r in rows]
            cols[pos] = pd.Series([v if type(v) is str else _cell_text(v) for v in values], dtype="str")
        chunk = pd.DataFrame(cols)
        chunk.index = pd.RangeIndex(first, first + len(rows))
        frame = self._select(chunk, chunk.index.to_numpy() + 1)
        if frame is not None:
            yield frame

    # -- shared --------------------------------------------------------------------------------------
    def _select(self, chunk: pd.DataFrame, row_numbers) -> pd.DataFrame | None:
        """Data rows below the header, canonical names, ``row_no``; rows empty in every known column dropped."""
        keep = row_numbers > self.header_row
        frame = chunk.loc[keep, list(self.positions.values())]
        frame.columns = list(self.positions.keys())
        frame = frame.astype("str")
        rows = row_numbers[keep]
        for col in frame.columns:  # whitespace-only cells count as empty
            too_long = (frame[col].str.len() > MAX_CELL_CHARS).fillna(False).to_numpy(dtype=bool)
            if too_long.any():
                raise IngestError(self._long_cell_message(int(rows[too_long.argmax()]), col))
            frame[col] = frame[col].where(frame[col].str.strip().str.len() > 0)
        frame["row_no"] = rows.astype("int64")
        frame = frame[frame.drop(columns="row_no").notna().any(axis=1)]
        return frame.reset_index(drop=True) if len(frame) else None

    def _long_cell_message(self, row: int, col: str) -> str:
        return (f"{self.name}: row {row}, column {column_letter(self.positions[col])}"
                f"{self._label_at(self.positions[col])}: the cell is longer than {MAX_CELL_CHARS:,} characters "
                f"(Excel's limit for a cell); the export is damaged")

    def _label_at(self, pos: int) -> str:
        label = next((raw for raw, c in self.header_map.items() if self.positions.get(c) == pos), None)
        return f" ('{label}')" if label else ""


def open_source_file(path: Path, spec: SourceSpec, name: str | None = None) -> SourceFile:
    """Detect the encoding and header of ``path``; raise :class:`IngestError` for file-level problems.

    ``name`` is the file name people know (the landing name), used in every message.
    """
    path = Path(path)
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"{name}: row 1, column A: unsupported file type '{suffix or '(none)'}' "
                          f"(expected {', '.join(SUPPORTED_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise IngestError(f"{name}: row 1, column A: the file is empty (0 bytes)")
    if suffix == ".xlsx":
        check_xlsx(path, name)
        sheet = _first_sheet(path, name)
        head = []
        for i, row in enumerate(_xlsx_rows(path, name, sheet)):
            if i >= HEADER_SCAN_ROWS:
                break
            head.append([_cell_text(v) or "" for v in row])
        encoding, delimiter = None, ","
    else:
        sheet = None
        encoding = detect_encoding(path, name, spec)
        head, delimiter = _sniff_csv(path, encoding, lines=HEADER_SCAN_ROWS)
    header_idx, header_map, positions, ignored = resolve_header(head, spec, name)
    # A CSV data row with more fields than the header (or the title rows above it) is an error: its values
    # would sit under the wrong headers.
    width = max(len(r) for r in head[: header_idx + 1])
    opened = SourceFile(path, name, spec, encoding, header_idx + 1, header_map, positions, ignored, delimiter, width)
    opened.sheet = sheet
    return opened


def resolve_header(head: list[list[str]], spec: SourceSpec, name: str
                   ) -> tuple[int, dict[str, str], dict[str, int], list[str]]:
    """Find the header among the first rows; returns (0-based index of the last header row, raw→canonical,
    positions, ignored).

    A two-row header (a group title such as 基本信息 merged over its columns, their names in the row below,
    the other headers merged down over both rows) is read as one: when every non-empty cell of the row under
    the header is a known header name in a column the header row left empty or unknown, the two rows combine.
    """
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
        header_map: dict[str, str] = {}
        positions: dict[str, int] = {}
        text = dict(hits)
        for pos, cell in hits:
            canonical = aliases[normalize_header(cell)]
            if canonical in positions:
                first = positions[canonical]
                raise IngestError(
                    f"{name}: {rows} (header), columns {column_letter(first)} and {column_letter(pos)}: "
                    f"headers '{text[first].strip()}' and '{cell.strip()}' both map to column '{canonical}'"
                )
            positions[canonical] = pos
            header_map[cell.strip()] = canonical
        for col in spec.required:
            if col not in positions:
                label = spec.column(col).label
                raise IngestError(f"{name}: {rows} (header): required column '{col}' ({label}) missing")
        if spec.one_of and not any(c in positions for c in spec.one_of):
            wanted = " or ".join(f"'{c}' ({spec.column(c).label})" for c in spec.one_of)
            raise IngestError(f"{name}: {rows} (header): required column {wanted} missing")
        known = set(text)
        ignored = [cell.strip() for p, cell in enumerate(row) if cell and cell.strip() and p not in known]
        return last, header_map, positions, ignored
    examples = ", ".join(spec.column(c).label for c in spec.required[:3])
    n = max(1, min(len(head), HEADER_SCAN_ROWS))
    width = max([len(r) for r in head[:n]] + [1])
    rows = "row 1" if n == 1 else f"rows 1-{n}"
    cols = "column A" if width == 1 else f"columns A-{column_letter(width - 1)}"
    raise IngestError(f"{name}: {rows} (header), {cols}: no header row found; no row has two or more "
                      f"known {spec.name} column names (expected e.g. {examples})")


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


# --- XLSX -------------------------------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CELL_COL = re.compile(rb'<(?:\w+:)?c r="([A-Z]{1,3})\d')
_ROW_NO = re.compile(rb'<(?:\w+:)?row r="(\d{1,7})"')


def check_xlsx(path: Path, name: str) -> None:
    """Say what an unreadable 'XLSX' really is, and refuse a first sheet whose bounding box is too large to
    read (calamine builds the whole rectangle in memory: one stray value in XFD1048576 asks for 17 billion
    cells and aborts the process)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    where = f"{name}: row 1, column A"
    if head.startswith(_OLE2):
        raise IngestError(f"{where}: a password-protected (encrypted) workbook, or an old binary .xls named "
                          f".xlsx; remove the password, or save it as an .xlsx workbook")
    if not zipfile.is_zipfile(path):
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if text.startswith(b"<"):
            raise IngestError(f"{where}: an HTML or XML page (web systems often export tables this way), not an "
                              f"XLSX workbook; open it in Excel and save it as .xlsx or CSV")
        if head.startswith(b"PK"):
            raise IngestError(f"{where}: a damaged or truncated XLSX workbook (the zip archive is incomplete); "
                              f"export or copy it again")
        raise IngestError(f"{where}: not a zip archive, so not an XLSX workbook (a CSV or text file renamed "
                          f".xlsx?); export it again as .xlsx or CSV")
    try:
        with zipfile.ZipFile(path) as book:
            sheet = _first_sheet_part(book)
            if sheet is None:
                return
            rows: list[int] = []
            cols: set[bytes] = set()
            tail = b""
            with book.open(sheet) as fh:
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
        raise IngestError(
            f"{name}: row {max(rows)}, column {column_letter(max(numbers))}: the first sheet spans {height:,} rows x "
            f"{width:,} columns ({height * width:,} cells), too large to read; a value far from the table? "
            f"Delete the rows and columns beyond the table and save again")


def _column_number(letters: str) -> int:
    """'A' → 0, 'XFD' → 16383."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _first_sheet_part(book: zipfile.ZipFile) -> str | None:
    workbook = book.read("xl/workbook.xml")
    m = re.search(rb'<(?:\w+:)?sheet\b[^>]*?\br:id="([^"]+)"', workbook)
    if not m:
        return None
    rels = book.read("xl/_rels/workbook.xml.rels")
    for rel in re.finditer(rb"<Relationship\b[^>]*>", rels):
        if re.search(rb'\bId="' + re.escape(m.group(1)) + rb'"', rel.group(0)):
            target = re.search(rb'\bTarget="([^"]+)"', rel.group(0))
            if target:
                t = target.group(1).decode()
                return t.lstrip("/") if t.startswith("/") else f"xl/{t}"
    return None


def _first_sheet(path: Path, name: str) -> object:
    """The first sheet, loaded whole by calamine (check_xlsx has made sure its bounding box is sane)."""
    try:
        from python_calamine import CalamineWorkbook

        return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types
        raise IngestError(f"{name}: row 1, column A: not a readable XLSX workbook ({type(exc).__name__})") from None


def _xlsx_rows(path: Path, name: str, sheet: object | None = None) -> Iterator[list[object]]:
    """Rows of the first sheet; ``sheet`` is one already loaded by :func:`_first_sheet` (loading costs as
    much as reading, so the header scan and the data pass share one)."""
    if sheet is None:
        sheet = _first_sheet(path, name)
    try:
        rows = sheet.iter_rows()
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{name}: row 1, column A: not a readable XLSX workbook ({type(exc).__name__})") from None
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
