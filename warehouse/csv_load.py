"""Loading one CSV extract with DuckDB's own CSV reader (issue 16): ``read_csv`` into a temporary table of text
cells, the values normalised once per distinct cell (:mod:`kongchuo.fastcsv`, which says why and when the file
may take this path), then one ``INSERT … SELECT`` into ``staged.<source>`` that joins each row to its values.

The cells' temporary table is committed on its own; the staged rows and the file's ``raw.files`` row (written by
the caller's ``files_row``) commit together in one transaction. Any exception means "use the pandas path": nothing
of the file was written, and the caller parses it as before, so a file this path cannot read exactly is never
loaded differently. :class:`Fallback` is raised for shapes found here (a cell over Excel's limit, many rows without
a key, fewer or more lines read than the file has); DuckDB's own errors (a ragged row, a stray quote) arrive as
theirs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from kongchuo.columns import staged_columns
from kongchuo.fastcsv import (
    MAX_KEYLESS_ROWS,
    PY_SPACE,
    CsvPlan,
    constant_values,
    group_values,
    id_number_flags,
    keyless_drops,
    lost_chunks,
    too_long,
)
from kongchuo.normalize import MAIN_DATE_COLUMN
from kongchuo.readers import CHUNK_ROWS
from warehouse.resource import WarehouseResource
from warehouse.sql import render

_SPACES_ONLY = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_SPACE) + "]*"

# The statements of this module, for the code_version of the ingest assets (pipelines.policies).
SQL_FILES = tuple(f"ingest/{n}" for n in ("cell_lengths", "distinct_cells", "file_dates", "id_chunks",
                                           "insert_staged", "keyless_rows", "read_cells"))


class Fallback(Exception):
    """The file has a shape this path leaves to the pandas path."""


@dataclass
class Loaded:
    rows: int
    min_date: dt.date | None
    max_date: dt.date | None
    skipped_rows: dict[str, int]


def load_csv(warehouse: WarehouseResource, plan: CsvPlan, path: Path, sha: str,
             files_row: Callable[[sa.Connection, Loaded], None], chunk_rows: int = CHUNK_ROWS) -> Loaded:
    """Read ``path`` (UTF-8: the raw file or its transcoded copy) as ``plan`` says into ``staged.<source>``, and
    ``files_row`` (the file's raw.files row) in the same transaction. The cells' temporary table is committed on
    its own first: the rowid of a committed table is the record's index in the file (rows appended inside a
    transaction get provisional row ids)."""
    spec = plan.opened.spec
    registered: list[str] = []
    raw = None
    try:
        with warehouse.begin() as conn:
            raw = conn.connection.driver_connection
            _read_cells(conn, plan, path)
        with warehouse.begin() as conn:
            records = _check_cells(conn, plan)
            first_row = plan.skip + 1
            dropped, kinds = _keyless(conn, plan, first_row)
            registered += _register(raw, "kc_dropped", pd.DataFrame({"rid": pd.array(dropped, dtype="int64")}))
            values, joins = _value_maps(conn, raw, plan, registered)
            params = {"sha": sha, "first_row": first_row}
            if "id_number" in plan.table.positions:
                values.update(_lost_ids(conn, raw, plan, registered, joins, values, first_row, chunk_rows))
                params["err_head"], params["err_tail"] = plan.id_error_parts()
            columns = staged_columns(spec.name)
            values.update(file_sha=":sha", row_no="t.rowid + :first_row", sheet="NULL")
            values.setdefault("row_error", "NULL")
            select = ", ".join(f"{values[c]} AS {c}" for c in columns)
            conn.execute(sa.text(render(
                "ingest/insert_staged", staged=f"staged.{spec.name}", columns=", ".join(columns), values=select,
                cells_joined=" ".join(["kc_csv_cells AS t", *joins]))), params)
            lo, hi = _dates(conn, spec.name, sha)
            loaded = Loaded(records - len(dropped), lo, hi, dict(kinds))
            files_row(conn, loaded)
        return loaded
    finally:
        for name in registered if raw is not None else ():
            raw.unregister(name)
        with warehouse.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS kc_csv_cells"))


def _read_cells(conn: sa.Connection, plan: CsvPlan, path: Path) -> None:
    """The file's data records into kc_csv_cells."""
    conn.execute(sa.text("DROP TABLE IF EXISTS kc_csv_cells"))
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(plan.width)) + "}"
    cells = ", ".join(f"CASE WHEN regexp_full_match(c{i}, '{_SPACES_ONLY}') THEN NULL ELSE c{i} END AS c{i}"
                      for i in range(plan.width))
    conn.execute(sa.text(render("ingest/read_cells", columns=columns, cells=cells)),
                 {"path": str(path), "skip": plan.skip, "delim": plan.opened.delimiter})


def _check_cells(conn: sa.Connection, plan: CsvPlan) -> int:
    """The number of records read; :class:`Fallback` for row ids that are not positions, or a cell too long."""
    used = sorted(set(plan.table.positions.values()))
    lengths = ", ".join(f"max(strlen(t.c{p})) AS c{p}" for p in used)
    end = plan.new_line[-1]  # one character per line break (CRLF files hold no lone CR or LF: fastcsv checked)
    breaks = " + ".join(f"coalesce(strlen(t.c{i}) - strlen(replace(t.c{i}, :line_end, '')), 0)"
                        for i in range(plan.width))
    stats = dict(conn.execute(sa.text(render("ingest/cell_lengths", lengths=lengths, breaks=breaks)),
                              {"line_end": end}).mappings().one())
    records, first, last = stats.pop("records"), stats.pop("first_rowid"), stats.pop("last_rowid")
    if records and (first, last) != (0, records - 1):
        raise Fallback("row ids are not the records' positions")
    if records + int(stats.pop("breaks")) + plan.skip != plan.lines:
        raise Fallback("DuckDB read another number of lines than the file has")
    if too_long(stats):
        raise Fallback("a cell longer than Excel's limit")
    return int(records)


def _keyless(conn: sa.Connection, plan: CsvPlan, first_row: int) -> tuple[list[int], Counter]:
    keys = [plan.cell(k) for k in ("id_number", "student_no") if k in plan.table.positions]
    no_key = " AND ".join(f"NOT coalesce(regexp_matches(t.{c}, '[0-9]'), false)" for c in keys) or "TRUE"
    rows = _frame(conn, render("ingest/keyless_rows", no_key=no_key),
                  {"first_row": first_row, "limit": MAX_KEYLESS_ROWS + 1})
    if len(rows) > MAX_KEYLESS_ROWS:
        raise Fallback("many rows without an ID or student number")
    if not len(rows):
        return [], Counter()
    rows = rows.astype(object).where(rows.notna(), None)
    return keyless_drops(plan, rows)


def _frame(conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """A query's rows column by column (DuckDB's fetch_df), the result closed before the next statement."""
    result = conn.execute(sa.text(sql), params or {})
    try:
        return result.cursor.fetch_df()
    finally:
        result.close()


def _register(raw: object, name: str, frame: pd.DataFrame) -> list[str]:
    raw.register(name, pa.Table.from_pandas(frame, preserve_index=False))
    return [name]


def _value_maps(conn: sa.Connection, raw: object, plan: CsvPlan, registered: list[str]
                ) -> tuple[dict[str, str], list[str]]:
    """Register one map per group of staged columns; the SELECT expression of each staged column and the joins."""
    spec = plan.opened.spec
    values: dict[str, str] = {}
    joins: list[str] = []
    keys = [_frame(conn, render("ingest/distinct_cells", key_cells=", ".join(
        f"t.{plan.cell(c)} AS k{i}" for i, c in enumerate(group.inputs)))) for group in plan.groups]
    for n, (group, frame) in enumerate(zip(plan.groups, group_values(spec, plan.groups, keys))):
        registered += _register(raw, f"kc_map_{n}", frame)
        on = " AND ".join(f"t.{plan.cell(c)} IS NOT DISTINCT FROM m{n}.k{i}" for i, c in enumerate(group.inputs))
        joins.append(f"LEFT JOIN kc_map_{n} AS m{n} ON {on}")
        values.update({c: f"m{n}.v_{c}" for c in group.outputs})
    if plan.constant_outputs:
        registered += _register(raw, "kc_map_const", constant_values(spec, plan.constant_outputs))
        joins.append("CROSS JOIN kc_map_const AS mc")
        values.update({c: f"mc.v_{c}" for c in plan.constant_outputs})
    return values, joins


def _lost_ids(conn: sa.Connection, raw: object, plan: CsvPlan, registered: list[str], joins: list[str],
              values: dict[str, str], first_row: int, chunk_rows: int) -> dict[str, str]:
    """``id_number`` NULL and a ``row_error`` for IDs stored as numbers (scientific notation always; 18 digits
    ending in 000 in a chunk where most IDs are so)."""
    cell = f"t.{plan.cell('id_number')}"
    ids = _frame(conn, render("ingest/distinct_cells", key_cells=f"{cell} AS k0"))["k0"]
    flags = id_number_flags(ids.astype(object).where(ids.notna(), None))
    if not (flags["sci"].any() or flags["cut"].any()):
        return {}
    registered += _register(raw, "kc_id_flags", flags)
    counts = _frame(conn, render("ingest/id_chunks", id_cell=cell), {"first_row": first_row, "chunk_rows": chunk_rows})
    chunks = ", ".join(str(c) for c in lost_chunks(counts)) or "NULL"
    joins.append(f"LEFT JOIN kc_id_flags AS f ON {cell} = f.k0")
    lost = (f"(coalesce(f.sci, false) OR (coalesce(f.cut, false) AND "
            f"floor((t.rowid + {first_row} - 1) / {int(chunk_rows)}) IN ({chunks})))")
    return {"id_number": f"CASE WHEN {lost} THEN NULL ELSE {values['id_number']} END",
            "row_error": f"CASE WHEN {lost} THEN :err_head || CAST(t.rowid + :first_row AS VARCHAR) || :err_tail END"}


def _dates(conn: sa.Connection, source: str, sha: str) -> tuple[dt.date | None, dt.date | None]:
    column = MAIN_DATE_COLUMN.get(source)
    if not column:
        return None, None
    row = conn.execute(sa.text(render("ingest/file_dates", staged=f"staged.{source}", date_column=column)),
                       {"sha": sha}).one()
    return row[0], row[1]

