"""The one masking helper: minors' IDs and names never reach logs, metadata, previews or errors.

ID ``411003201003051234`` → ``411003********234``-style (region kept, birth date and sequence hidden);
name ``张小明`` → ``张*明``, ``李明`` → ``李*``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

SENSITIVE_COLUMNS: frozenset[str] = frozenset(
    {"id_number", "id_number_raw", "name", "guardian_name", "student_no", "aux_student_no", "record_key",
     "guardian_phone", "teacher", "person_key", "case_key"}
)


def mask_id(value: object) -> str:
    """Keep the 6-digit region prefix and the last 4 characters; star the rest (also for student numbers)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    if len(text) <= 6:
        return "*" * len(text)
    keep_tail = 4 if len(text) >= 14 else 1
    head = 6 if len(text) >= 14 else 1
    return text[:head] + "*" * (len(text) - head - keep_tail) + text[-keep_tail:]


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
    """Copy of ``df`` with every sensitive column masked (for previews and metadata)."""
    out = df.copy()
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
