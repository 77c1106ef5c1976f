"""CSV extracts read by the warehouse's own CSV reader (DuckDB ``read_csv``), with the same rows, values and
messages as the pandas path (:mod:`kongchuo.readers` + :mod:`kongchuo.normalize`). Issue 16.

The choice, and why:

- Python still opens each file as before (:func:`kongchuo.readers.open_source_file`: encoding, delimiter, the
  header after title lines, aliases, missing columns, month grids). Any file-level problem found there is left
  to the pandas path, which words it exactly as it always did. Only the bulk row parsing goes to DuckDB
  (``read_csv`` with the sniffed delimiter, ``all_varchar``, every field named, strict: a row
  with more or fewer fields than the header is a DuckDB error, and the file then goes the pandas path, which
  says which row and column).
- The fast path is taken only where both readers see the same records; everything else falls back, the whole
  file, before anything is written (:func:`plan_csv` returns the reason): a line ending that is not the same
  everywhere (a lone CR in an LF file is a line break for pandas but a character for DuckDB), blank lines
  (DuckDB skips them; pandas counts them as rows, and the row numbers people see must not shift), a cell
  longer than Excel's limit, a month grid. GB18030/GBK files are transcoded to UTF-8 in a streaming pass (the
  DuckDB build here reads GBK only with an extension that needs a download); line structure is unchanged.
- Row numbers: the cells land in a temporary table in file order (``preserve_insertion_order``, DuckDB's
  default), so ``rowid`` + the records above the data is the row number the pandas path gives (a quoted line
  break keeps a record one row in both).
- Normalisation is done ONCE PER DISTINCT VALUE with the very functions of :mod:`kongchuo.normalize`, and the
  rows get their values by a join in SQL (:mod:`warehouse.csv_load`): a roll call of 1.85M rows has ~100k
  distinct IDs, 22 dates and a handful of statuses. Writing the date, grade, code and flag rules a second
  time in SQL would give two definitions of each rule that could drift (XLSX keeps the Python path), for
  no speed: the per-row work, which is what costs, is the join. Columns derived from several cells
  (attendance 是否请假/请假类型 → status) are normalised per distinct tuple of their cells (:data:`GROUPS`).
- Row-level problems: an ID typed as a number is decided per distinct ID (scientific notation, 18 digits
  ending in 000) and per 500k-row chunk (most IDs of the chunk ending in 000), as the pandas path does, and
  worded with the same file/row/column text. Rows without an ID or student number (candidate total and note
  lines, ``合计``/``填表人``) are few: SQL finds them, :func:`kongchuo.readers.note_kind` decides each one.
- Census files that name the township only in the address (a per-row error for an unknown township) stay on
  the pandas path.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kongchuo.columns import staged_columns
from kongchuo.excel import column_letter
from kongchuo.normalize import normalize_frame
from kongchuo.readers import (
    _SCIENTIFIC,
    _TRUNCATED18,
    BLANK_ROW,
    HEADER_SCAN_ROWS,
    ID_AS_NUMBER,
    MAX_CELL_CHARS,
    MIN_NUMERIC_COLUMN,
    SourceFile,
    Table,
    note_kind,
    open_source_file,
    row_place,
)
from kongchuo.sources import SourceSpec

# Sources whose CSV files take the fast path: attendance, the largest. The others load the same rows through it
# (tests/test_fast_csv.py), but their files are small at district scale, where its fixed cost per file (~1 s of
# queries and per-group normalisation) is more than the parse it saves.
FAST_SOURCES = ("attendance",)
# Columns whose staged values are derived from several cells: normalised per distinct tuple of the cells present.
GROUPS: dict[str, tuple[frozenset[str], ...]] = {
    "attendance": (frozenset({"status", "on_leave", "leave_type"}),),
    "census": (frozenset({"residence_status", "cancel_reason"}), frozenset({"township_code", "region_code", "address"})),
    "exemptions": (frozenset({"term", "valid_until", "approved_on"}),),
}
CONTEXT = ("file_sha", "row_no", "sheet", "row_error")
MAX_KEYLESS_ROWS = 50_000  # rows without an ID or student number looked at one by one (totals, notes, blanks)


@dataclass
class Group:
    """Staged columns computed together from the cells of ``inputs`` (canonical names present in the file)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass
class CsvPlan:
    """How DuckDB reads one CSV: what the pandas path would read, as ``read_csv`` options."""

    opened: SourceFile
    new_line: str  # '\\n', '\\r\\n' or '\\r'
    lines: int  # the file's lines (a last line without an ending counted)
    skip: int  # records above the data (title lines and the header): DuckDB's ``skip`` counts records too
    groups: list[Group] = field(default_factory=list)
    constant_outputs: tuple[str, ...] = ()  # staged columns of groups with no cell in the file

    @property
    def table(self) -> Table:
        return self.opened.tables[0]

    @property
    def width(self) -> int:
        return self.table.width

    def cell(self, canonical: str) -> str:
        """The temporary table's column of a canonical column."""
        return f"c{self.table.positions[canonical]}"

    def id_error_parts(self) -> tuple[str, str]:
        """('<file> 第 ', ' 行 D 列（身份证号）：<text>'): the row number goes between them."""
        pos = self.table.positions["id_number"]
        head, tail = row_place(self.opened.name, None, "\0").split("\0")
        label = SourceFile._label_at(self.table, pos)
        return head, f"{tail} {column_letter(pos)} 列（{label}）：{ID_AS_NUMBER}"


# Python's str.strip()/isspace() characters (Unicode 15; tests/test_fast_csv.py checks the list), for SQL: a cell
# of these only is an empty cell, as in the pandas path.
PY_SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
            "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def plan_csv(path: Path, spec: SourceSpec, name: str) -> CsvPlan | str:
    """A :class:`CsvPlan`, or why the file goes the pandas path (which also reports every file-level problem)."""
    if spec.name not in FAST_SOURCES or path.suffix.lower() != ".csv":
        return "not a CSV of a fast source"
    try:
        opened = open_source_file(path, spec, name)
    except Exception:  # noqa: BLE001 - the pandas path reports it in its own words
        return "file-level problem"
    table = opened.tables[0]
    if table.grid is not None:
        return "month grid"
    if spec.name == "census" and "township_code" not in table.positions and "address" in table.positions:
        return "township from the address"
    ending = _line_ending(path)
    if ending is None:
        return "mixed line endings or blank lines"
    new_line, lines = ending
    if not _header_one_line_each(path, opened.encoding or "utf-8", opened.delimiter, table.header_row):
        return "a header record spans several lines"
    plan = CsvPlan(opened, new_line, lines, table.header_row)
    _plan_groups(plan, spec)
    return plan


def _line_ending(path: Path) -> tuple[str, int] | None:
    """The one line ending of the file and its number of lines, or None when pandas and DuckDB could see
    different records: CR and LF mixed, or a blank line (DuckDB skips it, pandas counts it)."""
    data = path.read_bytes()
    cr, lf, crlf = data.count(b"\r"), data.count(b"\n"), data.count(b"\r\n")
    if lf and not cr:
        ending, blank = "\n", b"\n\n"
    elif cr and not lf:
        ending, blank = "\r", b"\r\r"
    elif cr == lf == crlf and crlf:
        ending, blank = "\r\n", b"\r\n\r\n"
    else:
        return None
    first = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if blank in data or first.startswith(ending.encode()) or data.endswith(blank):
        return None
    return ending, data.count(ending.encode()) + (0 if data.endswith(ending.encode()) else 1)


def _header_one_line_each(path: Path, encoding: str, delimiter: str, records: int) -> bool:
    """Whether each of the first ``records`` CSV records (title lines, the header) is one line: DuckDB's ``skip``
    counts records, and a quoted line break above the data is rare enough to leave to the pandas path."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, quotechar='"')
        for i, _ in enumerate(reader, start=1):
            if reader.line_num != i:
                return False
            if i == records:
                return True
            if i > HEADER_SCAN_ROWS:
                break
    return False


def _plan_groups(plan: CsvPlan, spec: SourceSpec) -> None:
    present = set(plan.table.positions)
    owner: dict[str, frozenset[str]] = {}
    for group in GROUPS.get(spec.name, ()):
        for member in group:
            owner[member] = group
    outputs: dict[frozenset[str], list[str]] = {}
    for col in staged_columns(spec.name):
        if col in CONTEXT:
            continue
        base = col[:-4] if col.endswith("_raw") else col
        outputs.setdefault(owner.get(base, frozenset({base})), []).append(col)
    constant: list[str] = []
    for members, cols in outputs.items():
        inputs = tuple(sorted(members & present, key=lambda c: plan.table.positions[c]))
        if inputs:
            plan.groups.append(Group(inputs, tuple(cols)))
        else:
            constant.extend(cols)
    plan.constant_outputs = tuple(constant)


# --- values (Python, once per distinct value) -----------------------------------------------------------

def group_values(spec: SourceSpec, groups: list[Group], keys: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The staged values of each group for each distinct tuple of its cells (``keys[i]``: columns k0, k1 ... in
    the order of ``groups[i].inputs``, empty cells NULL): columns k0 ... then ``v_<output>``, computed by
    :func:`kongchuo.normalize.normalize_frame` exactly as for whole files (the same dtypes as the pandas path).
    Groups of one cell are independent of each other: they share one call, each column padded to the longest."""
    out: list[pd.DataFrame | None] = [None] * len(groups)
    single = [i for i, g in enumerate(groups) if len(g.inputs) == 1 and not _coupled(spec, g.inputs[0])]
    if single:
        height = max(len(keys[i]) for i in single)
        cells = pd.DataFrame({groups[i].inputs[0]: _padded(keys[i]["k0"], height) for i in single})
        values = normalize_frame(spec, cells)
        for i in single:
            n = len(keys[i])
            out[i] = _with_values(keys[i], values.iloc[:n], groups[i].outputs)
    for i, group in enumerate(groups):
        if out[i] is None:
            cells = pd.DataFrame({name: keys[i][f"k{j}"].astype("str") for j, name in enumerate(group.inputs)})
            out[i] = _with_values(keys[i], normalize_frame(spec, cells), group.outputs)
    return out  # type: ignore[return-value]


def _coupled(spec: SourceSpec, column: str) -> bool:
    return any(column in g for g in GROUPS.get(spec.name, ()))


def _padded(values: pd.Series, height: int) -> pd.Series:
    padded = pd.concat([values.reset_index(drop=True), pd.Series([None] * (height - len(values)), dtype=object)],
                       ignore_index=True)
    return padded.astype("str")


def _with_values(keys: pd.DataFrame, values: pd.DataFrame, outputs: tuple[str, ...]) -> pd.DataFrame:
    out = keys.reset_index(drop=True).copy()
    for col in outputs:
        out[f"v_{col}"] = values[col].reset_index(drop=True)
    return out


def constant_values(spec: SourceSpec, outputs: tuple[str, ...]) -> pd.DataFrame:
    """One row: the staged values of columns that no cell of the file feeds (NULL; flags false)."""
    values = normalize_frame(spec, pd.DataFrame(index=pd.RangeIndex(1)))
    return pd.DataFrame({f"v_{c}": values[c] for c in outputs})


def id_number_flags(ids: pd.Series) -> pd.DataFrame:
    """Per distinct ID cell (k0): ``sci`` (scientific notation: always a lost number) and ``cut`` (18 digits
    ending in 000: a lost number when most IDs of the chunk are so), with the pandas path's own patterns."""
    text = ids.astype("str").str.strip()
    return pd.DataFrame({
        "k0": ids.reset_index(drop=True),
        "sci": text.str.match(_SCIENTIFIC).fillna(False).to_numpy(dtype=bool),
        "cut": text.str.match(_TRUNCATED18).fillna(False).to_numpy(dtype=bool),
    })


def lost_chunks(counts: pd.DataFrame) -> list[int]:
    """Chunks (``chunk``, ``cut``, ``ids``: counts over the kept rows) whose 000-ending IDs are a lost number
    column: :func:`kongchuo.readers.id_lost_to_number`'s rule."""
    many = (counts["cut"] >= MIN_NUMERIC_COLUMN) & (counts["cut"] > 0.5 * counts["ids"])
    return [int(c) for c in counts.loc[many, "chunk"]]


def keyless_drops(plan: CsvPlan, rows: pd.DataFrame) -> tuple[list[int], Counter]:
    """Of the candidate rows without an ASCII digit in the ID/student number cells (``rid``, ``row_no`` and the
    cells c0.. of the whole row, empty cells NULL), those that are no record: total and note lines, blank rows
    (the pandas path's ``_note_rows``). Returns their ``rid`` and the count per kind, in row order."""
    table = plan.table
    kinds: Counter = Counter()
    drop: list[int] = []
    keys = [c for c in ("id_number", "student_no") if c in table.positions]
    known = [f"c{p}" for p in table.positions.values()]
    all_cells = [f"c{i}" for i in range(plan.width)]
    for rec in rows.sort_values("row_no").to_dict("records"):
        if any(isinstance(rec[plan.cell(k)], str) and re.search(r"\d", rec[plan.cell(k)]) for k in keys):
            continue  # a Unicode digit (full-width) still makes a key
        full = [v for v in (rec[c] for c in all_cells) if isinstance(v, str)]
        has_name = "name" in table.positions and isinstance(rec[plan.cell("name")], str)
        kind = note_kind(full, has_name=has_name)
        if kind is None and all(not isinstance(rec[c], str) for c in known):
            kind = BLANK_ROW
        if kind is not None:
            kinds[kind] += 1
            drop.append(int(rec["rid"]))
    return drop, kinds


def utf8_copy(plan: CsvPlan, path: Path, scratch: Path) -> Path:
    """``path`` itself when it is UTF-8, else a UTF-8 copy under ``scratch`` (streamed; the line structure and
    every character stay as the pandas path decodes them)."""
    if plan.opened.encoding in ("utf-8", "utf-8-sig"):
        return path
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / "utf8.csv"
    with open(path, encoding=plan.opened.encoding, newline="") as src, \
            open(target, "w", encoding="utf-8", newline="") as dst:
        for block in iter(lambda: src.read(4 << 20), ""):
            dst.write(block)
    return target


def too_long(max_lengths: dict[str, int]) -> bool:
    """A cell that may be over Excel's limit (byte lengths: the pandas path counts characters and words the
    message)."""
    return any((n or 0) > MAX_CELL_CHARS for n in max_lengths.values())

