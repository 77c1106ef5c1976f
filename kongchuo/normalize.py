"""Value normalisation: raw text cells of one source → the typed, canonical columns of ``staged.<source>``.

Everything works on whole pandas Series. Columns with few distinct values (dates, codes, grades, flags)
are parsed once per distinct value and spread back with ``take`` (:func:`_by_unique`), so a 2M-row roll
call with 22 school days parses 22 dates, not 2M. Nothing here raises for a bad value: a value that does
not parse becomes NULL, and the original text stays in ``<col>_raw`` where the staged table has one
(the DQ03 check reports those with file, row and column).

Canonical forms (see :mod:`kongchuo.sources`): dates as ``date32``; gender ``M``/``F``; flags boolean
(an absent column or an empty cell is false, an unrecognised word is NULL); grades 1..9 (``初一`` = 7);
ID numbers through :func:`kongchuo.idnumber.normalize_series`; student numbers stripped, upper-case,
full-width → ASCII.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kongchuo import idnumber
from kongchuo.sources import FLAG, GRADE_WORDS, Column, SourceSpec
from warehouse.layout import staged_columns

DATE_DTYPE = pd.ArrowDtype(pa.date32())
TEXT_DTYPE = "string"

# The column whose range raw.files records as min_date/max_date (snapshots have none).
MAIN_DATE_COLUMN: dict[str, str | None] = {
    "registry": None,
    "census": None,
    "attendance": "date",
    "casework": "attempt_date",
    "exemptions": "approved_on",
    "home_teaching": "visit_date",
}

_EXCEL_EPOCH = np.datetime64("1899-12-30")  # 1900 date system, including Lotus' phantom 29 Feb 1900
_FULLWIDTH = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "})
_FULLWIDTH_CHARS = "[\uff01-\uff5e\u3000]"

_YMD = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_YMD8 = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$")
_YM = re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*月?$")  # 入学年月: first of the month
_YM6 = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})$")
_SERIAL = re.compile(r"^\d{1,5}(?:\.\d+)?$")
# Excel's error values, as a CSV export or a text cell carries them: never a name, a code or a number.
EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
                          "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"})


# --- helpers ---------------------------------------------------------------------------------------------

def as_text(raw: pd.Series) -> pd.Series:
    """The raw cells as nullable strings: full-width ASCII folded, trimmed, empty → NULL."""
    s = fold_fullwidth(raw.astype(TEXT_DTYPE), _FULLWIDTH, _FULLWIDTH_CHARS).str.strip()
    return s.where(s.str.len() > 0)


def fold_fullwidth(s: pd.Series, table: dict, chars: str) -> pd.Series:
    """``s.str.translate(table)`` on the few values that hold one of ``chars`` only: translate runs a Python
    call per value (4 s per million), the regex test that finds them runs in Arrow (0.3 s per million)."""
    wide = s.str.contains(chars, regex=True).fillna(False).to_numpy(dtype=bool)
    if not wide.any():
        return s
    s = s.copy()
    s[wide] = s[wide].str.translate(table)
    return s


# Python's \s in RE2 syntax: RE2's own \s is ASCII only; Python's also takes Unicode separators (NBSP,
# U+3000...), \x1c-\x1f and \x85.
_RE2_WHITESPACE = r"[\s\v\p{Z}\x{1c}-\x{1f}\x{85}]+"


def drop_whitespace(s: pd.Series) -> pd.Series:
    """``s.str.replace(r"\s+", "", regex=True)`` in Arrow: pandas' nullable ``string`` dtype runs a regex
    replacement as a Python call per value (0.45 µs a value; ID and student numbers are all distinct), Arrow's
    RE2 kernel does a column at once (~6x faster)."""
    if not isinstance(s.array, pd.arrays.ArrowStringArray):
        return s.str.replace(r"\s+", "", regex=True)
    out = pc.replace_substring_regex(pa.chunked_array(pa.array(s.array)), _RE2_WHITESPACE, "")
    return pd.Series(pd.arrays.ArrowStringArray(out), index=s.index, dtype=s.dtype)


def _by_unique(raw: pd.Series, parse: Callable[[pd.Series], pd.Series], dtype) -> pd.Series:
    """Apply ``parse`` to the distinct values of ``raw`` only, then spread the results back by position."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    if len(uniques) == 0:  # an absent column or an all-empty one
        return pd.Series(pd.array([None] * len(raw), dtype=dtype), index=raw.index)
    parsed = parse(pd.Series(np.asarray(uniques, dtype=object), dtype=TEXT_DTYPE)).astype(dtype)
    # Sentinel -1 (NULL input) points at an extra NULL appended to the parsed uniques.
    values = pd.concat([parsed, pd.Series(pd.array([None], dtype=dtype))], ignore_index=True)
    return pd.Series(values.array.take(np.where(codes < 0, len(parsed), codes)), index=raw.index)


def _vocab_key(s: pd.Series) -> pd.Series:
    return drop_whitespace(as_text(s)).str.lower()


def vocab_key(text: str) -> str:
    """:func:`_vocab_key` for one word (building lookup tables)."""
    return re.sub(r"\s+", "", str(text).translate(_FULLWIDTH)).lower()


_TABLES: dict[tuple, dict[str, object]] = {}


def _lookup_table(vocabulary: dict) -> dict[str, object]:
    """Normalised word -> canonical code; canonical codes map to themselves (cached per vocabulary)."""
    cache_key = tuple(vocabulary.items())
    table = _TABLES.get(cache_key)
    if table is None:
        table = {vocab_key(v): v for v in set(vocabulary.values()) if isinstance(v, str)}
        table.update({vocab_key(k): v for k, v in vocabulary.items()})
        _TABLES[cache_key] = table
    return table


# --- value kinds ---------------------------------------------------------------------------------------

def parse_dates(raw: pd.Series) -> pd.Series:
    """``2010-03-05``, ``2010/3/5``, ``2010.3.5``, ``20100305``, ``2010年3月5日``, ``2010-03-05 00:00:00``,
    year-months (``2019-09``, ``201909``, ``2019年9月`` → the 1st), Excel serial numbers (``40242``,
    ``40242.0``), and date/datetime objects. Anything else, or an impossible date → NULL."""
    if raw.dtype == object and len(raw):
        # datetimes straight from a spreadsheet reader
        is_dt = raw.map(lambda v: hasattr(v, "year") and hasattr(v, "month"), na_action="ignore").fillna(False)
        if bool(is_dt.any()):
            raw = raw.where(~is_dt.astype(bool), raw[is_dt.astype(bool)].map(lambda v: v.strftime("%Y-%m-%d")))
    return _by_unique(as_text(raw), _parse_date_texts, DATE_DTYPE)


def _parse_date_texts(s: pd.Series) -> pd.Series:
    parts = pd.DataFrame(index=s.index, columns=["y", "m", "d"], dtype="float64")
    for pattern in (_YMD, _YMD8, _YM, _YM6):
        todo = parts["y"].isna()
        if not todo.any():
            break
        got = s[todo].str.extract(pattern).apply(pd.to_numeric, errors="coerce")
        if "d" not in got:
            got["d"] = np.where(got["y"].notna(), 1.0, np.nan)
        parts.loc[todo, ["y", "m", "d"]] = got[["y", "m", "d"]].to_numpy(dtype="float64")
    ok = parts["y"].between(1900, 2100) & parts["m"].between(1, 12) & parts["d"].between(1, 31)
    out = pd.to_datetime(
        pd.DataFrame({"year": parts["y"].where(ok, 2000), "month": parts["m"].where(ok, 1),
                      "day": parts["d"].where(ok, 1)}).astype("int64"),
        errors="coerce",
    ).where(ok)
    # Invalid calendar days (31 Feb) come back as NaT from to_datetime with errors='coerce'.
    serial = s.str.match(_SERIAL).fillna(False).astype(bool) & parts["y"].isna()
    if serial.any():
        days = pd.to_numeric(s[serial], errors="coerce").astype("float64")
        days = days.where(days.between(1, 73050))  # up to 2099
        stamp = _EXCEL_EPOCH + np.floor(days.fillna(0).to_numpy()).astype("timedelta64[D]")
        out.loc[serial] = pd.Series(stamp, index=days.index).where(days.notna())
    return pd.Series(out.dt.date.to_numpy(dtype=object), index=s.index).astype(DATE_DTYPE)


def parse_codes(raw: pd.Series, vocabulary: dict[str, str]) -> pd.Series:
    """Map raw words to canonical codes (case, width and whitespace insensitive); unknown → NULL."""
    table = _lookup_table(vocabulary)
    return _by_unique(_vocab_key(raw), lambda u: u.map(table).astype(TEXT_DTYPE), TEXT_DTYPE)


def parse_flags(raw: pd.Series) -> pd.Series:
    """是/否, Y/N, 1/0, true/false, 有/无 → boolean; an empty cell is false, an unknown word NULL."""
    table = _lookup_table(FLAG)
    key = _vocab_key(raw)
    out = _by_unique(key, lambda u: u.map(table).astype("boolean"), "boolean")
    return out.where(key.notna(), False).astype("boolean")


_GRADE = re.compile(r"^(小学|初中|初)?(\d{1,2}|[一二三四五六七八九])(?:年级)?$")


def _grade_of(text: str) -> int | None:
    m = _GRADE.match(text)
    if not m:
        return None
    prefix, number = m.groups()
    value = int(number) if number.isdigit() else GRADE_WORDS[number]
    if prefix in ("初中", "初") and value <= 3:
        value += 6
    return value if 1 <= value <= 9 else None


def parse_grades(raw: pd.Series) -> pd.Series:
    """``3``, ``03``, ``3年级``, ``三年级``, ``七年级``, ``初一``..``初三`` (7..9), ``初中二年级`` → 1..9."""
    key = _vocab_key(raw)
    return _by_unique(key, lambda u: u.map(_grade_of, na_action="ignore").astype("Int64"), "Int64")


def parse_numbers(raw: pd.Series) -> pd.Series:
    """Decimal numbers, with a trailing unit tolerated (``3``, ``3.0``, ``3课时``, ``2节``)."""
    key = _vocab_key(raw)

    def parse(u: pd.Series) -> pd.Series:
        return pd.to_numeric(u.str.extract(r"^(\d+(?:\.\d+)?)\D*$")[0], errors="coerce").astype("Float64")

    return _by_unique(key, parse, "Float64")


def normalize_student_no(raw: pd.Series) -> pd.Series:
    """Trim, drop inner whitespace, full-width → ASCII, upper-case."""
    s = drop_whitespace(as_text(raw)).str.upper()
    return s.where(s.str.len() > 0)


# --- a whole frame ------------------------------------------------------------------------------------

def normalize_frame(spec: SourceSpec, cells: pd.DataFrame) -> pd.DataFrame:
    """Raw cells (canonical column names, text or spreadsheet values) → the columns of ``staged.<source>``
    (lineage columns ``file_sha``/``row_no`` are passed through when present)."""
    out: dict[str, pd.Series] = {}
    table_cols = staged_columns(spec.name)
    n = len(cells)
    for col in spec.columns:
        present = col.name in cells.columns
        raw = cells[col.name] if present else pd.Series([None] * n, index=cells.index, dtype=object)
        out[col.name] = normalize_column(col, raw)
        if f"{col.name}_raw" in table_cols:
            out[f"{col.name}_raw"] = _raw_text(raw)
    for lineage in ("file_sha", "row_no"):  # absent only when normalising loose cells (tests)
        out[lineage] = cells[lineage] if lineage in cells.columns else pd.Series(pd.NA, index=cells.index)
    frame = pd.DataFrame(out, index=cells.index)
    missing = [c for c in table_cols if c not in frame.columns]
    if missing:
        raise KeyError(f"staged.{spec.name} columns without a source column: {missing}")
    return frame[table_cols].reset_index(drop=True)


_DTYPES = {"id": TEXT_DTYPE, "text": TEXT_DTYPE, "code": TEXT_DTYPE, "date": DATE_DTYPE, "bool": "boolean",
           "int": "Int64", "float": "Float64"}


def normalize_column(col: Column, raw: pd.Series) -> pd.Series:
    """One canonical column from its raw cells; the work is done once per distinct raw value."""
    out = _by_unique(raw, lambda u: _normalize_values(col, u), _DTYPES[col.kind])
    if col.kind == "bool":  # an empty cell (or an absent column) is false
        out = out.mask(raw.isna().to_numpy(), False).astype("boolean")
    return out


def _normalize_values(col: Column, raw: pd.Series) -> pd.Series:
    if col.kind == "id":
        return idnumber.normalize_series(as_text(raw)).astype(TEXT_DTYPE)
    if col.kind == "date":
        return parse_dates(raw)
    if col.kind == "bool":
        return parse_flags(raw)
    if col.kind == "code":
        return parse_codes(raw, col.vocabulary)
    if col.kind == "int" and col.name == "grade":
        return parse_grades(raw)
    if col.kind == "int":
        return parse_numbers(raw).round().astype("Int64")
    if col.kind == "float":
        return parse_numbers(raw)
    if col.name == "student_no":
        return without_excel_errors(normalize_student_no(raw))
    return without_excel_errors(as_text(raw)).astype(TEXT_DTYPE)


def without_excel_errors(text: pd.Series) -> pd.Series:
    """Free-text values that are Excel error values (``#N/A``, ``#REF!``...) → NULL, so a required text
    column reports them as missing (DQ03) instead of storing '#N/A' as a name or school code. Coded, date and
    number columns need no help: an error value does not parse and stays in ``<col>_raw``."""
    return text.where(~text.str.upper().isin(EXCEL_ERRORS).fillna(False).astype(bool))


def _raw_text(raw: pd.Series) -> pd.Series:
    """The original cell as text, untouched except for spreadsheet dates rendered as ISO text."""
    if raw.dtype == object and len(raw):
        raw = raw.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v, na_action="ignore")
    s = raw.astype(TEXT_DTYPE)
    return s.where(s.str.len() > 0)
