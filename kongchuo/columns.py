"""The canonical columns of each source's staged rows (DESIGN.md, Sources): names and portable SQL types.

The domain owns them: :mod:`kongchuo.normalize` builds frames with exactly these columns, and
:mod:`warehouse.layout` creates ``staged.<source>`` from them (DuckDB and PostgreSQL).
"""

from __future__ import annotations

# Columns every staged row carries for lineage back to the raw file.
LINEAGE_COLUMNS = "file_sha TEXT NOT NULL, row_no INTEGER NOT NULL"
# Where in the file a staged row came from, beyond the row number: the workbook sheet (NULL for CSV), and a
# row-level problem the reader found (an ID number typed as a number, a township not found in the address),
# as a message naming file, sheet, row and column, never a value. Last in every staged source table.
ROW_CONTEXT_COLUMNS = "sheet TEXT, row_error TEXT"

STAGED_TABLES: dict[str, str] = {
    "registry": f"""
        {LINEAGE_COLUMNS}, student_no TEXT, id_number TEXT, id_number_raw TEXT, name TEXT, gender TEXT,
        birth_date DATE, birth_date_raw TEXT, school_code TEXT, school_name TEXT, grade INTEGER, grade_raw TEXT,
        class_name TEXT, status TEXT, status_raw TEXT, enrolled_on DATE, hukou_region_code TEXT,
        township_code TEXT, is_poverty_family BOOLEAN, is_left_behind BOOLEAN, is_migrant BOOLEAN,
        is_disabled BOOLEAN, disability_grade TEXT, is_in_difficulty BOOLEAN, guardian_name TEXT,
        guardian_phone TEXT, aux_student_no TEXT, is_poverty_family_raw TEXT, is_left_behind_raw TEXT,
        is_migrant_raw TEXT, is_disabled_raw TEXT, is_in_difficulty_raw TEXT, change_date DATE,
        change_date_raw TEXT, {ROW_CONTEXT_COLUMNS}
    """,
    "attendance": f"""
        {LINEAGE_COLUMNS}, student_no TEXT, id_number TEXT, id_number_raw TEXT, school_code TEXT,
        date DATE, date_raw TEXT, status TEXT, status_raw TEXT, {ROW_CONTEXT_COLUMNS}
    """,
    "census": f"""
        {LINEAGE_COLUMNS}, id_number TEXT, id_number_raw TEXT, name TEXT, gender TEXT, birth_date DATE,
        birth_date_raw TEXT, township_code TEXT, village TEXT, residence_status TEXT, residence_status_raw TEXT,
        is_disabled BOOLEAN, disability_grade TEXT, is_poverty_family BOOLEAN, is_disabled_raw TEXT,
        is_poverty_family_raw TEXT, {ROW_CONTEXT_COLUMNS}
    """,
    "casework": f"""
        {LINEAGE_COLUMNS}, id_number TEXT, id_number_raw TEXT, attempt_date DATE, attempt_date_raw TEXT,
        method TEXT, unit TEXT, result TEXT, result_raw TEXT, dropout_reason TEXT, {ROW_CONTEXT_COLUMNS}
    """,
    "exemptions": f"""
        {LINEAGE_COLUMNS}, id_number TEXT, id_number_raw TEXT, kind TEXT, kind_raw TEXT, approved_on DATE,
        approved_on_raw TEXT, valid_until DATE, valid_until_raw TEXT, reason TEXT, approved_by TEXT,
        {ROW_CONTEXT_COLUMNS}
    """,
    "home_teaching": f"""
        {LINEAGE_COLUMNS}, id_number TEXT, id_number_raw TEXT, visit_date DATE, visit_date_raw TEXT,
        class_hours DOUBLE PRECISION, teacher TEXT, {ROW_CONTEXT_COLUMNS}
    """,
}


def staged_columns(source: str) -> list[str]:
    """Column names of ``staged.<source>`` in table order."""
    body = STAGED_TABLES[source]
    return [part.strip().split()[0] for part in body.replace("\n", " ").split(",") if part.strip()]
