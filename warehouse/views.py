"""Views over the staged tables: the current state of snapshot sources (portable DuckDB / PostgreSQL SQL).

Registry and census extracts are full snapshots and attendance files may be re-sent with corrections, so
the same record arrives many times. Each ``*_current`` view keeps, per record key, the row of the most
recently ingested file (``raw.files.ingested_at``); inside one file the last row wins (highest ``row_no``).
Rows without a key (no ID number and no student number) are left out of the views; the DQ03 check reports
them from the staged table.

- ``staged.registry_current``: key (``person_key`` = coalesce(id_number, student_no), school_code)
- ``staged.census_current``: key id_number
- ``staged.attendance_current``: key (``person_key`` = coalesce(student_no, id_number), school_code, date)

They are materialised as TABLES, rebuilt by the ingest step of their source at the end of every ingestion
(also when nothing new arrived, so a run killed between loading and rebuilding heals on the next run). As
views, every check, derived table and ledger query re-ran the window over the whole staged table: on a
100k-student district (1.9M roll-call rows) each read of ``attendance_current`` cost ~3.5 s, and about ten
steps read it; built once it costs ~4 s and each read afterwards milliseconds (BENCHMARKS.md).
"""

from __future__ import annotations

from warehouse.layout import staged_columns

# view name -> (source table, person key expression, extra partition columns)
CURRENT_VIEWS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "staged.registry_current": ("registry", "coalesce(s.id_number, s.student_no)", ("school_code",)),
    "staged.census_current": ("census", "s.id_number", ()),
    "staged.attendance_current": ("attendance", "coalesce(s.student_no, s.id_number)", ("school_code", "date")),
}


def current_select_sql(view: str) -> str:
    """The SELECT of one current table (latest file wins, then the last row).

    Only keys that occur more than once need the window: finding them is a hash aggregate, and the unique
    rest is copied as is. On 1.85M roll-call rows without duplicates this takes 0.9 s instead of 2.8 s for
    the window over every row; for re-sent snapshots (most keys repeated) it costs about the same.
    """
    source, key, extra = CURRENT_VIEWS[view]
    cols = staged_columns(source)
    inner = ", ".join(f"s.{c}" for c in cols)
    outer = ", ".join(f"w.{c}" for c in cols)
    keys = ["person_key", *extra]
    same_key = " AND ".join(f"d.{c} = k.{c}" for c in keys)
    return f"""WITH k AS (
    SELECT {inner}, {key} AS person_key, f.ingested_at
    FROM staged.{source} s
    JOIN raw.files f ON f.file_sha = s.file_sha AND f.source = '{source}' AND f.status = 'ingested'
    WHERE {key} IS NOT NULL
),
dup AS (SELECT {", ".join(keys)} FROM k GROUP BY {", ".join(keys)} HAVING count(*) > 1)
SELECT k.* FROM k WHERE NOT EXISTS (SELECT 1 FROM dup d WHERE {same_key})
UNION ALL
SELECT {outer}, w.person_key, w.ingested_at
FROM (
    SELECT k.*, row_number() OVER (PARTITION BY {", ".join(f"k.{c}" for c in keys)}
                                   ORDER BY k.ingested_at DESC, k.file_sha DESC, k.row_no DESC) AS rn
    FROM k WHERE EXISTS (SELECT 1 FROM dup d WHERE {same_key})
) w
WHERE w.rn < 2"""  # not "= 1": PostgreSQL guesses 0.5% of rows for "=" on a window column and plans nested loops


def current_view_sql(view: str, dialect: str = "duckdb") -> list[str]:
    """Statements that (re)build one current table from scratch (no object of that name may be a view)."""
    select = current_select_sql(view)
    if dialect == "duckdb":
        return [f"CREATE OR REPLACE TABLE {view} AS {select}"]
    return [f"DROP TABLE IF EXISTS {view}", f"CREATE TABLE {view} AS {select}", f"ANALYZE {view}"]


def view_statements(dialect: str = "duckdb") -> list[str]:
    return [stmt for v in CURRENT_VIEWS for stmt in current_view_sql(v, dialect)]



def refresh_current(warehouse, sources: list[str] | None = None) -> None:
    """Rebuild the current tables of ``sources`` (default all), and create any that is missing, in one
    transaction; a warehouse made before they were tables still holds views of those names: dropped first."""
    import sqlalchemy as sa

    with warehouse.begin() as conn:
        kinds = dict(conn.execute(sa.text(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'staged'")).all())
        for view in CURRENT_VIEWS:
            wanted = sources is None or CURRENT_VIEWS[view][0] in sources
            if not wanted and kinds.get(view.split(".")[1]) is not None:
                continue  # another source's table, already there
            if kinds.get(view.split(".")[1]) == "VIEW":
                conn.execute(sa.text(f"DROP VIEW {view}"))
            for stmt in current_view_sql(view, warehouse.dialect):
                conn.execute(sa.text(stmt))
