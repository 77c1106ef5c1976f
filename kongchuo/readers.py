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
cell value (cells hold minors' names and ID numbers).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from kongchuo.sources import SourceSpec, normalize_header

HEADER_SCAN_ROWS = 10
CHUNK_ROWS = 500_000
SUPPORTED_SUFFIXES = (".csv", ".xlsx")
_BLOCK_BYTES = 16 << 20
_UTF8_EVIDENCE_BYTES = 24  # this many valid non-ASCII UTF-8 bytes before a bad byte: it is a broken UTF-8 file


class IngestError(Exception):
    """A file-level problem that sends the whole file to quarantine. The message is safe to log."""


def column_letter(index: int) -> str:
    """0 → 'A', 25 → 'Z', 26 → 'AA' (how Excel names columns)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


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
        m = re.search(r"line (\d+)", message)
        row = m.group(1) if m else "?"
        detail = re.sub(r"'[^']*'", "'…'", message.split("\n")[0])
        return f"{self.name}: row {row}, column ?: the CSV cannot be parsed ({detail})"

    # -- XLSX --------------------------------------------------------------------------------------
    def _xlsx_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        rows: list[list[object]] = []
        first = 0
        for i, row in enumerate(_xlsx_rows(self.path, self.name)):
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
        for canonical, pos in self.positions.items():
            cols[pos] = pd.Series([_cell_text(r[pos]) if pos < len(r) else None for r in rows], dtype="str")
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
        for col in frame.columns:  # whitespace-only cells count as empty
            frame[col] = frame[col].where(frame[col].str.strip().str.len() > 0)
        frame["row_no"] = row_numbers[keep].astype("int64")
        frame = frame[frame.drop(columns="row_no").notna().any(axis=1)]
        return frame.reset_index(drop=True) if len(frame) else None


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
    if suffix == ".xlsx":
        head = []
        for i, row in enumerate(_xlsx_rows(path, name)):
            if i >= HEADER_SCAN_ROWS:
                break
            head.append([_cell_text(v) or "" for v in row])
        encoding, delimiter = None, ","
    else:
        encoding = detect_encoding(path, name, spec)
        head, delimiter = _sniff_csv(path, encoding, lines=HEADER_SCAN_ROWS)
    header_idx, header_map, positions, ignored = resolve_header(head, spec, name)
    # A CSV data row with more fields than the header (or the title rows above it) is an error: its values
    # would sit under the wrong headers.
    width = max(len(r) for r in head[: header_idx + 1])
    return SourceFile(path, name, spec, encoding, header_idx + 1, header_map, positions, ignored, delimiter, width)


def resolve_header(head: list[list[str]], spec: SourceSpec, name: str
                   ) -> tuple[int, dict[str, str], dict[str, int], list[str]]:
    """Find the header among the first rows; returns (0-based row index, raw→canonical, positions, ignored)."""
    aliases = spec.alias_map
    for idx, row in enumerate(head[:HEADER_SCAN_ROWS]):
        hits = [(pos, cell) for pos, cell in enumerate(row) if cell and normalize_header(cell) in aliases]
        if len(hits) < 2:
            continue
        row_no = idx + 1
        header_map: dict[str, str] = {}
        positions: dict[str, int] = {}
        for pos, cell in hits:
            canonical = aliases[normalize_header(cell)]
            if canonical in positions:
                first = positions[canonical]
                raise IngestError(
                    f"{name}: row {row_no} (header), columns {column_letter(first)} and {column_letter(pos)}: "
                    f"headers '{row[first].strip()}' and '{cell.strip()}' both map to column '{canonical}'"
                )
            positions[canonical] = pos
            header_map[cell.strip()] = canonical
        for col in spec.required:
            if col not in positions:
                label = spec.column(col).label
                raise IngestError(f"{name}: row {row_no} (header): required column '{col}' ({label}) missing")
        if spec.one_of and not any(c in positions for c in spec.one_of):
            wanted = " or ".join(f"'{c}' ({spec.column(c).label})" for c in spec.one_of)
            raise IngestError(f"{name}: row {row_no} (header): required column {wanted} missing")
        known = {p for p, _ in hits}
        ignored = [cell.strip() for p, cell in enumerate(row) if cell and cell.strip() and p not in known]
        return idx, header_map, positions, ignored
    examples = ", ".join(spec.column(c).label for c in spec.required[:3])
    return_rows = f"rows 1-{max(1, min(len(head), HEADER_SCAN_ROWS))}"
    raise IngestError(f"{name}: {return_rows} (header), all columns: no header row found; no row has two or more "
                      f"known {spec.name} column names (expected e.g. {examples})")


# --- encodings --------------------------------------------------------------------------------------

def detect_encoding(path: Path, name: str | None = None, spec: SourceSpec | None = None) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030'; :class:`IngestError` with row and column if neither decodes."""
    name = name or Path(path).name
    with open(path, "rb") as fh:
        bom = fh.read(3) == b"\xef\xbb\xbf"
    bad = _first_bad_byte(path, "utf-8")
    if bad is None:
        return "utf-8-sig" if bom else "utf-8"
    if bom or _non_ascii_before(path, bad) >= _UTF8_EVIDENCE_BYTES:
        raise IngestError(_decode_message(path, name, bad, "utf-8", "not valid UTF-8", spec))
    bad_gb = _first_bad_byte(path, "gb18030")
    if bad_gb is None:
        return "gb18030"
    raise IngestError(_decode_message(path, name, bad_gb, "gb18030", "neither UTF-8 nor GB18030/GBK", spec))


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


def _decode_message(path: Path, name: str, bad: int, encoding: str, what: str,
                    spec: SourceSpec | None = None) -> str:
    with open(path, "rb") as fh:
        before = fh.read(bad)
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    prefix = before[line_start:].decode(encoding, errors="replace")
    col = prefix.count("," if prefix.count(",") >= prefix.count("\t") else "\t")
    header = ""
    if spec is not None:
        try:
            head, _ = _sniff_csv(path, encoding, errors="replace", lines=HEADER_SCAN_ROWS)
            idx, _, positions, _ = resolve_header(head, spec, name)
            if idx + 1 < line:
                by_pos = {pos: head[idx][pos].strip() for pos in positions.values()}
                header = f" ('{by_pos[col]}')" if col in by_pos else ""
        except Exception:  # noqa: BLE001 - naming the header is a courtesy
            header = ""
    return (f"{name}: row {line}, column {column_letter(col)}{header}: bytes at offset {bad} are {what}; "
            f"save the file as UTF-8 or GBK")


def _sniff_csv(path: Path, encoding: str, errors: str = "strict", lines: int = HEADER_SCAN_ROWS
               ) -> tuple[list[list[str]], str]:
    """The first ``lines`` records (for header detection) and the delimiter (',' or tab)."""
    with open(path, encoding=encoding, errors=errors, newline="") as fh:
        sample = []
        for _ in range(lines):
            line = fh.readline()
            if not line:
                break
            sample.append(line)
    head_text = "".join(sample[:HEADER_SCAN_ROWS])
    delimiter = "\t" if head_text.count("\t") > head_text.count(",") else ","
    rows = list(csv.reader(io.StringIO("".join(sample)), delimiter=delimiter, quotechar='"'))
    return rows, delimiter


# --- XLSX -------------------------------------------------------------------------------------------

def _xlsx_rows(path: Path, name: str) -> Iterator[list[object]]:
    try:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types
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
