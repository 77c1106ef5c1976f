"""Are a period's inputs whole? Open quarantines, and the schools and townships they affect.

A quarantined delivery stays open, for every run of the periods it concerns (not only the run that
quarantined it), until a valid replacement has landed. **Replacement** = a later file of the same source that
was ingested and has the same delivery name: the same file name, ignoring the folder and a correction mark at
the end of the name (``更正``, ``修正``, ``补报``, ``重报``, ``修改``, ``新``, ``v2``, ``(1)``), so ``一中学籍.csv`` is
replaced by a corrected ``一中学籍.csv`` or ``一中学籍_更正.xlsx``. (The name, not the content: an unreadable file
has no content to compare.)

**Periods concerned**: a date in the file name (``2026-09``, ``20260915``, ``9月``) gives its month; a file
without one concerns every period from the month before it landed on (a delivery for last month arrives this
month), so an undated bad file never leaves an older, already filed period in draft.

**Affected schools and townships**: for a registry or census file quarantined for its content (DQ01 > 5 %
invalid IDs, DQ08 unknown codes: :mod:`kongchuo.delivery`), the schools or townships it holds; else the school
codes (10 digits), school names and township names the file name holds, matched against the reference data; if
it holds none, the whole district (every school).

While anything is open the period's reports are drafts (:func:`state`, used by :mod:`assets.report_files`
and :mod:`assets.manifest`): ``草稿`` in title and file name, a first sheet listing the files to fix and the
schools and townships affected, ``"complete": false`` in the manifest. A snapshot held for a large drop in
records (:mod:`warehouse.views`) is listed too: until it is confirmed, the figures are not final.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from kongchuo import delivery
from kongchuo.excel import Sheet
from kongchuo.snapshot_dates import delivery_key  # noqa: F401  (tests name the replacement rule from here)
from warehouse import quarantines
from warehouse.resource import WarehouseResource

WHOLE_DISTRICT = "全部（文件名未指明范围）"


@dataclass
class Completeness:
    period: str
    files: pd.DataFrame  # source, file, error, since, reason
    schools: list[str] = field(default_factory=list)  # "学校名称（代码）"
    townships: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.files.empty

    def as_manifest(self) -> dict:
        return {"complete": self.complete,
                "incomplete_inputs": [{"source": r.source, "file": r.file, "reason": r.reason}
                                      for r in self.files.itertuples(index=False)],
                "affected_schools": self.schools, "affected_townships": self.townships}


def open_quarantines(warehouse: WarehouseResource, period: str) -> pd.DataFrame:
    """Quarantined files of ``period`` without a valid replacement: source, file, error, since, reason."""
    return quarantines.open_quarantines(warehouse, period).drop(columns=["file_sha"])


def held_snapshots(warehouse: WarehouseResource) -> pd.DataFrame:
    """Snapshots held for a large drop in records, not confirmed yet (empty before the table exists)."""
    try:
        return warehouse.query_df(
            "SELECT DISTINCT f.source, f.original_name AS file, '' AS error, f.ingested_at AS since, "
            "'记录数下降超过50%，待确认 (held: records fell by more than 50%; confirm in landing/confirmations/)' "
            "AS reason FROM raw.snapshots s JOIN raw.files f ON f.file_sha = s.file_sha "
            "WHERE s.status = 'held' ORDER BY 2")
    except Exception:  # noqa: BLE001 - an older warehouse without raw.snapshots holds nothing
        return pd.DataFrame(columns=["source", "file", "error", "since", "reason"])


def _affected(warehouse: WarehouseResource, names: list[str], errors: list[str]) -> tuple[list[str], list[str]]:
    schools = warehouse.query_df("SELECT s.school_code, s.school_name, t.township_name FROM staged.schools s "
                                 "LEFT JOIN staged.townships t ON t.township_code = s.township_code "
                                 "ORDER BY s.school_code")
    towns = warehouse.query_df("SELECT township_code, township_name FROM staged.townships ORDER BY township_code")
    hit_schools: set[str] = set()
    hit_towns: set[str] = set()
    for name, error in zip(names, errors):
        # a file quarantined for its content (DQ01/DQ08, kongchuo.delivery) names its scope: its school or township
        # codes; others are matched by what their file name holds
        codes = set(delivery.scope_codes(error))
        matched = False
        for t in towns.itertuples(index=False):
            if t.township_code in codes:
                hit_towns.add(str(t.township_name))
                hit_schools.update(f"{s.school_name}（{s.school_code}）" for s in schools.itertuples(index=False)
                                   if s.township_name == t.township_name)
                matched = True
        for s in schools.itertuples(index=False):
            if s.school_code in codes:
                hit_schools.add(f"{s.school_name}（{s.school_code}）")
                hit_towns.add(str(s.township_name))
                matched = True
        if matched:
            continue
        for s in schools.itertuples(index=False):
            if s.school_code in name or (s.school_name and s.school_name in name):
                hit_schools.add(f"{s.school_name}（{s.school_code}）")
                hit_towns.add(str(s.township_name))
                matched = True
        for t in towns.itertuples(index=False):
            if t.township_name and t.township_name in name:
                hit_towns.add(str(t.township_name))
                hit_schools.update(f"{s.school_name}（{s.school_code}）" for s in schools.itertuples(index=False)
                                   if s.township_name == t.township_name)
                matched = True
        if not matched:
            return [WHOLE_DISTRICT], [WHOLE_DISTRICT]
    return sorted(hit_schools), sorted(hit_towns)


def state(warehouse: WarehouseResource, period: str) -> Completeness:
    """Everything that keeps ``period``'s reports from being final (open quarantines, held snapshots). Every report
    of a run asks; each asks the warehouse (small tables), nothing is kept in process memory between steps."""
    return _compute_state(warehouse, period)


def _compute_state(warehouse: WarehouseResource, period: str) -> Completeness:
    files = pd.concat([open_quarantines(warehouse, period), held_snapshots(warehouse)], ignore_index=True)
    if files.empty:
        return Completeness(period, files)
    schools, townships = _affected(warehouse, files["file"].tolist(), files["error"].fillna("").tolist())
    return Completeness(period, files, schools, townships)


def notice_sheet(done: Completeness) -> Sheet:
    """The first sheet of a draft report: what to fix, and whose figures it affects."""
    rows = [[i, r.source, r.file, r.reason, r.error[:300]] for i, r in enumerate(done.files.itertuples(index=False), 1)]
    return Sheet(
        name="待补全文件",
        title=f"草稿：以下文件待补全，报表数字尚非最终（{done.period}）",
        headers=["序号", "数据来源", "文件", "状态", "问题"],
        rows=rows,
        subtitle_lines=[f"受影响的学校：{'、'.join(done.schools)}", f"受影响的乡镇：{'、'.join(done.townships)}"],
        widths=[6, 14, 48, 40, 80],
    )
