"""Views over the staged tables: the current state of snapshot sources (portable DuckDB / PostgreSQL SQL).

Registry and census files are snapshots of their scope (the schools, the townships they hold): each scope's
records are those of its newest snapshot (by snapshot date: export date, else the date in the file name,
else landing time), which REPLACES every earlier record of the scope (see "snapshots" below). Attendance
files may be re-sent with corrections: ``attendance_current`` keeps, per record key, the row of the most
recently ingested file (``raw.files.ingested_at``). Inside one file the last row wins (highest ``row_no``).
Rows without a key (no ID number and no student number) are left out of the views; the DQ03 check reports
them from the staged table.

- ``staged.registry_current``: key (``person_key`` = coalesce(id_number, student_no), school_code)
- ``staged.census_current``: key id_number
- ``staged.attendance_current``: key (``person_key`` = coalesce(student_no, id_number), school_code, date)

They are materialised as TABLES, brought up to date by the ingest step of their source at the end of every
ingestion (also when nothing new arrived, so a run killed between loading and refreshing heals on the next
run). The refresh is incremental (:func:`incremental_sql`): only the files not yet merged in
(``staged.current_files``) compete with the current rows of their keys, so the cost stays that of one new
snapshot against the current one while ``staged.registry`` accumulates a snapshot every month (a rebuild
grows with every month kept). As views, every check, derived table and ledger query re-ran the window over
the whole staged table, and about ten steps read ``attendance_current``; built once, each read afterwards is
a plain table scan (measurements: BENCHMARKS.md).

The statements are ``warehouse/sql/current/*.sql`` (current tables) and ``warehouse/sql/snapshots/*.sql``
(snapshot registration, judging and choice). What differs per source is filled in by ``render`` from the fixed
:data:`CURRENT_VIEWS` / :data:`SNAPSHOT_VIEWS` only (table, column and source names, the key expression); values
(a period's last day, the drop thresholds) are bind parameters. The matching rule (persons, valid IDs) is below,
written once.
"""

from __future__ import annotations

import datetime as dt

from kongchuo.snapshot_dates import delivery_key, snapshot_date
from warehouse.layout import staged_columns
from warehouse.sql import load, render

# The statements of this module, for the code_version of the assets that refresh the current tables.
SQL_FILES = tuple(f"current/{n}" for n in ("staged_rows", "unmerged_files", "winners", "competing",
                                           "delete_competing")) + tuple(
    f"snapshots/{n}" for n in ("candidates", "newest_date_files", "winners", "home_scopes", "rows", "register",
                               "landed", "dated_new", "verdicts", "drops", "set_previous", "set_status",
                               "changed_scopes")) + ("matching/registry_persons", "matching/attendance_persons",
                                                     "matching/first_records")

# view name -> (source table, person key expression, extra partition columns)
CURRENT_VIEWS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "staged.registry_current": ("registry", "coalesce(s.id_number, s.student_no)", ("school_code",)),
    "staged.census_current": ("census", "s.id_number", ()),
    "staged.attendance_current": ("attendance", "coalesce(s.student_no, s.id_number)", ("school_code", "date")),
}


def _keys(view: str) -> list[str]:
    return ["person_key", *CURRENT_VIEWS[view][2]]


def _names(view: str) -> dict[str, str]:
    """The identifier parts of ``view``'s statements, from the fixed :data:`CURRENT_VIEWS` (never from data)."""
    if view not in CURRENT_VIEWS:
        raise ValueError(f"not a current table: {view!r}")
    source, key, _ = CURRENT_VIEWS[view]
    return {"src": source, "view": view, "person_key": key,
            "columns": ", ".join(f"s.{c}" for c in staged_columns(source))}


def staged_rows_sql(view: str, only_new: bool = False) -> str:
    """The staged rows of ingested files with ``person_key`` and ``ingested_at`` (the columns of a current
    table); ``only_new``: only files the current table was not built from yet (``staged.current_files``)."""
    files = f"({render('current/unmerged_files', view=view)})" if only_new else "raw.files"
    return render("current/staged_rows", **_names(view), files=files)


def winners_sql(view: str, rows: str, tail: tuple[str, ...] = ("person_key", "ingested_at")) -> str:
    """Per key, the row of the most recently ingested file, then the last row, among ``rows`` (a relation
    with a current table's columns): ``current/winners.sql``."""
    cols = [*staged_columns(CURRENT_VIEWS[view][0]), *tail]
    keys = _keys(view)
    return render("current/winners", rows=rows, key_columns=", ".join(keys),
                  partition_columns=", ".join(f"k.{c}" for c in keys),
                  same_key=_same_key(view, "d", "k"),  # NULL extras are one key, as in GROUP BY and PARTITION BY
                  winner_columns=", ".join(f"w.{c}" for c in cols))


def current_select_sql(view: str) -> str:
    """The SELECT of one current table, from all staged rows (snapshot sources: the rows of each scope's
    winning snapshot, :func:`snapshot_rows_sql`)."""
    if view in SNAPSHOT_VIEWS:
        return winners_sql(view, snapshot_rows_sql(view, winners_sql_for(view)), SNAPSHOT_TAIL)
    return winners_sql(view, staged_rows_sql(view))


FILES_TABLE = "staged.current_files"  # (view_name, file_sha): the files each current table was built from
_NEW, _CAND = "_kongchuo_current_new", "_kongchuo_current_cand"


def current_view_sql(view: str, dialect: str = "duckdb") -> list[str]:
    """Statements that (re)build one current table from scratch (no object of that name may be a view).
    Snapshot files not registered yet are registered as dated by their landing day (SQL only: the export
    date and the file name are read by :func:`register_snapshots` during ingestion)."""
    select = current_select_sql(view)
    first = [register_landed_sql(view)] if view in SNAPSHOT_VIEWS else []
    if dialect == "duckdb":
        return first + [f"CREATE OR REPLACE TABLE {view} AS {select}"]
    return first + [f"DROP TABLE IF EXISTS {view}", f"CREATE TABLE {view} AS {select}", f"ANALYZE {view}"]


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
    same = {"view": view, "new_rows": _NEW, "same_key": _same_key(view, "t", "n")}
    stmts = [
        f"DROP TABLE IF EXISTS {_NEW}", f"DROP TABLE IF EXISTS {_CAND}",
        f"CREATE TEMP TABLE {_NEW} AS {staged_rows_sql(view, only_new=True)}",
        f"CREATE TEMP TABLE {_CAND} AS {render('current/competing', **same)}",
        render("current/delete_competing", **same),
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


def refresh_current(warehouse, sources: list[str] | None = None, full: bool = False,
                    confirmations: list[str] | None = None, as_of: dt.date | None = None) -> list[str]:
    """Bring the current tables of ``sources`` (default all) up to date, in one transaction.

    A table that is missing, was built before file tracking, or ``full=True``: rebuilt from all staged rows.
    Otherwise only the files ingested since its last refresh are merged in (:func:`incremental_sql`); a run
    killed between loading a file and this refresh leaves the file untracked, so the next refresh takes it.
    A warehouse made before they were tables still holds views of those names: dropped first.
    Registry and census are snapshots (:func:`refresh_snapshot_view`); ``confirmations`` are the texts (names
    and contents) of the files in ``landing/confirmations/``; ``as_of`` (a period's last day) makes them hold
    each scope's newest snapshot dated up to that day (the registry of that period), else the newest of all.
    Returns messages for the log (record drops, held and confirmed snapshots)."""
    import sqlalchemy as sa

    messages: list[str] = []

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
            if view in SNAPSHOT_VIEWS:
                rebuild = full or kind != "BASE TABLE" or not _has_column(conn, view, "scope_code")
                messages += refresh_snapshot_view(conn, view, rebuild, warehouse.dialect, confirmations, as_of)
                continue
            rebuild = full or kind != "BASE TABLE" or view not in tracked
            statements = current_view_sql(view, warehouse.dialect) if rebuild else incremental_sql(
                view, warehouse.dialect)
            for stmt in statements:
                conn.execute(sa.text(stmt))
            _record_files(conn, view, replace=rebuild)
    return messages


def _has_column(conn, view: str, column: str) -> bool:
    import sqlalchemy as sa

    schema, table = view.split(".")
    return bool(conn.execute(sa.text(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = :s AND table_name = :t "
        "AND column_name = :c"), {"s": schema, "t": table, "c": column}).scalar())


# --- snapshots: a registry or census file replaces every record of its scope ---------------------------------
#
# A registry file is a snapshot of the schools it holds, a census file of the townships it holds (DESIGN.md
# "Snapshots, and publishing only what is whole"). ``raw.snapshots`` has one row per (file, scope) with the
# file's snapshot date (export date, else a date in its name, else its landing day: never the order of names)
# and its record count. The current table holds, for every scope, the records of the scope's newest applied
# snapshot (by snapshot date, then landing time): a corrected file thus REMOVES a mistyped record instead of
# leaving it beside the right one, and last term's snapshot re-sent late does not override this term's.
# Records without a school (township) belong to their file's first scope and go with it.
# A snapshot whose record count for a scope falls by more than 10 % against the snapshot it would replace
# warns; by more than 50 % the whole file is held (not applied) until a file in ``landing/confirmations/``
# names it (its file name or the first 12 characters of its SHA-256).
#
# Incremental: only scopes whose winning file changed are deleted and re-inserted (set-based SQL), so a
# monthly snapshot of one county costs that county's records, not the province's.

SNAPSHOT_VIEWS: dict[str, str] = {"staged.registry_current": "school_code", "staged.census_current": "township_code"}
SNAPSHOT_TAIL = ("person_key", "ingested_at", "scope_code")
SCOPES_TABLE = "staged.current_scopes"  # (view_name, scope_code, file_sha): the winners the table holds
NO_SCOPE = "~"
WARN_DROP, HOLD_DROP = 0.10, 0.50
_WIN, _CHG = "_kongchuo_snap_win", "_kongchuo_snap_chg"


_APPLIED, _EVERY = "'applied', 'confirmed'", "'new', 'held', 'applied', 'confirmed'"


def candidates_sql(view: str, statuses: str, as_of: str | None = None) -> str:
    """``snapshots/candidates.sql``: the snapshots of ``statuses`` (applied and confirmed, or every status), dated
    up to ``as_of`` (a date expression of bind parameters) when given."""
    pending = {_APPLIED: "FALSE", _EVERY: "TRUE"}[statuses]
    return render("snapshots/candidates", src=_snapshot_source(view), pending=pending,
                  dated=f"n.snapshot_date <= {as_of}" if as_of else "TRUE")


def home_scopes_sql(source: str) -> str:
    """Each snapshot file's first scope (``snapshots/home_scopes.sql``)."""
    return render("snapshots/home_scopes", src=_snapshot_source(f"staged.{source}_current"))


def _snapshot_source(view: str) -> str:
    if view not in SNAPSHOT_VIEWS:
        raise ValueError(f"not a snapshot table: {view!r}")
    return CURRENT_VIEWS[view][0]


def _newest_date_files_sql(candidates: str, pick: str = "max") -> str:
    """Per scope, the files of its newest snapshot date (``pick="min"``: its oldest):
    ``snapshots/newest_date_files.sql``."""
    return render("snapshots/newest_date_files", candidates=candidates, pick={"max": "max", "min": "min"}[pick])


def winners_sql_for(view: str, as_of: bool = False) -> str:
    """Per scope, the files of its newest applied snapshot (scope_code, file_sha): ``snapshots/winners.sql``.

    ``as_of`` (bind parameter ``:as_of``, the last day of a period): the newest snapshot dated up to that day —
    "the registry of month M is each scope's newest snapshot dated up to M's end", so re-running September after
    October's snapshot landed reads September's registry again. A scope without any snapshot dated that early
    keeps its OLDEST snapshot (the nearest there is) rather than vanishing from the period: an export without a
    date is dated by its landing, usually a few days after the month it describes."""
    upto = candidates_sql(view, _APPLIED, "CAST(:as_of AS DATE)" if as_of else None)
    return render("snapshots/winners", upto=_newest_date_files_sql(upto),
                  oldest=_newest_date_files_sql(candidates_sql(view, _APPLIED), pick="min"))


def snapshot_rows_sql(view: str, winners: str) -> str:
    """The staged rows of the winning snapshots (``winners``: scope_code, file_sha) with the columns of the
    current table (staged columns, person_key, ingested_at, scope_code): ``snapshots/rows.sql``."""
    _snapshot_source(view)
    return render("snapshots/rows", **_names(view), scope_column=SNAPSHOT_VIEWS[view], winners=winners,
                  home_scopes=home_scopes_sql(CURRENT_VIEWS[view][0]))


def _unregistered_files(conn, source: str) -> list[tuple[str, str, str, str | None, object]]:
    import sqlalchemy as sa

    return [tuple(r) for r in conn.execute(sa.text(
        "SELECT f.file_sha, f.original_name, f.raw_path, f.encoding, f.ingested_at FROM raw.files f "
        "WHERE f.source = :s AND f.status = 'ingested' "
        "AND f.file_sha NOT IN (SELECT n.file_sha FROM raw.snapshots n WHERE n.source = :s)"), {"s": source}).all()]


def _register_sql(view: str, dated: str) -> str:
    """INSERT of the snapshot rows of the files in ``dated`` (file_sha, d, origin, delivery, status):
    ``snapshots/register.sql``."""
    names = _names(view)
    return render("snapshots/register", src=_snapshot_source(view), person_key=names["person_key"],
                  scope_column=SNAPSHOT_VIEWS[view], dated_files=dated)


def register_landed_sql(view: str) -> str:
    return _register_sql(view, render("snapshots/landed", src=_snapshot_source(view)))


def register_snapshots(conn, view: str) -> int:
    """Give every ingested file of the view's source not registered yet its snapshot rows (status 'new'):
    one per scope it holds, with its date and record count. Returns how many files were registered."""
    import datetime as dt
    from pathlib import Path

    import sqlalchemy as sa


    source = CURRENT_VIEWS[view][0]
    files = _unregistered_files(conn, source)
    if not files:
        return 0
    conn.execute(sa.text("DROP TABLE IF EXISTS _kongchuo_snap_dates"))
    conn.execute(sa.text("CREATE TEMP TABLE _kongchuo_snap_dates (file_sha TEXT, d DATE, origin TEXT, delivery TEXT)"))
    rows = []
    for sha, name, raw_path, encoding, landed in files:
        landed_at = landed if isinstance(landed, dt.datetime) else dt.datetime.fromisoformat(str(landed))
        date, origin = snapshot_date(Path(raw_path), encoding, name, landed_at)
        rows.append({"f": sha, "d": date, "o": origin, "k": delivery_key(name)})
    conn.execute(sa.text("INSERT INTO _kongchuo_snap_dates VALUES (:f, :d, :o, :k)"), rows)
    conn.execute(sa.text(_register_sql(view, load("snapshots/dated_new"))))
    conn.execute(sa.text("DROP TABLE _kongchuo_snap_dates"))
    return len(files)


def judge_new_snapshots(conn, view: str) -> list[str]:
    """New (and held) snapshots against the snapshot they would replace, per scope: the records of every file
    of the scope's new date together against those of the newest applied date before it. A scope falling by
    > 50 % holds its files (a file with one such scope is held whole) until confirmed; by > 10 % warns. A held
    file whose missing part arrives later (a snapshot split in two files) is released. Returns the warnings
    for newly judged files only (names are display names: sanitised and masked)."""
    import sqlalchemy as sa

    source = CURRENT_VIEWS[view][0]
    new = [sha for (sha,) in conn.execute(sa.text(
        "SELECT DISTINCT file_sha FROM raw.snapshots WHERE source = :s AND status IN ('new', 'held')"),
        {"s": source}).all()]
    if not new:
        return []
    verdicts = render("snapshots/verdicts", src=source, everything=candidates_sql(view, _EVERY),
                      applied=candidates_sql(view, _APPLIED))
    conn.execute(sa.text("DROP TABLE IF EXISTS _kongchuo_snap_verdicts"))
    conn.execute(sa.text(f"CREATE TEMP TABLE _kongchuo_snap_verdicts AS {verdicts}"))
    params = {"source": source, "warn_below": 1 - WARN_DROP, "hold_below": 1 - HOLD_DROP}
    drops = conn.execute(sa.text(load("snapshots/drops")), params).all()
    conn.execute(sa.text(load("snapshots/set_previous")), params)
    conn.execute(sa.text(load("snapshots/set_status")), params)
    conn.execute(sa.text("DROP TABLE _kongchuo_snap_verdicts"))
    return [f"{name}: {scope_code} 记录数 {prev} → {now}（下降 {1 - now / prev:.0%}）"
            + ("，已暂停应用，待 landing/confirmations/ 确认 (held until confirmed)" if now < (1 - HOLD_DROP) * prev
               else "，请核实 (warning)") for name, scope_code, prev, now in drops if prev]


def confirm_held(conn, view: str, confirmations: list[str]) -> list[str]:
    """Held snapshots named by a confirmation (file name or the first 12 characters of the SHA-256) become
    'confirmed' (applied). Returns the confirmed file names."""
    import sqlalchemy as sa

    source = CURRENT_VIEWS[view][0]
    held = conn.execute(sa.text(
        "SELECT DISTINCT n.file_sha, f.original_name FROM raw.snapshots n JOIN raw.files f "
        "ON f.file_sha = n.file_sha AND f.source = n.source WHERE n.source = :s AND n.status = 'held'"),
        {"s": source}).all()
    confirmed = []
    for sha, name in held:
        base = name.rsplit("/", 1)[-1]
        if any(sha[:12] in text or base in text for text in confirmations):
            conn.execute(sa.text("UPDATE raw.snapshots SET status = 'confirmed' WHERE file_sha = :f AND source = :s "
                                 "AND status = 'held'"), {"f": sha, "s": source})
            confirmed.append(name)
    return confirmed


def _winner_statements(view: str, as_of: dt.date | None) -> list[str]:
    return [f"DROP TABLE IF EXISTS {_WIN}", f"CREATE TEMP TABLE {_WIN} AS {winners_sql_for(view, as_of is not None)}"]


def _snapshot_statements(view: str, rebuild: bool, dialect: str) -> list[str]:
    """Bring one snapshot table up to date with its winners (temp table ``_WIN``, :func:`_winner_statements`;
    ``as_of``: the winners dated up to a period's last day). Unless ``rebuild``, only scopes whose winner changed
    are rewritten, so switching between periods costs the scopes that differ."""
    tail = list(SNAPSHOT_TAIL)
    stmts: list[str] = []  # the winners are in _WIN already (:func:`_winner_statements`)
    if rebuild:
        select = winners_sql(view, snapshot_rows_sql(view, f"SELECT * FROM {_WIN}"), SNAPSHOT_TAIL)
        stmts += [f"DROP TABLE IF EXISTS {view}", f"CREATE TABLE {view} AS {select}"]
    else:
        changed = render("snapshots/changed_scopes", view=view, winners_table=_WIN)
        same = {"view": view, "new_rows": _NEW, "same_key": _same_key(view, "t", "n")}
        stmts += [
            f"DROP TABLE IF EXISTS {_CHG}", f"CREATE TEMP TABLE {_CHG} AS {changed}",
            f"DELETE FROM {view} WHERE scope_code IN (SELECT scope_code FROM {_CHG})",
            f"DROP TABLE IF EXISTS {_NEW}", f"DROP TABLE IF EXISTS {_CAND}",
            f"CREATE TEMP TABLE {_NEW} AS " + snapshot_rows_sql(
                view, f"SELECT * FROM {_WIN} WHERE scope_code IN (SELECT scope_code FROM {_CHG})"),
            # a person may sit in two scopes (census: moved township): the same key competes across them
            f"CREATE TEMP TABLE {_CAND} AS {render('current/competing', **same)}",
            render("current/delete_competing", **same),
            f"INSERT INTO {view} ({', '.join([*staged_columns(CURRENT_VIEWS[view][0]), *tail])}) "
            f"{winners_sql(view, f'SELECT * FROM {_CAND}', SNAPSHOT_TAIL)}",
            f"DROP TABLE {_NEW}", f"DROP TABLE {_CAND}", f"DROP TABLE {_CHG}",
        ]
    stmts += [f"DELETE FROM {SCOPES_TABLE} WHERE view_name = :view",
              f"INSERT INTO {SCOPES_TABLE} (view_name, scope_code, file_sha) SELECT :view, scope_code, file_sha "
              f"FROM {_WIN}", f"DROP TABLE {_WIN}"]
    return stmts + ([f"ANALYZE {view}"] if dialect != "duckdb" else [])


def refresh_snapshot_view(conn, view: str, rebuild: bool, dialect: str,
                          confirmations: list[str] | None = None, as_of: dt.date | None = None) -> list[str]:
    """Register new snapshots, judge them, apply confirmations, then update the table. Returns messages
    (drops, holds, confirmations) for the log."""
    import sqlalchemy as sa

    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {SCOPES_TABLE} (view_name TEXT NOT NULL, "
                         f"scope_code TEXT NOT NULL, file_sha TEXT NOT NULL)"))
    register_snapshots(conn, view)
    messages = judge_new_snapshots(conn, view)
    messages += [f"{name}: 已确认，应用 (confirmed, applied)" for name in confirm_held(conn, view, confirmations or [])]
    params = {"view": view, "as_of": as_of}  # each statement binds the ones it names
    for stmt in _winner_statements(view, as_of):
        conn.execute(sa.text(stmt), params)
    for stmt in _snapshot_statements(view, rebuild, dialect):
        conn.execute(sa.text(stmt), params)
    return messages


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

    The full validity test is the expensive part (17 weighted digits), so it runs only where it can change the
    answer: an ID whose student number is not a ``G`` number, or is ``G`` + that same ID, is the person either
    way (valid: itself; invalid: no other ID to take), and a record without ID and without ``G`` number is its
    student number. That leaves ID-less ``G`` records and the rare ``G`` number that differs from the record's ID."""
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
    that expression would repeat the validity test inside every branch."""
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
    matching rule) and ``age_birth_date`` (the birth date school age is taken from): ``matching/registry_persons.sql``.
    ``where``: a filter on ``t`` (e.g. ``t.status = 'active'``)."""
    return render("matching/registry_persons", columns=", ".join(f"t.{c}" for c in staged_columns("registry")),
                  person_key=registry_person_key_sql("t"), age_birth_date=registry_birth_sql("t"),
                  records=where or "TRUE")


def attendance_persons_sql(window: str) -> str:
    """Roll-call rows of ``staged.attendance_current`` whose ``date`` satisfies ``window`` (a condition on ``a``),
    each with its ``person_key`` (``matching/attendance_persons.sql``, in brackets: a subquery)."""
    return "(" + render("matching/attendance_persons", window=window,
                        registry_person_key=registry_person_key_sql("t"),
                        g_number_id=g_number_id_sql("r.student_no")) + ")"


REGISTRY_PERSON_KEY_R = registry_person_key_sql("r")  # the person of a registry row aliased ``r`` (report queries)


def first_records_sql(persons: str) -> str:
    """Each person's first registry record (active first, then by school code), for the persons ``persons`` (a
    condition on the record ``p``): ``warehouse/sql/matching/first_records.sql``."""
    return render("matching/first_records", registry_persons=registry_persons_sql(), persons=persons)
