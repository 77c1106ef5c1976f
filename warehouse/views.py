"""Views over the staged tables: the current state of snapshot sources (portable DuckDB / PostgreSQL SQL).

Registry and census extracts are full snapshots and attendance files may be re-sent with corrections, so
the same record arrives many times. Each ``*_current`` view keeps, per record key, the row of the most
recently ingested file (``raw.files.ingested_at``); inside one file the last row wins (highest ``row_no``).
Rows without a key (no ID number and no student number) are left out of the views; the DQ03 check reports
them from the staged table.

- ``staged.registry_current``: key (``person_key`` = coalesce(id_number, student_no), school_code)
- ``staged.census_current``: key id_number
- ``staged.attendance_current``: key (``person_key`` = coalesce(student_no, id_number), school_code, date)
"""

from __future__ import annotations

from warehouse.layout import staged_columns

# view name -> (source table, person key expression, extra partition columns)
CURRENT_VIEWS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "staged.registry_current": ("registry", "coalesce(s.id_number, s.student_no)", ("school_code",)),
    "staged.census_current": ("census", "s.id_number", ()),
    "staged.attendance_current": ("attendance", "coalesce(s.student_no, s.id_number)", ("school_code", "date")),
}


def current_view_sql(view: str) -> str:
    source, key, extra = CURRENT_VIEWS[view]
    cols = staged_columns(source)
    inner = ", ".join(f"s.{c}" for c in cols)
    outer = ", ".join(f"t.{c}" for c in cols)
    partition = ", ".join([key, *(f"s.{c}" for c in extra)])
    return f"""CREATE OR REPLACE VIEW {view} AS
SELECT {outer}, t.person_key, t.ingested_at
FROM (
    SELECT {inner}, {key} AS person_key, f.ingested_at,
           row_number() OVER (PARTITION BY {partition} ORDER BY f.ingested_at DESC, s.file_sha DESC,
                              s.row_no DESC) AS rn
    FROM staged.{source} s
    JOIN raw.files f ON f.file_sha = s.file_sha AND f.source = '{source}' AND f.status = 'ingested'
    WHERE {key} IS NOT NULL
) t
WHERE t.rn < 2"""  # not "= 1": PostgreSQL guesses 0.5% of rows for "=" on a window column and plans nested loops


def view_statements() -> list[str]:
    return [current_view_sql(v) for v in CURRENT_VIEWS]
