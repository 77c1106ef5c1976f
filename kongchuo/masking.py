"""The one masking helper: minors' IDs and names never reach logs, metadata, previews or errors.

ID ``41100320100305123X`` → ``411003***********X`` (region and check character kept; birth date, sequence and
gender digit hidden: knowing a child's birth date still leaves ~100 candidates, where keeping the last four
characters hid exactly the birth date and so gave the whole number back to anyone who knew it);
name ``张小明`` → ``张*明``, ``李明`` → ``李*``. File names: :func:`mask_file_name` masks ID and student numbers
inside them. Previews never show a birth date beside a masked ID (:data:`DERIVABLE_COLUMNS`).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import pandas as pd

SENSITIVE_COLUMNS: frozenset[str] = frozenset(
    {"id_number", "id_number_raw", "name", "guardian_name", "student_no", "aux_student_no", "record_key",
     "guardian_phone", "teacher", "person_key", "case_key"}
)


# Columns that, shown beside a masked ID, give its hidden digits back (birth date = digits 7-14).
DERIVABLE_COLUMNS: frozenset[str] = frozenset({"birth_date", "birth_date_raw"})


def mask_id(value: object) -> str:
    """Keep the 6-digit region prefix and the last character; star the rest (also for student numbers)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    if len(text) <= 6:
        return "*" * len(text)
    head = 6 if len(text) >= 14 else 1
    return text[:head] + "*" * (len(text) - head - 1) + text[-1]


# An ID number (15 or 18 characters) or a national student number (G/J/L + 18) inside free text.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[GJLgjl]?[0-9０-９]{15}(?:[0-9０-９]{2}[0-9０-９Xxｘ])?(?![0-9０-９])")


# A person's name (2-4 Chinese characters) written right beside an ID number in a file name.
_NAME_BESIDE_ID = re.compile(r"(?<![\u4e00-\u9fff])([\u4e00-\u9fff]{2,4})(?=[_\-\s]?[0-9GJLgjl]{6}\*)"
                             r"|(?<=\*[0-9Xx][_\-\s])([\u4e00-\u9fff]{2,4})(?![\u4e00-\u9fff])")


def mask_file_name(name: str) -> str:
    """A file name with every ID or student number inside masked, and a 2-4 character name written right
    beside one (``张三_41100320100305123X.csv`` → ``张*_411003***********X.csv``); school codes (10 digits),
    dates and longer words are kept."""
    masked = _ID_IN_TEXT.sub(lambda m: mask_id(m.group(0)), name)
    if masked == name:
        return name
    return _NAME_BESIDE_ID.sub(lambda m: m.group(0) if m.group(0) in FILE_WORDS else mask_name(m.group(0)), masked)


# Words of file names that are not people's names (kept beside an ID number).
FILE_WORDS = frozenset({"学籍", "考勤", "户籍", "人口", "劝返", "记录", "名单", "材料", "信息", "更正", "修正", "补报",
                        "送教", "上门", "休学", "延缓", "入学", "学生", "证明", "登记", "学籍表", "考勤表", "档案",
                        "一生一表", "申请", "审批", "附件", "照片", "身份证"})


def mask_name(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    if len(text) <= 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(value: object) -> str:
    text = "" if value is None else str(value)
    return text[:3] + "****" + text[-4:] if len(text) >= 11 else "*" * len(text)


def mask_value(column: str, value: Any) -> Any:
    if column in ("name", "guardian_name", "teacher"):
        return mask_name(value)
    if column == "guardian_phone":
        return mask_phone(value)
    if column in SENSITIVE_COLUMNS:
        return mask_id(value)
    return value


def mask_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with every sensitive column masked (for previews and metadata); a birth date is dropped
    when an ID column is there (it is the hidden part of the masked ID)."""
    out = df.copy()
    if any(c in SENSITIVE_COLUMNS for c in out.columns):
        out = out.drop(columns=[c for c in out.columns if c in DERIVABLE_COLUMNS])
    for col in out.columns:
        if col in SENSITIVE_COLUMNS:
            out[col] = out[col].map(lambda v, c=col: mask_value(c, v))
    return out


def mask_records(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: mask_value(k, v) for k, v in row.items()} for row in rows]


def preview_markdown(df: pd.DataFrame, limit: int = 10) -> str:
    """Masked markdown preview of the first ``limit`` rows, safe for Dagster metadata."""
    if df.empty:
        return "(none)"
    return mask_frame(df.head(limit)).to_markdown(index=False) if _has_tabulate() else mask_frame(
        df.head(limit)
    ).to_string(index=False)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
