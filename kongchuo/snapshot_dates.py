"""The date of a delivered file: its export date (a 导出日期/统计日期 line or column), else a date in its file
name, else its landing time. Never the order of file names (DESIGN.md "Snapshots, and publishing only what is
whole").

File-name dates: ``20260915`` (that day), ``2026-09`` / ``2026.09`` / ``2026年9月`` (the first of the month), and
``9月`` alone (the first of that month in the most recent year not after the landing time: the term's year).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

EXPORT_DATE_WORDS = ("导出日期", "统计日期", "导出时间", "统计时间", "截止日期", "数据日期")
HEAD_BYTES = 64 << 10
HEAD_ROWS = 12

_FULL = re.compile(r"(?<!\d)(20\d{2})[-./年]?(0[1-9]|1[0-2])[-./月]?(0[1-9]|[12]\d|3[01])(?:日)?(?!\d)")
_LOOSE_FULL = re.compile(r"(?<!\d)(20\d{2})[-./年](\d{1,2})[-./月](\d{1,2})日?(?!\d)")
_YEAR_MONTH = re.compile(r"(?<!\d)(20\d{2})(?:[-._]|年)(\d{1,2})(?:月)?(?!\d)")
_MONTH_ONLY = re.compile(r"(?<!\d)(\d{1,2})月")


_CORRECTION = re.compile(r"([_\-\s.]*(更正|修正|补报|重报|修改|新|最终|[vV]\d+|\(\d+\)|（\d+）|副本))+$")


def delivery_key(name: str) -> str:
    """The name a replacement carries: base name without suffix, folder and trailing correction marks
    (``一中学籍_更正.xlsx`` → ``一中学籍``)."""
    base = name.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return _CORRECTION.sub("", stem).strip() or stem


def _date(y: str | int, m: str | int, d: str | int = 1) -> dt.date | None:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        return None


def parse_text_date(text: str) -> dt.date | None:
    """A full date in ``text`` (2026-09-15, 2026/9/15, 20260915, 2026年9月15日, 2026-09-15 10:30)."""
    for pattern in (_FULL, _LOOSE_FULL):
        m = pattern.search(text)
        if m and (found := _date(*m.groups())):
            return found
    return None


def date_in_name(name: str, landed_at: dt.datetime) -> dt.date | None:
    """The date a file name carries, if any (see module doc). School codes (10 digits) are not dates."""
    stem = re.sub(r"\d{10,}", " ", name.rsplit("/", 1)[-1])
    m = _FULL.search(stem)
    if m and (found := _date(*m.groups())):
        return found
    m = _YEAR_MONTH.search(stem)
    if m and (found := _date(m.group(1), m.group(2))):
        return found
    m = _MONTH_ONLY.search(stem)
    if m and 1 <= int(m.group(1)) <= 12:
        month = int(m.group(1))
        year = landed_at.year if month <= landed_at.month else landed_at.year - 1
        return dt.date(year, month, 1)
    return None


def _head_rows_csv(path: Path, encoding: str) -> list[list[str]]:
    with open(path, "rb") as fh:
        text = fh.read(HEAD_BYTES).decode(encoding or "utf-8", errors="replace")
    return list(csv.reader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n"))))[:HEAD_ROWS]


def _head_rows_xlsx(path: Path) -> list[list[str]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    sheet = book.get_sheet_by_index(0)
    rows = []
    for i, row in enumerate(sheet.iter_rows()):
        if i >= HEAD_ROWS:
            break
        rows.append(["" if v is None else str(v) for v in row])
    return rows


def export_date(path: Path, encoding: str | None) -> dt.date | None:
    """A 导出日期/统计日期 written above the table (``导出日期：2026-09-15``) or as a column (its first value)."""
    try:
        rows = _head_rows_xlsx(path) if encoding in (None, "xlsx") else _head_rows_csv(path, encoding)
    except Exception:  # noqa: BLE001 - an unreadable head means no export date, the reader reports the file
        return None
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if not any(word in cell for word in EXPORT_DATE_WORDS):
                continue
            found = parse_text_date(cell) or (parse_text_date(row[c + 1]) if c + 1 < len(row) else None)
            if found is None and r + 1 < len(rows) and c < len(rows[r + 1]):
                found = parse_text_date(rows[r + 1][c])  # a column: the first data row's value
            if found:
                return found
    return None


def snapshot_date(path: Path, encoding: str | None, name: str, landed_at: dt.datetime) -> tuple[dt.date, str]:
    """The file's date and where it came from: 'export' | 'name' | 'landed'."""
    found = export_date(path, encoding)
    if found:
        return found, "export"
    found = date_in_name(name, landed_at)
    if found:
        return found, "name"
    return landed_at.date(), "landed"
