"""R8 学籍异动梳理, the table: every registry change of the term with a verdict against the other sources.

Jian'an's plan ((二)2) has every school review all of its registry changes within two months of each term's
start. ``staged.registry`` keeps the rows of every registry file ever ingested and ``raw.snapshots`` dates each
(file, school) snapshot, so every snapshot of a school can still be read after a newer one replaced it in
``staged.registry_current``: nothing extra needs keeping.

For period P (``2026-10``) the term is the one in progress at P's last day (:func:`kongchuo.terms.current_term`);
for every school, each pair of consecutive applied snapshots whose newer one is dated from the term's first
school day to P's last day (the cut-off) is compared record by record (the person of
:func:`warehouse.views.registry_person_key_sql`; one record per person and snapshot). One row per record that
changed, of kind:

- 新增 in the new snapshot only; 转入 when its status says 转入 (or the person was transferred out elsewhere);
- 删除 in the old snapshot only, unless the old record already said 转出, 毕业 or 死亡 (those leave the roll);
- a status change: 转出, 休学, 毕业, 辍学, 死亡; back to 在读 from 休学 or 辍学 is 复学, from anything else 转入;
- 升级: an active record whose grade changed, or whose grade stayed the same across a school year's start.

Verdicts (``needs_review`` with reason codes and Chinese text; otherwise 一致 with what was found):

- 转出: ``transfer_still_present``: present at that school in the roll call on the new snapshot's date (the
  school's last school day up to it, after the old snapshot) or later; ``transfer_not_received``: no active
  record at any other school, and more than 30 days between the child's last roll-call row up to the cut-off
  and the cut-off, or no row at all (SD3's test); not received within fewer days is 一致 with a note to follow up.
- 休学: ``suspension_no_approval``: no 休学 approval in ``staged.exemptions`` approved by the cut-off and valid
  on the new snapshot's date; ``suspension_present``: present at any school on the new snapshot's date (as
  above) or later.
- 复学: ``resumption_absent``: the school has roll call after the old snapshot, and the child no presence at
  any school from the day after the old snapshot to the cut-off.
- 毕业: ``graduation_not_final_grade``: grade not 6 at a 小学, not 9 at a 初中, neither at a 九年一贯制 school.
- 升级: ``progression_skips`` (up by more than one) or ``progression_repeats`` (same or lower grade).
- 删除: ``deletion_in_census``: the child is in the census (在户 or 外出), 6–15 on the school-age reference date,
  and has no active record at any other school.
- 新增, 转入, 辍学, 死亡: 一致 (辍学 is handled by the dropout rules and the ledger).
"""


import datetime as dt
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets.common import OWNERS, period_params, table_metadata
from assets.rules import age_sql, calendar_dates
from kongchuo import terms
from kongchuo.reports_catalog import R8_KINDS
from warehouse.layout import TABLES
from warehouse.partitions import monthly_partitions, period_bounds, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.sql import load, render
from warehouse.views import (
    NO_SCOPE,
    attendance_persons_sql,
    candidates_sql,
    census_birth_sql,
    home_scopes_sql,
    registry_person_key_sql,
    registry_persons_sql,
)

REGISTRY_CHANGES = dg.AssetKey(["derived", "registry_changes"])
TABLE = "derived.registry_changes"
TRANSFER_GRACE_DAYS = 30
KINDS = R8_KINDS

# Reason code -> what the school reads (and what to do).
REASONS: dict[str, str] = {
    "transfer_still_present": "学籍已转出，但转出时及之后仍在本校考勤中出勤，请核实是否实际转学",
    "transfer_not_received": "学籍转出超过30天仍未被任何学校接收（无在读学籍），请核实去向，防止转学辍学",
    "suspension_no_approval": "休学无审批记录（延缓入学/休学名单中无有效的休学批准），请补办审批或更正学籍",
    "suspension_present": "已办休学，但休学时及之后仍有出勤记录，请核实学籍状态",
    "resumption_absent": "已复学，但复学后在任何学校都没有出勤记录，请核实是否实际返校",
    "graduation_not_final_grade": "毕业时不在毕业年级（小学六年级、初中九年级），请核实年级或学籍状态",
    "progression_skips": "年级升高超过一级（跳级），请核实年级",
    "progression_repeats": "新学年年级未升或下降（留级/降级），请核实年级",
    "deletion_in_census": "学籍被删除，但该儿童仍在户籍人口名单中且在义务教育年龄，在其他学校也无在读学籍，"
                          "请核实去向",
}
REASON_ORDER = tuple(REASONS)
# 一致 rows say what was checked, so every row tells the school where it stands.
OK_NOTES: dict[str, str] = {
    "新增": "新增学籍", "转入": "转入学籍", "转出": "已被其他学校接收", "转出_pending": "转出未满30天，尚未被接收，请跟踪",
    "休学": "有休学审批，且无出勤记录", "复学": "复学后已到校", "复学_no_rollcall": "复学后暂无考勤数据",
    "升级": "正常升级", "毕业": "毕业年级正确", "辍学": "已纳入疑似辍学名单，按劝返程序办理",
    "死亡": "学籍注明死亡", "删除": "不在户籍学龄儿童名单中，或已在其他学校在读",
}
VERDICT_OK, VERDICT_REVIEW = "一致", "需核实"



def review_term(warehouse: Any, period: str) -> tuple[terms.Term, dt.date]:
    """The term R8 of ``period`` reviews (in progress on the period's last day) and its deadline."""
    term = terms.current_term(period_bounds(period)[1], calendar_dates(warehouse))
    return term, terms.review_deadline(term)


VIEW = "staged.registry_current"

# R8's statements live in warehouse/sql/registry_changes/ (temp tables _r8_*, then the flags over them); the
# person matching and the snapshot choice they share are written once in warehouse.views.
_ATTENDANCE_WINDOW = attendance_persons_sql("a.date > CAST(:win_start AS DATE) AND a.date <= CAST(:cutoff AS DATE)")
SNAPSHOTS_SQL = render("registry_changes/snapshots",
                       applied_snapshots=candidates_sql(VIEW, "'applied', 'confirmed'", "CAST(:cutoff AS DATE)"))
PAIRS_SQL = load("registry_changes/pairs")
ROWS_SQL = render("registry_changes/rows", home_scopes=home_scopes_sql("registry"),
                  registry_person_key=registry_person_key_sql("s"))
CHANGES_SQL = load("registry_changes/changes")
PRESENT_SQL = render("registry_changes/present", attendance_window=_ATTENDANCE_WINDOW)
DAYS_SQL = load("registry_changes/days")
LAST_SEEN_SQL = render("registry_changes/last_seen", attendance_window=_ATTENDANCE_WINDOW)
FLAGS_SQL = render("registry_changes/flags", registry_persons_active=registry_persons_sql("t.status = 'active'"),
                   census_birth=census_birth_sql("c"), age_on_ref_date=age_sql("k.birth_date", "CAST(:ref_date AS DATE)"))
SQL_FILES = tuple(f"registry_changes/{n}" for n in (
    "snapshots", "pairs", "rows", "changes", "present", "days", "last_seen", "flags"))  # policies: code_version

_TEMP = ("_r8_snap", "_r8_pairs", "_r8_rows", "_r8_changes", "_r8_present", "_r8_days", "_r8_last")


def final_grades(stage: Any) -> tuple[int, ...]:
    """The grades a school's pupils graduate from: 小学 6, 初中 9, 九年一贯制 (or unknown) 6 and 9."""
    return {"小学": (6,), "初中": (9,)}.get(stage if isinstance(stage, str) else "", (6, 9))


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def judge(row: Any) -> tuple[list[str], str]:
    """(reason codes, note for 一致) of one change from its flags."""
    kind, reasons, note = row.kind, [], OK_NOTES.get(row.kind, "")
    if kind == "转出":
        if row.still_present:
            reasons.append("transfer_still_present")
        if not row.received and row.overdue:
            reasons.append("transfer_not_received")
        elif not row.received:
            note = OK_NOTES["转出_pending"]
    elif kind == "休学":
        if not row.approved:
            reasons.append("suspension_no_approval")
        if row.present_after:
            reasons.append("suspension_present")
    elif kind == "复学":
        if row.school_has_rollcall and not row.present_since:
            reasons.append("resumption_absent")
        elif not row.school_has_rollcall:
            note = OK_NOTES["复学_no_rollcall"]
    elif kind == "毕业":
        grade = _int(row.new_grade) if _int(row.new_grade) is not None else _int(row.old_grade)
        if grade not in final_grades(row.stage):
            reasons.append("graduation_not_final_grade")
    elif kind == "升级":
        old, new = _int(row.old_grade), _int(row.new_grade)
        if old is not None and new is not None:
            if new > old + 1:
                reasons.append("progression_skips")
            elif new <= old:
                reasons.append("progression_repeats")
    elif kind == "删除" and row.in_census:
        reasons.append("deletion_in_census")
    return reasons, note


def build_changes(warehouse: WarehouseResource, period: str, min_age: int = 6, max_age: int = 15) -> pd.DataFrame:
    """The rows of ``derived.registry_changes`` for ``period`` (not written)."""
    term, deadline = review_term(warehouse, period)
    params = period_params(period)
    bind = {"cutoff": params["end"], "term_start": term.first_day, "ref_date": params["ref_date"],
            "grace": TRANSFER_GRACE_DAYS, "min_age": min_age, "max_age": max_age, "no_scope": NO_SCOPE}
    with warehouse.begin() as conn:
        for t in _TEMP:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}"))
        for sql in (SNAPSHOTS_SQL, PAIRS_SQL, ROWS_SQL, CHANGES_SQL):
            conn.execute(sa.text(sql), bind)
        win_start = conn.execute(sa.text("SELECT min(old_date) FROM _r8_pairs")).scalar() or params["end"]
        bind["win_start"] = win_start
        for sql in (PRESENT_SQL, DAYS_SQL, LAST_SEEN_SQL):
            conn.execute(sa.text(sql), bind)
        result = conn.execute(sa.text(FLAGS_SQL), bind)
        flags = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        for t in _TEMP:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}"))
    rows = []
    for r in flags.itertuples(index=False):
        reasons, note = judge(r)
        rows.append({
            "period": period, "term": term.name, "term_start": term.first_day, "deadline": deadline,
            "school_code": r.scope_code, "township_code": r.township_code, "person_key": r.person_key,
            "student_no": r.student_no, "id_number": r.id_number, "kind": r.kind, "old_status": r.old_status,
            "new_status": r.new_status, "old_grade": _int(r.old_grade), "new_grade": _int(r.new_grade),
            "old_class": r.old_class, "new_class": r.new_class, "old_snapshot_date": r.old_date,
            "new_snapshot_date": r.new_date, "old_file_sha": r.old_file_sha, "old_row_no": _int(r.old_row_no),
            "new_file_sha": r.new_file_sha, "new_row_no": _int(r.new_row_no), "needs_review": bool(reasons),
            "verdict": VERDICT_REVIEW if reasons else VERDICT_OK, "reason_codes": ",".join(reasons) or None,
            "reason": "；".join(REASONS[c] for c in reasons) if reasons else note,
        })
    cols = [c.split()[0] for c in _columns()]
    out = pd.DataFrame(rows, columns=cols)
    if len(out):
        order = {k: i for i, k in enumerate(KINDS)}
        out = out.assign(_k=out["kind"].map(order)).sort_values(
            ["school_code", "new_snapshot_date", "_k", "person_key"], kind="stable").drop(columns="_k")
    for c in ("old_grade", "new_grade", "old_row_no", "new_row_no"):
        out[c] = out[c].astype("Int64")
    return out.reset_index(drop=True)


def _columns() -> list[str]:
    return [p.strip() for p in TABLES[TABLE].replace("\n", " ").split(",") if p.strip()]


def write_changes(warehouse: WarehouseResource, period: str, frame: pd.DataFrame) -> int:
    """Replace the period's rows (idempotent)."""
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE period = :p"), {"p": period})
        warehouse.insert_frame(conn, TABLE, frame)
    return len(frame)


@dg.asset(pool=WAREHOUSE_POOL, key=REGISTRY_CHANGES, group_name="derived", owners=OWNERS, code_version="1",
          partitions_def=monthly_partitions, kinds={"duckdb", "sql"},
          deps=[dg.AssetKey(["staged", s]) for s in ("registry", "attendance", "census", "exemptions", "reference")])
def registry_changes(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """学籍异动 Registry changes of the term: one row per record that changed between a school's consecutive
    registry snapshots since the term's start (新增 转入 转出 休学 复学 升级 毕业 辍学 死亡 删除), with old and
    new values, both snapshot dates, source files and rows, and a verdict against roll call, exemptions and
    census (一致 / 需核实 with the reasons)."""
    period = period_of(context)
    warehouse.ensure_layout()
    frame = build_changes(warehouse, period)
    n = write_changes(warehouse, period, frame)
    term, deadline = review_term(warehouse, period)
    context.log.info(f"registry changes {period} ({term.name}, deadline {deadline}): {n} change(s), "
                     f"{int(frame['needs_review'].sum()) if n else 0} to review")
    meta = table_metadata(warehouse, TABLE, period, "school_code, kind, verdict, reason_codes, new_snapshot_date")
    by_kind = frame.groupby("kind")["needs_review"].agg(["count", "sum"]) if n else pd.DataFrame()
    meta.update({
        "term": term.name, "term_start": term.first_day.isoformat(), "deadline": deadline.isoformat(),
        "by_kind": dg.MetadataValue.json({k: {"changes": int(v["count"]), "needs_review": int(v["sum"])}
                                          for k, v in by_kind.iterrows()}),
        "needs_review": int(frame["needs_review"].sum()) if n else 0,
    })
    return dg.MaterializeResult(metadata=meta)


registry_changes_assets = [registry_changes]
