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

Derived columns (:func:`derive_columns`, from a spec's ``inputs``):
- attendance: without a 考勤状态 column, 是否请假 (是 → leave, 否 → present) with 请假类型 (病假 → sick_leave,
  事假 → personal_leave; leave of no known type → personal_leave) gives ``status``; a 考勤状态 of 请假 takes its
  kind from 请假类型 too. ``status_raw`` keeps what the cells said (``是/病假``).
- census: 注销 in 人员状态/户口状态 becomes moved_out (注销原因 迁出/出国/出境) or deceased (死亡); 注销 without a
  known reason stays NULL (raw kept: DQ03). Without a township code, 户籍区划 of 9+ digits gives it (its first 9),
  else the reference township names found in 户籍地址 (longest match; no or several townships → NULL and a
  ``row_error`` naming file, sheet, row and column).
- exemptions: 缓学期限 as a range (``2026.09-2027.08``, ``2026年9月至2027年8月``, ``2026-09~2027-08``) gives
  ``valid_until`` = the last day of the range's end month, and ``approved_on`` = the range's first day when there
  is no 批准时间.
- an ID number the reader found typed as a number (``id_number_lost``) becomes NULL, raw text kept.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from kongchuo import idnumber
from kongchuo.columns import staged_columns
from kongchuo.sources import CANCELLED, FLAG, GRADE_WORDS, Column, SourceSpec
from kongchuo.text import drop_whitespace, fold_fullwidth

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

def normalize_frame(spec: SourceSpec, cells: pd.DataFrame,
                    townships: tuple[tuple[str, str], ...] = ()) -> pd.DataFrame:
    """Raw cells (canonical column names, text or spreadsheet values) → the columns of ``staged.<source>``
    (``file_sha``/``row_no``/``sheet``/``row_error`` are passed through when present). ``townships`` are the
    reference (code, name) pairs, for census extracts that name the township only in the address."""
    out: dict[str, pd.Series] = {}
    table_cols = staged_columns(spec.name)
    for col in spec.columns:
        if col.name not in cells.columns:  # an optional column the file does not have: NULL (flags false)
            out[col.name] = pd.Series(False if col.kind == "bool" else pd.NA, index=cells.index,
                                      dtype=_DTYPES[col.kind])
            if f"{col.name}_raw" in table_cols:
                out[f"{col.name}_raw"] = pd.Series(pd.NA, index=cells.index, dtype=TEXT_DTYPE)
            continue
        raw = cells[col.name]
        out[col.name] = normalize_column(col, raw)
        if f"{col.name}_raw" in table_cols:
            out[f"{col.name}_raw"] = _raw_text(raw)
    for lineage in ("file_sha", "row_no"):  # absent only when normalising loose cells (tests)
        out[lineage] = cells[lineage] if lineage in cells.columns else pd.Series(pd.NA, index=cells.index)
    for context in ("sheet", "row_error"):  # absent for CSV, and when no row has a problem
        out[context] = (cells[context].astype(TEXT_DTYPE) if context in cells.columns
                        else pd.Series(pd.NA, index=cells.index, dtype=TEXT_DTYPE))
    derive_columns(spec, cells, out, townships)
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
    if col.name in ("student_no", "aux_student_no"):
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


# --- columns derived from other columns (real export shapes) -------------------------------------------

def derive_columns(spec: SourceSpec, cells: pd.DataFrame, out: dict[str, pd.Series],
                   townships: tuple[tuple[str, str], ...]) -> None:
    """Fill staged columns from the spec's ``inputs`` (module docstring); ``out`` is changed in place."""
    if "id_number_lost" in cells.columns and "id_number" in out:
        lost = cells["id_number_lost"].fillna(False).to_numpy(dtype=bool)
        out["id_number"] = out["id_number"].mask(lost)
    if spec.name == "attendance":
        _derive_attendance_status(spec, cells, out)
    elif spec.name == "census":
        _derive_residence_status(spec, cells, out)
        _derive_township(cells, out, townships)
    elif spec.name == "exemptions":
        _derive_exemption_term(cells, out)


def _input(spec: SourceSpec, cells: pd.DataFrame, name: str) -> pd.Series | None:
    return normalize_column(spec.column(name), cells[name]) if name in cells.columns else None


def _derive_attendance_status(spec: SourceSpec, cells: pd.DataFrame, out: dict[str, pd.Series]) -> None:
    on_leave, leave_type = _input(spec, cells, "on_leave"), _input(spec, cells, "leave_type")
    if on_leave is None and leave_type is None:
        return
    kind = leave_type if leave_type is not None else pd.Series(pd.NA, index=cells.index, dtype=TEXT_DTYPE)
    if "status" in cells.columns:  # 考勤状态 请假 + 请假类型 病假: the type says which leave
        generic = _vocab_key(cells["status"]).eq("请假").fillna(False).to_numpy(dtype=bool)
        out["status"] = out["status"].mask(generic & kind.notna().to_numpy(), kind)
        return
    if on_leave is not None:
        status = pd.Series(np.where(on_leave.fillna(False), kind.fillna("personal_leave"), "present"),
                           index=cells.index, dtype=TEXT_DTYPE)
        status = status.mask(on_leave.isna().to_numpy())  # an unknown word: NULL, raw kept
    else:
        status = kind.fillna("present").astype(TEXT_DTYPE)
    out["status"] = status
    raws = [_raw_text(cells[c]).fillna("") for c in ("on_leave", "leave_type") if c in cells.columns]
    joined = raws[0] if len(raws) == 1 else raws[0] + "/" + raws[1]
    out["status_raw"] = joined.str.strip("/").replace("", None).astype(TEXT_DTYPE)


def _derive_residence_status(spec: SourceSpec, cells: pd.DataFrame, out: dict[str, pd.Series]) -> None:
    if "residence_status" not in cells.columns:
        return
    cancelled = _vocab_key(cells["residence_status"]).eq(CANCELLED).fillna(False).to_numpy(dtype=bool)
    if not cancelled.any():
        return
    reason = _input(spec, cells, "cancel_reason")
    if reason is None:
        reason = pd.Series(pd.NA, index=cells.index, dtype=TEXT_DTYPE)
    out["residence_status"] = out["residence_status"].mask(cancelled, reason)
    if "cancel_reason" in cells.columns:  # the raw text says both: 注销/死亡
        both = _raw_text(cells["residence_status"]) + "/" + _raw_text(cells["cancel_reason"]).fillna("")
        out["residence_status_raw"] = out["residence_status_raw"].mask(cancelled, both.str.rstrip("/"))


def _derive_township(cells: pd.DataFrame, out: dict[str, pd.Series], townships: tuple[tuple[str, str], ...]) -> None:
    """Rows without a township code: 户籍区划 (9+ digits: the township is its first 9), else the township names
    in 户籍地址."""
    code = out["township_code"]
    if not code.isna().any() or not ({"region_code", "address"} & set(cells.columns)):
        return
    if "region_code" in cells.columns:
        digits = drop_whitespace(as_text(cells["region_code"])).str.extract(r"^(\d{9})\d*$")[0]
        code = code.fillna(digits.astype(TEXT_DTYPE))
    if "address" in cells.columns:
        todo = code.isna().to_numpy() & as_text(cells["address"]).notna().to_numpy()
        if todo.any():
            found = township_from_address(as_text(cells["address"])[todo], townships)
            code = code.copy()
            code[todo] = found.where(found.str.len() > 1)  # '?' several, '' none
            problem = found.map({"?": "户籍地址中有多个乡镇名称，无法确定乡镇", "": "户籍地址中找不到参考名录中的乡镇名称"})
            _add_row_errors(cells, out, "address", problem.reindex(cells.index))
    out["township_code"] = code.astype(TEXT_DTYPE)


def township_from_address(addresses: pd.Series, townships: tuple[tuple[str, str], ...]) -> pd.Series:
    """The code of the one reference township whose name is in each address ('' none, '?' several).

    Longest match: a name inside a longer name that also matched (长村 in 长村张街道) does not count. The work
    is one vectorised ``contains`` per township over the distinct addresses of the chunk."""
    named = [(c, n) for c, n in townships if n]
    codes, uniques = pd.factorize(addresses, use_na_sentinel=True)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype=TEXT_DTYPE)
    hits = np.zeros((len(u), len(named)), dtype=bool)
    for j, (_, name) in enumerate(named):
        hits[:, j] = u.str.contains(name, regex=False).fillna(False).to_numpy(dtype=bool)
    for j, (_, short) in enumerate(named):  # drop a match inside a longer match
        for k, (_, long) in enumerate(named):
            if k != j and len(long) > len(short) and short in long:
                hits[:, j] &= ~hits[:, k]
    result = np.full(len(u), "", dtype=object)
    count = hits.sum(axis=1)
    one = count == 1
    result[one] = np.array([c for c, _ in named] or [""], dtype=object)[hits[one].argmax(axis=1)] if one.any() else []
    for i in np.flatnonzero(count > 1):  # rare: the same township listed twice is still one
        found = {named[j][0] for j in np.flatnonzero(hits[i])}
        result[i] = found.pop() if len(found) == 1 else "?"
    picked = np.append(result, "")[np.where(codes < 0, len(u), codes)]
    return pd.Series(picked, index=addresses.index, dtype=TEXT_DTYPE)


def _add_row_errors(cells: pd.DataFrame, out: dict[str, pd.Series], column: str, problem: pd.Series) -> None:
    """Append ``problem`` (text per row, NULL for none) to ``row_error``, worded with file, sheet, row, column."""
    has = problem.notna().to_numpy()
    if not has.any():
        return
    where = cells.attrs.get("where") or {}
    place = where.get("file", "") + (f" 工作表「{where['sheet']}」" if where.get("sheet") is not None else " ")
    col = (where.get("columns") or {}).get(column, column)
    rows = out["row_no"][has].astype(str)
    text = place + "第 " + rows + " 行 " + col + "：" + problem[has].astype(str)
    errors = out["row_error"].astype(object).copy()
    old = errors[has]
    errors[has] = np.where(old.notna(), old.astype(str) + "；" + text, text)
    out["row_error"] = errors.astype(TEXT_DTYPE)


# 2026.09-2027.08, 2026年9月至2027年8月, 2026-09~2027-08; a day may follow each month (2026.09.10-2027.07.15).
_DAY = r"(?:\s*[-./月]\s*(\d{1,2})\s*日?)?"
_TERM = re.compile(r"^(\d{4})\s*[-./年]\s*(\d{1,2})" + _DAY + r"\s*月?\s*(?:[-~～—–至到]+)\s*(\d{4})\s*[-./年]\s*"
                   r"(\d{1,2})" + _DAY + r"\s*月?$")


def _derive_exemption_term(cells: pd.DataFrame, out: dict[str, pd.Series]) -> None:
    """缓学期限 ``2026.09-2027.08`` → valid_until 2027-08-31 (``2026.09.10-2027.07.15`` → 2027-07-15); approved_on
    the range's first day when 批准时间 is absent."""
    if "term" not in cells.columns:
        return
    text = drop_whitespace(as_text(cells["term"]))
    parts = text.str.extract(_TERM).apply(pd.to_numeric, errors="coerce")
    ok = (parts[1].between(1, 12) & parts[4].between(1, 12)).fillna(False).to_numpy(dtype=bool)
    start = pd.to_datetime(pd.DataFrame({"year": parts[0].where(ok, 2000), "month": parts[1].where(ok, 1),
                                         "day": parts[2].where(ok, 1).fillna(1)}).astype("int64"), errors="coerce")
    month_end = pd.to_datetime(pd.DataFrame({"year": parts[3].where(ok, 2000), "month": parts[4].where(ok, 1),
                                             "day": 1}).astype("int64"), errors="coerce") + pd.offsets.MonthEnd(0)
    end = pd.to_datetime(pd.DataFrame({"year": parts[3].where(ok, 2000), "month": parts[4].where(ok, 1),
                                       "day": parts[5].where(ok, 1).fillna(1)}).astype("int64"), errors="coerce")
    end = end.where(parts[5].notna().to_numpy(), month_end)  # a month range ends on the month's last day
    ok &= start.notna().to_numpy() & end.notna().to_numpy()  # 2026.02.30 is no day
    start_d = pd.Series(start.dt.date.to_numpy(dtype=object), index=cells.index).where(ok).astype(DATE_DTYPE)
    end_d = pd.Series(end.dt.date.to_numpy(dtype=object), index=cells.index).where(ok).astype(DATE_DTYPE)
    raw = _raw_text(cells["term"])
    for col, value in (("valid_until", end_d), ("approved_on", start_d)):
        if col not in cells.columns:
            out[col] = value
            out[f"{col}_raw"] = raw
        else:  # an empty 批准时间/有效期至 cell takes the range's value
            empty = out[col].isna().to_numpy() & out[f"{col}_raw"].isna().to_numpy()
            out[col] = out[col].mask(empty, value)
            out[f"{col}_raw"] = out[f"{col}_raw"].mask(empty, raw)
