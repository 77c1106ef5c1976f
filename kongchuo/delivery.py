"""File-level rules that make a whole registry or census delivery a bad file (issue 13, DESIGN "Checks").

DQ01 says a file with more than 5 % invalid ID numbers is an error *for the file*; DQ08 says a school or township
code outside the reference data is an error. Found by the district's checks, either one held back every derived
table and report of the district. Judged per file, such a file is a bad delivery like any other: it is
quarantined (its raw copy kept unchanged), the previous snapshot of its scope stays in force, the rest of the
district goes on, and the period's reports are drafts until a corrected file lands (``assets/completeness.py``).

Where: DQ01 needs nothing but the file, so it is judged at ingest, before the file is loaded
(``assets/ingest.py``). DQ08 needs the reference data the run has loaded (``staged.schools``,
``staged.townships``: the bureau's or the bundled files), so the registry's check step judges the files of the
current registry and quarantines those with unknown codes before anything downstream reads them
(``checks/dq.py``; the step holds blocking checks, so every asset downstream of the registry waits for it).

Granularity for DQ08: the whole file, not the row. A registry row whose school the reference data does not know
cannot be placed in any school or township, and dropping the row would turn an enrolled child into a 失学 child in
the census comparison: a wrong figure published as final. A code typed wrong is usually the export's (one school
setting), and the fix is a corrected export or the school added to ``reference/schools.csv``.

Messages name file, sheet, row, column and the unknown codes, never an ID number or a name. They end with the
file's scope (the known school codes of a registry file, the township codes of a census file) after
:data:`SCOPE_MARK`, so the draft notice can name the schools and townships whose figures wait for the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from kongchuo import idnumber, masking

DQ01_ERROR_RATE = 0.05  # DESIGN: "error for the file if > 5% fail, else warn with the list"
DQ01_SOURCES = ("registry", "census")  # snapshots: a bad file is held back and the scope's previous one stays
DQ08_SOURCES = ("registry",)  # DQ08 is a registry check (checks/dq.py)
SCOPE_MARK = "涉及范围 scope:"
# How a message of :func:`file_problem` says which rule failed (checks/ report the quarantined file under it).
MARKS = {"DQ01": "(DQ01: more than 5%", "DQ08": "(DQ08: school or township codes"}
_MAX_ROWS = 10
_MAX_CODES = 10
_SCOPE_CODE = re.compile(r"(?<!\d)\d{9,12}(?!\d)")
COLUMNS = ("row_no", "sheet", "id_number", "school_code", "township_code")


@dataclass(frozen=True)
class Reference:
    """The codes the reference data knows (empty sets: no reference data, DQ08 is not judged)."""

    schools: frozenset[str] = frozenset()
    townships: frozenset[str] = frozenset()


@dataclass
class _Tally:
    ids: int = 0
    bad_ids: list[tuple[object, object]] = field(default_factory=list)  # (sheet, row) of the first invalid IDs
    bad_count: int = 0
    # (column, code) -> (rows, (sheet, row) of the first of them)
    unknown: dict[tuple[str, str], tuple[int, list[tuple[object, object]]]] = field(default_factory=dict)
    scope: set[str] = field(default_factory=set)


def _where(sheet: object, row: object) -> str:
    place = f"第{int(row)}行" if row is not None and not pd.isna(row) else "第?行"
    if not (isinstance(sheet, str) and sheet):
        return place
    name = "".join(c if c.isprintable() else " " for c in sheet)[:31]  # never a forged log line
    return f"工作表「{masking.mask_file_name(name)}」{place}"


def _places(found: list[tuple[object, object]], total: int) -> str:
    text = "、".join(_where(s, r) for s, r in found[:_MAX_ROWS])
    return text + (f" 等 {total} 行" if total > _MAX_ROWS else "")


def _add_frame(t: _Tally, frame: pd.DataFrame, source: str, ref: Reference) -> None:
    sheets = frame["sheet"] if "sheet" in frame else pd.Series([None] * len(frame), index=frame.index)
    ids = frame["id_number"].dropna() if "id_number" in frame else pd.Series([], dtype="string")
    if len(ids):
        bad = idnumber.problem_series(ids).notna().to_numpy()
        t.ids += len(ids)
        t.bad_count += int(bad.sum())
        rows = ids.index[bad]
        room = max(0, _MAX_ROWS - len(t.bad_ids))
        t.bad_ids.extend(zip(sheets.loc[rows][:room], frame.loc[rows, "row_no"][:room]))
    scope_col = "school_code" if source == "registry" else "township_code"
    known = ref.schools if source == "registry" else ref.townships
    if scope_col in frame:
        codes = frame[scope_col].dropna().astype(str)
        t.scope.update(c for c in codes.unique() if not known or c in known)
    if source not in DQ08_SOURCES:
        return
    for col, known in (("school_code", ref.schools), ("township_code", ref.townships)):
        if not known or col not in frame:
            continue
        codes = frame[col].dropna().astype(str)
        unknown = codes[~codes.isin(known)]
        for code, idx in unknown.groupby(unknown).groups.items():
            count, places = t.unknown.get((col, str(code)), (0, []))
            room = max(0, _MAX_ROWS - len(places))
            places.extend(zip(sheets.loc[idx][:room], frame.loc[idx, "row_no"][:room]))
            t.unknown[(col, str(code))] = (count + len(idx), places)


def _label(header_map: dict[str, str], column: str, default: str) -> str:
    return next((raw for raw, c in header_map.items() if c == column), default)


def _scope_text(t: _Tally, source: str) -> str:
    kind = "学校" if source == "registry" else "乡镇"
    codes = sorted(t.scope)
    return f"{SCOPE_MARK} {kind} {'、'.join(codes) if codes else '（无）'}"


def file_problem(source: str, name: str, frames: Iterable[pd.DataFrame], header_map: dict[str, str],
                 ref: Reference = Reference()) -> str | None:
    """The file-level DQ01/DQ08 error of one registry or census file, or None. ``frames``: its normalised rows (at
    least the :data:`COLUMNS` it has), one chunk at a time; ``ref``: the reference codes (empty: DQ08 not judged)."""
    if source not in DQ01_SOURCES and source not in DQ08_SOURCES:
        return None
    t = _Tally()
    for frame in frames:
        _add_frame(t, frame, source, ref)
    parts = []
    if t.ids and t.bad_count / t.ids > DQ01_ERROR_RATE and source in DQ01_SOURCES:
        col = _label(header_map, "id_number", "身份证件号")
        parts.append(
            f"DQ01 身份证件号无效 {t.bad_count} 个，共 {t.ids} 个（{t.bad_count / t.ids:.1%}，超过 5%），列「{col}」"
            f"{_places(t.bad_ids, t.bad_count)} (DQ01: more than 5% of the file's ID numbers are invalid, GB 11643-1999)")
    if t.unknown:
        items = []
        for (col, code), (count, places) in sorted(t.unknown.items())[:_MAX_CODES]:
            what = "学校标识码" if col == "school_code" else "乡镇代码"
            book = "学校名录 reference/schools.csv" if col == "school_code" else "乡镇名录 reference/townships.csv"
            items.append(f"{what} {masking.mask_file_name(code[:30])} 不在参考数据（{book}）中："
                         f"列「{_label(header_map, col, what)}」{_places(places, count)}")
        more = f"；另有 {len(t.unknown) - _MAX_CODES} 个未知代码" if len(t.unknown) > _MAX_CODES else ""
        parts.append("DQ08 " + "；".join(items) + more +
                     " (DQ08: school or township codes not in the reference data)")
    if not parts:
        return None
    return (f"{name}: " + "。".join(parts) + "。整个文件退回，该范围原有数据继续有效；请更正后重新报送 "
            "(the whole file is quarantined, the previous data of its scope stays in force; correct it and resend)。"
            + _scope_text(t, source))


def check_ids_in(error: str | None) -> list[str]:
    """The file-level checks (``DQ01``, ``DQ08``) a quarantine message of :func:`file_problem` names."""
    text = error or ""
    if SCOPE_MARK not in text:
        return []
    return [c for c, mark in MARKS.items() if mark in text]


def scope_codes(error: str | None) -> list[str]:
    """The school or township codes after :data:`SCOPE_MARK` in a quarantine message (empty if none)."""
    text = error or ""
    if SCOPE_MARK not in text:
        return []
    return _SCOPE_CODE.findall(text.rsplit(SCOPE_MARK, 1)[1])
