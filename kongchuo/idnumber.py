"""Resident ID numbers (公民身份号码), GB 11643-1999: normalisation, check digit, validation.

Vectorised variants work on pandas Series so ingestion never loops over rows in Python.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from kongchuo.text import drop_whitespace, fold_fullwidth

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # index = weighted sum mod 11
_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘＧＪＬｇｊｌ", "0123456789XXGJLGJL")
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: \d would accept full-width and other Unicode digits
# GB 11643-1999's own example 440524188001010014 is born in 1880; the earliest accepted date of birth.
MIN_BIRTH_YEAR = 1800
_BAD_PROVINCES = ("00", "10", "20", "30", "40", "70", "80", "90", "99")


def normalize(raw: object) -> str | None:
    """Full-width digits to ASCII, drop whitespace, upper-case ``x``. Returns None for empty input."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return None
    text = re.sub(r"\s+", "", str(raw).translate(_FULLWIDTH)).upper()
    return text or None


def normalize_series(raw: pd.Series) -> pd.Series:

    s = fold_fullwidth(raw.astype("string"), _FULLWIDTH, "[０-９ＸｘＧＪＬｇｊｌ]")
    s = drop_whitespace(s).str.upper()
    return s.where(s.str.len() > 0)


def check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS))
    return CHECK_CHARS[total % 11]


def birth_date_of(id_number: str) -> dt.date | None:
    try:
        return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except (ValueError, TypeError):
        return None


def gender_of(id_number: str) -> str:
    """'M' when the 17th digit is odd, else 'F'."""
    return "M" if int(id_number[16]) % 2 == 1 else "F"


def problem(id_number: str | None, region_prefixes: tuple[str, ...] = ()) -> str | None:
    """Why an ID is invalid ('length', 'chars', 'check_digit', 'birth_date', 'region'), or None if valid.

    ``region_prefixes``: when given, the first digits must start with one of them (province '41', ...).
    """
    if not id_number:
        return "missing"
    if len(id_number) != 18:
        return "length"
    if not _SHAPE.match(id_number):
        return "chars"
    if check_digit(id_number[:17]) != id_number[17]:
        return "check_digit"
    born = birth_date_of(id_number)
    if born is None or born.year < MIN_BIRTH_YEAR or born > dt.date.today():
        return "birth_date"
    if region_prefixes and not id_number.startswith(region_prefixes):
        return "region"
    if id_number[:2] in _BAD_PROVINCES:
        return "region"
    return None


def is_valid(id_number: str | None) -> bool:
    return problem(id_number) is None


def problem_series(ids: pd.Series) -> pd.Series:
    """Vectorised :func:`problem` (without region prefixes): a string Series, <NA> where valid.

    Works positionally, so a non-unique index (e.g. concatenated frames) is fine.
    """
    s = ids.astype("string")
    n = len(s)
    out = np.full(n, None, dtype=object)
    isna = s.isna().to_numpy(dtype=bool)
    out[isna] = "missing"
    length_ok = (s.str.len() == 18).fillna(False).to_numpy(dtype=bool)
    out[~isna & ~length_ok] = "length"
    shape_ok = length_ok & s.str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False).to_numpy(dtype=bool)
    out[length_ok & ~shape_ok] = "chars"
    pos = np.flatnonzero(shape_ok)
    if len(pos):
        cand = s.iloc[pos]
        mat = np.frombuffer("".join(cand.str.slice(0, 17).tolist()).encode("ascii"), dtype=np.uint8)
        mat = (mat.reshape(-1, 17) - ord("0")).astype(np.int64)
        expected = np.array(list(CHECK_CHARS))[(mat @ np.array(WEIGHTS)) % 11]
        bad_cd = cand.str.slice(17, 18).to_numpy(dtype=object) != expected
        born = pd.to_datetime(cand.str.slice(6, 14), format="%Y%m%d", errors="coerce")
        bad_birth = (born.isna() | (born.dt.year < MIN_BIRTH_YEAR) | (born > pd.Timestamp.today())).to_numpy(
            dtype=bool
        )
        bad_region = cand.str.slice(0, 2).isin(list(_BAD_PROVINCES)).to_numpy(dtype=bool)
        out[pos[bad_cd]] = "check_digit"
        out[pos[~bad_cd & bad_birth]] = "birth_date"
        out[pos[~bad_cd & ~bad_birth & bad_region]] = "region"
    return pd.Series(out, index=ids.index, dtype="string")


def make_id(region6: str, born: dt.date, sequence3: int) -> str:
    """Build a valid ID (used by the generator and tests)."""
    first17 = f"{region6}{born:%Y%m%d}{sequence3:03d}"
    return first17 + check_digit(first17)


def birth_gender_mismatch(ids: pd.Series, birth_dates: pd.Series, genders: pd.Series
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(birth date disagrees, gender disagrees) per row, for VALID ID numbers (DQ02: digits 7–14 are the birth
    date, an odd 17th digit is male); a missing birth date or gender never disagrees."""
    ids = ids.astype(str)
    id_birth = pd.to_datetime(ids.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    rec_birth = pd.to_datetime(birth_dates, errors="coerce")
    id_gender = ids.str.slice(16, 17).astype(int).mod(2).map({1: "M", 0: "F"})
    birth_bad = (rec_birth.notna() & (rec_birth != id_birth)).to_numpy()
    gender_bad = (genders.notna() & (genders.astype(object) != id_gender.astype(object))).to_numpy()
    return birth_bad, gender_bad


def mismatch_text(birth_bad: bool, gender_bad: bool) -> str:
    """'出生日期、性别与身份证件号不符' for the parts that disagree."""
    return "、".join(x for x, on in (("出生日期", birth_bad), ("性别", gender_bad)) if on) + "与身份证件号不符"
