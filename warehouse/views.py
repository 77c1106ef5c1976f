"""Views over the staged tables: the current state of snapshot sources (portable DuckDB / PostgreSQL SQL).

Registry and census extracts are full snapshots and attendance files may be re-sent with corrections, so
the same record arrives many times. Each ``*_current`` view keeps, per record key, the row of the most
recently ingested file (``raw.files.ingested_at``); inside one file the last row wins (highest ``row_no``).
Rows without a key (no ID number and no student number) are left out of the views; the DQ03 check reports
them from the staged table.

- ``staged.registry_current``: key (``person_key`` = coalesce(id_number, student_no), school_code)
- ``staged.census_current``: key id_number
- ``staged.attendance_current``: key (``person_key`` = coalesce(student_no, id_number), school_code, date)

They are materialised as TABLES, brought up to date by the ingest step of their source at the end of every
ingestion (also when nothing new arrived, so a run killed between loading and refreshing heals on the next
run). The refresh is incremental (:func:`incremental_sql`): only the files not yet merged in
(``staged.current_files``) compete with the current rows of their keys, so the cost stays that of one new
snapshot against the current one while ``staged.registry`` accumulates a snapshot every month (measured on
a 1M-student registry: 5.6 s per monthly snapshot, flat, where a rebuild over three snapshots already takes
5.5 s and grows with every month). As
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


def _keys(view: str) -> list[str]:
    return ["person_key", *CURRENT_VIEWS[view][2]]


def staged_rows_sql(view: str, only_new: bool = False) -> str:
    """The staged rows of ingested files with ``person_key`` and ``ingested_at`` (the columns of a current
    table); ``only_new``: only files the current table was not built from yet (``staged.current_files``)."""
    source, key, _ = CURRENT_VIEWS[view]
    inner = ", ".join(f"s.{c}" for c in staged_columns(source))
    new = (f" AND f.file_sha NOT IN (SELECT c.file_sha FROM {FILES_TABLE} c WHERE c.view_name = '{view}')"
           if only_new else "")
    return f"""SELECT {inner}, {key} AS person_key, f.ingested_at
    FROM staged.{source} s
    JOIN raw.files f ON f.file_sha = s.file_sha AND f.source = '{source}' AND f.status = 'ingested'{new}
    WHERE {key} IS NOT NULL"""


def winners_sql(view: str, rows: str) -> str:
    """Per key, the row of the most recently ingested file, then the last row, among ``rows`` (a relation
    with a current table's columns).

    Only keys that occur more than once need the window: finding them is a hash aggregate, and the unique
    rest is copied as is. On 1.85M roll-call rows without duplicates this takes 0.9 s instead of 2.8 s for
    the window over every row; for re-sent snapshots (most keys repeated) it costs about the same.
    """
    cols = staged_columns(CURRENT_VIEWS[view][0])
    outer = ", ".join(f"w.{c}" for c in cols)
    keys = _keys(view)
    same_key = _same_key(view, "d", "k")  # NULL extras are one key, as in GROUP BY and PARTITION BY
    return f"""WITH k AS ({rows}),
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


def current_select_sql(view: str) -> str:
    """The SELECT of one current table, from all staged rows."""
    return winners_sql(view, staged_rows_sql(view))


FILES_TABLE = "staged.current_files"  # (view_name, file_sha): the files each current table was built from
_NEW, _CAND = "_kongchuo_current_new", "_kongchuo_current_cand"


def current_view_sql(view: str, dialect: str = "duckdb") -> list[str]:
    """Statements that (re)build one current table from scratch (no object of that name may be a view)."""
    select = current_select_sql(view)
    if dialect == "duckdb":
        return [f"CREATE OR REPLACE TABLE {view} AS {select}"]
    return [f"DROP TABLE IF EXISTS {view}", f"CREATE TABLE {view} AS {select}", f"ANALYZE {view}"]


def _same_key(view: str, a: str, b: str) -> str:
    """Key equality that, like the window's PARTITION BY, treats NULL extra columns as equal."""
    parts = [f"{a}.person_key = {b}.person_key"]
    parts += [f"coalesce(CAST({a}.{c} AS TEXT), '~') = coalesce(CAST({b}.{c} AS TEXT), '~')"
              for c in CURRENT_VIEWS[view][2]]
    return " AND ".join(parts)


def incremental_sql(view: str, dialect: str = "duckdb") -> list[str]:
    """Statements that bring a current table up to date with the files ingested since it was built: the new
    files' rows compete only with the current rows of the same keys. A monthly registry snapshot thus costs
    a window over two snapshots, not over every snapshot ever loaded; a new month of roll call displaces
    nothing."""
    same = _same_key(view, "t", "n")
    stmts = [
        f"DROP TABLE IF EXISTS {_NEW}", f"DROP TABLE IF EXISTS {_CAND}",
        f"CREATE TEMP TABLE {_NEW} AS {staged_rows_sql(view, only_new=True)}",
        f"CREATE TEMP TABLE {_CAND} AS SELECT t.* FROM {view} t "
        f"WHERE EXISTS (SELECT 1 FROM {_NEW} n WHERE {same}) UNION ALL SELECT * FROM {_NEW}",
        f"DELETE FROM {view} t WHERE EXISTS (SELECT 1 FROM {_NEW} n WHERE {same})",
        f"INSERT INTO {view} {winners_sql(view, f'SELECT * FROM {_CAND}')}",
        f"DROP TABLE {_NEW}", f"DROP TABLE {_CAND}",
    ]
    return stmts + ([f"ANALYZE {view}"] if dialect != "duckdb" else [])


def view_statements(dialect: str = "duckdb") -> list[str]:
    return [stmt for v in CURRENT_VIEWS for stmt in current_view_sql(v, dialect)]


def _record_files(conn, view: str, replace: bool) -> None:
    import sqlalchemy as sa

    source = CURRENT_VIEWS[view][0]
    if replace:
        conn.execute(sa.text(f"DELETE FROM {FILES_TABLE} WHERE view_name = :v"), {"v": view})
    conn.execute(sa.text(
        f"INSERT INTO {FILES_TABLE} (view_name, file_sha) SELECT :v, f.file_sha FROM raw.files f "
        f"WHERE f.source = :s AND f.status = 'ingested' "
        f"AND f.file_sha NOT IN (SELECT c.file_sha FROM {FILES_TABLE} c WHERE c.view_name = :v)"),
        {"v": view, "s": source})


def refresh_current(warehouse, sources: list[str] | None = None, full: bool = False) -> None:
    """Bring the current tables of ``sources`` (default all) up to date, in one transaction.

    A table that is missing, was built before file tracking, or ``full=True``: rebuilt from all staged rows.
    Otherwise only the files ingested since its last refresh are merged in (:func:`incremental_sql`); a run
    killed between loading a file and this refresh leaves the file untracked, so the next refresh takes it.
    A warehouse made before they were tables still holds views of those names: dropped first."""
    import sqlalchemy as sa

    with warehouse.begin() as conn:
        warehouse.lock_ddl(conn)
        conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {FILES_TABLE} (view_name TEXT NOT NULL, "
                             f"file_sha TEXT NOT NULL)"))
        kinds = dict(conn.execute(sa.text(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'staged'")).all())
        tracked = {v for (v,) in conn.execute(sa.text(f"SELECT DISTINCT view_name FROM {FILES_TABLE}")).all()}
        for view in CURRENT_VIEWS:
            kind = kinds.get(view.split(".")[1])
            wanted = sources is None or CURRENT_VIEWS[view][0] in sources
            if not wanted and kind is not None:
                continue  # another source's table, already there
            if kind == "VIEW":
                conn.execute(sa.text(f"DROP VIEW {view}"))
            rebuild = full or kind != "BASE TABLE" or view not in tracked
            statements = current_view_sql(view, warehouse.dialect) if rebuild else incremental_sql(
                view, warehouse.dialect)
            for stmt in statements:
                conn.execute(sa.text(stmt))
            _record_files(conn, view, replace=rebuild)


# ------------------------------------------------------------------------------------------------ matching a child
# DESIGN.md "Matching a child", written once: every rule, check and report query keys persons through these.
# Portable SQL (DuckDB and PostgreSQL): digits are read with strpos (never a CAST that could fail on a letter).

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def _digit(x: str, pos: int) -> str:
    return f"(strpos('0123456789', substr({x}, {pos}, 1)) - 1)"


def valid_id_sql(x: str) -> str:
    """TRUE when the text expression ``x`` is a valid 18-character resident ID (GB 11643-1999): 17 digits, the
    check character of their weighted sum, and a real date of birth (1900 or later) in digits 7–14."""
    total = " + ".join(f"{w} * {_digit(x, i + 1)}" for i, w in enumerate(_ID_WEIGHTS))
    year = f"(1000 * {_digit(x, 7)} + 100 * {_digit(x, 8)} + 10 * {_digit(x, 9)} + {_digit(x, 10)})"
    month = f"(10 * {_digit(x, 11)} + {_digit(x, 12)})"
    day = f"(10 * {_digit(x, 13)} + {_digit(x, 14)})"
    leap = f"({year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0))"
    month_len = (f"CASE WHEN {month} = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END "
                 f"WHEN {month} IN (4, 6, 9, 11) THEN 30 ELSE 31 END")
    return (f"(CASE WHEN length({x}) = 18 AND translate(substr({x}, 1, 17), '0123456789', '') = '' "
            f"AND strpos('{_CHECK_CHARS}', substr({x}, 18, 1)) = ({total}) % 11 + 1 "
            f"AND {year} >= 1900 AND {month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {month_len} "
            f"THEN TRUE ELSE FALSE END)")


def g_number_id_sql(student_no: str) -> str:
    """The ID inside a ``G`` student number (``G`` + a valid 18-character ID), else NULL."""
    inner = f"substr({student_no}, 2)"
    return (f"(CASE WHEN substr({student_no}, 1, 1) = 'G' AND length({student_no}) = 19 "
            f"AND {valid_id_sql(inner)} THEN {inner} END)")


def registry_person_key_sql(t: str = "t") -> str:
    """A registry record's person: its valid ID; where the ID is blank or invalid and the student number is
    ``G`` + a valid ID, that ID; else the ID as given, else the student number (J/L numbers).

    The full validity test costs ~5 s per million rows, so it runs only where it can change the answer: an ID
    whose student number is not a ``G`` number, or is ``G`` + that same ID, is the person either way (valid:
    itself; invalid: no other ID to take), and a record without ID and without ``G`` number is its student
    number. That leaves ID-less ``G`` records and the rare ``G`` number that differs from the record's ID."""
    i, n = f"{t}.id_number", f"{t}.student_no"
    return (f"(CASE WHEN {i} IS NOT NULL AND ({n} IS NULL OR substr({n}, 1, 1) <> 'G' OR {n} = 'G' || {i}) "
            f"THEN {i} WHEN {i} IS NULL AND ({n} IS NULL OR substr({n}, 1, 1) <> 'G') THEN {n} "
            f"WHEN {valid_id_sql(i)} THEN {i} ELSE coalesce({g_number_id_sql(n)}, {i}, {n}) END)")


def _id_birth_text(x: str) -> str:
    return f"(substr({x}, 7, 4) || '-' || substr({x}, 11, 2) || '-' || substr({x}, 13, 2))"


def birth_for_age_sql(id_expr: str, birth: str) -> str:
    """School age is taken from the birth date inside a valid ID, else from ``birth``. Where the two agree
    (nearly every row) the cheap text comparison decides; the validity test runs on the rest only. ``id_expr``
    must be a column: the expression repeats it many times."""
    text = _id_birth_text(id_expr)
    return (f"(CASE WHEN {text} = CAST({birth} AS TEXT) THEN {birth} "
            f"WHEN {id_expr} IS NOT NULL AND {valid_id_sql(id_expr)} THEN CAST({text} AS DATE) ELSE {birth} END)")


def registry_birth_sql(t: str = "t") -> str:
    """A registry record's birth date for school age: from its person's valid ID (its own, else the one inside
    its ``G`` number), else ``birth_date``. Written on the columns, not on the person key expression: nesting
    that expression costs ~12 s per million rows, this ~1 s."""
    i, n, b = f"{t}.id_number", f"{t}.student_no", f"{t}.birth_date"
    g = f"substr({n}, 2)"
    own_id_decides = f"({n} IS NULL OR substr({n}, 1, 1) <> 'G' OR {n} = 'G' || {i})"
    return (f"(CASE WHEN {own_id_decides} AND {_id_birth_text(i)} = CAST({b} AS TEXT) THEN {b} "
            f"WHEN {i} IS NOT NULL AND {valid_id_sql(i)} THEN CAST({_id_birth_text(i)} AS DATE) "
            f"WHEN substr({n}, 1, 1) = 'G' AND length({n}) = 19 AND {valid_id_sql(g)} "
            f"THEN CAST({_id_birth_text(g)} AS DATE) ELSE {b} END)")


def census_birth_sql(c: str = "c") -> str:
    """A census child's birth date for school age: from a valid ID, else ``birth_date``."""
    return birth_for_age_sql(f"{c}.id_number", f"{c}.birth_date")


def registry_persons_sql(where: str = "") -> str:
    """``staged.registry_current`` rows with ``record_key`` (student number, else ID), ``person_key`` (the
    matching rule) and ``age_birth_date`` (the birth date school age is taken from). ``where``: a filter on
    ``t`` (e.g. ``t.status = 'active'``)."""
    cond = f" WHERE {where}" if where else ""
    cols = ", ".join(f"t.{c}" for c in staged_columns("registry"))
    return (f"SELECT {cols}, coalesce(t.student_no, t.id_number) AS record_key, "
            f"{registry_person_key_sql('t')} AS person_key, {registry_birth_sql('t')} AS age_birth_date "
            f"FROM staged.registry_current t{cond}")


def attendance_persons_sql(window: str) -> str:
    """Roll-call rows of ``staged.attendance_current`` whose ``date`` satisfies ``window`` (a condition on ``a``),
    each with its ``person_key``: the row's ID number; else, through its student number, the person of the
    registry record with that number (any state); else the ID inside a ``G`` number; else the student number.
    Only the student numbers the window's ID-less rows use are looked up (grouping the whole registry cost
    5 s at 15M records)."""
    return f"""(WITH ap_rows AS (
        SELECT a.student_no, a.id_number, a.school_code, a.date, a.status, a.file_sha, a.row_no
        FROM staged.attendance_current a WHERE {window}
    ),
    ap_sno AS (
        SELECT t.student_no, min({registry_person_key_sql('t')}) AS person_key
        FROM staged.registry_current t
        WHERE t.student_no IN (SELECT student_no FROM ap_rows WHERE id_number IS NULL)
        GROUP BY t.student_no
    )
    SELECT coalesce(r.student_no, r.id_number) AS record_key,
           coalesce(r.id_number, s.person_key, {g_number_id_sql('r.student_no')}, r.student_no) AS person_key,
           r.student_no, r.id_number, r.school_code, r.date, r.status, r.file_sha, r.row_no
    FROM ap_rows r LEFT JOIN ap_sno s ON r.id_number IS NULL AND s.student_no = r.student_no)"""


REGISTRY_PERSON_KEY_R = registry_person_key_sql("r")  # the person of a registry row aliased ``r`` (report queries)
