"""R8 学籍异动梳理 in the generator: an older registry snapshot with planted changes, and their ground truth.

``generate(..., registry_changes=OLD_DATE)`` (CLI ``--registry-changes 2026-09-01``) writes, besides the usual
registry snapshot dated ``end`` (the NEW snapshot), a second registry snapshot of every school dated
``OLD_DATE`` (file names ``学籍_<区>_<OLD_DATE>_NN``), and ``registry_changes_truth.csv``: one row per planted
change (``school_code, person_key, kind, reasons, old_date, new_date, period``; ``reasons`` = the sorted
verdict reason codes of :mod:`assets.registry_changes`, '' when 一致). Without the option nothing here runs
and every output is byte-identical to before.

What is planted (own random stream, so the rest of the district is the same for the same seed):

- every record the core generator already gives a status other than 在读 (转出 of SD3 and SD3_RECEIVED, 辍学,
  死亡, 休学, 毕业 of grade 9 and of grade 6) was 在读 in the old snapshot: one change each;
- the receiving school's 转入 record of SD3_RECEIVED is not yet in the old snapshot (转入);
- among children without any other plant (one record, active): 新增 (not in the old snapshot), 转出 now
  (still attending), 休学 now with an approval added to the exemptions (still attending), 复学 (休学 in the old
  snapshot), 升级 by one, by two (skips) and back by one (repeats), 毕业 from a grade that is not final, 删除
  (gone from the new snapshot) of a census child and of a migrant child who is not in the census;
- among SD5 children (active, never in the roll call): 休学 now without any approval, and 复学 (休学 before).

The verdicts are computed here from the generator's own arrays (the roll call matrix, the exemptions, the
census and the new registry), following the rules written in :mod:`assets.registry_changes`: the same words, an
independent implementation. Changes to the NEW registry are made before the core ground truth is computed, so
that truth stays exact (a child made 毕业 becomes DQ06 in the roll call, a 删除 child becomes 失学, ...).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ACTIVE, SUSP, OUT, DROP, GRAD, DEAD = "active", "suspended", "transferred_out", "dropped_out", "graduated", "deceased"
PRESENT = 0
KIND_OF_STATUS = {OUT: "转出", SUSP: "休学", GRAD: "毕业", DROP: "辍学", DEAD: "死亡"}
PER_CASE = 3  # children per planted case among the unplanted ones
GRACE_DAYS = 30
TRUTH_FILE = "registry_changes_truth.csv"
TRUTH_COLUMNS = ["period", "school_code", "person_key", "kind", "reasons", "old_date", "new_date"]


@dataclass
class Plan:
    old_reg: pd.DataFrame
    new_reg: pd.DataFrame
    exem: pd.DataFrame
    old_date: dt.date
    new_date: dt.date
    truth: pd.DataFrame = field(default_factory=pd.DataFrame)

    def write_truth(self, out: Path) -> None:
        self.truth.to_csv(out / TRUTH_FILE, index=False, lineterminator="\n")


def _month_end(day: dt.date) -> dt.date:
    nxt = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _age(birth: np.datetime64, on: dt.date) -> int:
    b = pd.Timestamp(birth)
    return on.year - b.year - ((b.month, b.day) > (on.month, on.day))


def plant_changes(reg: pd.DataFrame, exem: pd.DataFrame, cen: pd.DataFrame, codes: np.ndarray, e_pid: np.ndarray,
                  e_code: np.ndarray, days64: np.ndarray, picks: dict[str, np.ndarray], stage_of: dict[str, str],
                  old_date: dt.date | str, new_date: dt.date, ref: dt.date, seed: int) -> Plan:
    """Plant the changes (``reg`` is the new snapshot; returns the changed new one, the old one, exemptions)."""
    if isinstance(old_date, str):
        old_date = dt.date.fromisoformat(old_date)
    if not old_date < new_date:
        raise ValueError("the old registry snapshot must be dated before the generated range's end")
    rng = np.random.default_rng([int(seed), 19])
    new = reg.copy()
    old = reg.copy()
    recs_per = new.groupby(["sid", "school_code"])["sid"].transform("size")
    single = (new.groupby("sid")["sid"].transform("size") == 1).to_numpy()
    normal = single & (new["plant"].to_numpy() == "") & (new["status"].to_numpy() == ACTIVE) & (
        new["id_norm"].to_numpy() != "")
    pool = list(rng.permutation(np.flatnonzero(normal)))
    sd5 = np.flatnonzero(single & np.isin(new["sid"].to_numpy(), picks.get("SD5", [])) & (new["status"] == ACTIVE))
    sd5 = list(rng.permutation(sd5))
    grade = new["grade"].to_numpy()
    in_census = set(cen.loc[cen["residence"].isin(["在户", "外出"]), "pid"])
    migrant = new["is_migrant"].to_numpy(dtype=bool)

    def take(from_pool: list, n: int, ok=lambda i: True) -> list[int]:
        got = [i for i in from_pool if ok(i)][:n]
        for i in got:
            from_pool.remove(i)
        return got

    # 1. the core's own non-active records were active in the old snapshot (one record per person and school)
    for i in np.flatnonzero((new["status"].to_numpy() != ACTIVE) & (recs_per.to_numpy() == 1)):
        old.iat[i, old.columns.get_loc("status")] = ACTIVE
        old.iat[i, old.columns.get_loc("status_word")] = ""
    # 2. SD3_RECEIVED's receiving record is new (转入); plus 新增
    gone_from_old = list(np.flatnonzero((new["status_word"].to_numpy() == "转入") & (recs_per.to_numpy() == 1)))
    gone_from_old += take(pool, PER_CASE)
    # 3. unplanted children: changes in the new snapshot
    for i in take(pool, PER_CASE):
        new.iat[i, new.columns.get_loc("status")] = OUT                 # 转出, still attending
    approved = take(pool, PER_CASE)
    for i in approved:
        new.iat[i, new.columns.get_loc("status")] = SUSP                # 休学 with approval, still attending
    for i in take(pool, PER_CASE):
        old.iat[i, old.columns.get_loc("status")] = SUSP                # 复学 (was 休学)
    for i in take(pool, PER_CASE, lambda i: grade[i] >= 2):
        old.iat[i, old.columns.get_loc("grade")] = grade[i] - 1         # 升级
    for i in take(pool, PER_CASE, lambda i: grade[i] >= 3):
        old.iat[i, old.columns.get_loc("grade")] = grade[i] - 2         # 升级, skips a grade
    for i in take(pool, PER_CASE, lambda i: grade[i] <= 8):
        old.iat[i, old.columns.get_loc("grade")] = grade[i] + 1         # 升级, one grade back
    for i in take(pool, PER_CASE, lambda i: grade[i] in (3, 4, 5, 7, 8)):
        new.iat[i, new.columns.get_loc("status")] = GRAD                # 毕业 outside the final grade
    for i in take(sd5, PER_CASE):
        new.iat[i, new.columns.get_loc("status")] = SUSP                # 休学 without approval, never present
    for i in take(sd5, PER_CASE):
        old.iat[i, old.columns.get_loc("status")] = SUSP                # 复学, never present
    gone_from_new = take(pool, PER_CASE, lambda i: new["sid"].iat[i] in in_census)  # 删除 of a census child
    gone_from_new += take(pool, PER_CASE, lambda i: bool(migrant[i]))                 # 删除, not in the census

    if approved:  # their 休学 approval, valid from before the new snapshot to next summer
        a = new.iloc[approved]
        rows = pd.DataFrame({"pid": a["sid"].to_numpy(), "id_number": a["id_norm"].to_numpy(), "kind": "休学",
                             "approved_on": np.datetime64(old_date) + np.timedelta64(1, "D"),
                             "valid_until": np.datetime64(new_date) + np.timedelta64(200, "D"),
                             "reason": "疾病治疗", "approved_by": "教育局"})
        exem = pd.concat([exem, rows.astype(exem.dtypes.to_dict(), errors="ignore")], ignore_index=True)
        exem = exem.sort_values(["approved_on", "pid"], kind="stable").reset_index(drop=True)
    removed = new.iloc[gone_from_new].copy()
    old_out = old.drop(index=old.index[gone_from_old])
    new_out = new.drop(index=new.index[gone_from_new])
    plan = Plan(old_reg=old_out.reset_index(drop=True), new_reg=new_out.reset_index(drop=True), exem=exem,
                old_date=old_date, new_date=new_date)
    plan.truth = _truth(plan, removed, cen, codes, e_pid, e_code, days64, stage_of, ref)
    return plan


class _RollCallEvidence:
    """What the roll call shows about a person or school between the two snapshots (and up to the cut-off)."""

    def __init__(self, codes: np.ndarray, e_pid: np.ndarray, e_code: np.ndarray, days64: np.ndarray,
                 old_d: np.datetime64, new_d: np.datetime64, cut64: np.datetime64) -> None:
        self.e_pid, self.e_code, self.days64 = e_pid, np.asarray(e_code, dtype=object), days64
        self.old_d, self.new_d, self.cut64 = old_d, new_d, cut64
        self.window = (days64 > old_d) & (days64 <= cut64)
        self.rows_any = codes >= 0
        self.present = codes == PRESENT
        self._school_days: dict[str, np.ndarray] = {}

    def days_of(self, school: str) -> np.ndarray:
        if school not in self._school_days:
            self._school_days[school] = self.rows_any[self.e_code == school].any(axis=0)
        return self._school_days[school]

    def last_school_day(self, school: str) -> int | None:
        """The school's last day after old, up to new."""
        days64 = self.days64
        idx = np.flatnonzero(self.days_of(school) & (days64 > self.old_d) & (days64 <= self.new_d))
        return int(idx[-1]) if len(idx) else None

    def present_on_or_after(self, pid: int, school: str, at_school: bool) -> bool:
        ent = (self.e_pid == pid) & ((self.e_code == school) if at_school else True)
        if not ent.any():
            return False
        pres = self.present[ent].any(axis=0)
        last = self.last_school_day(school)
        days64 = self.days64
        return bool((pres & (days64 >= self.new_d) & (days64 <= self.cut64)).any()
                    or (last is not None and pres[last]))

    def last_row_gap(self, pid: int) -> int | None:
        ent = self.e_pid == pid
        idx = np.flatnonzero(self.rows_any[ent].any(axis=0) & self.window) if ent.any() else []
        return None if not len(idx) else int((self.cut64 - self.days64[idx[-1]]).astype(np.int64))

    def was_present(self, pid: int) -> bool:
        ent = self.e_pid == pid
        return bool(ent.any() and (self.present[ent].any(axis=0) & self.window).any())


def _truth(plan: Plan, removed: pd.DataFrame, cen: pd.DataFrame, codes: np.ndarray, e_pid: np.ndarray,
           e_code: np.ndarray, days64: np.ndarray, stage_of: dict[str, str], ref: dt.date) -> pd.DataFrame:
    """Kind and verdict reasons of every planted change, from the generator's arrays."""
    new_d = np.datetime64(plan.new_date)
    cutoff = _month_end(plan.new_date)
    cut64 = np.datetime64(cutoff)
    ev = _RollCallEvidence(codes, e_pid, e_code, days64, np.datetime64(plan.old_date), new_d, cut64)
    new, old = plan.new_reg, plan.old_reg
    active_at = new[new["status"] == ACTIVE].groupby("sid")["school_code"].agg(set).to_dict()
    exem = plan.exem
    suspension = exem[(exem["kind"] == "休学") & (exem["approved_on"] <= cut64) & (exem["valid_until"] >= new_d)]
    approved = set(suspension["pid"])
    census = cen[cen["residence"].isin(["在户", "外出"])].set_index("pid")["birth"]
    period = f"{cutoff:%Y-%m}"

    key = ["sid", "school_code"]
    # a person with two records at one school (a 九年一贯制 school's 毕业 grade-6 record beside the grade-7 one)
    # is never planted: both snapshots hold the same records
    single_o = old[old.groupby(key)["sid"].transform("size") == 1]
    single_n = new[new.groupby(key)["sid"].transform("size") == 1]
    both = single_o.merge(single_n, on=key, how="outer", suffixes=("_o", "_n"), indicator="side")
    out = []
    for r in both.itertuples(index=False):
        sid, school = int(r.sid), r.school_code
        person = r.person_key_n if r.side != "left_only" else r.person_key_o
        reasons: list[str] = []
        elsewhere = active_at.get(sid, set()) - {school}
        if r.side == "right_only":
            kind = "转入" if r.status_word_n == "转入" else "新增"
        elif r.side == "left_only":
            if r.status_o in (OUT, GRAD, DEAD):
                continue
            kind = "删除"
            born = census.get(sid)
            if born is not None and 6 <= _age(born, ref) <= 15 and not elsewhere:
                reasons.append("deletion_in_census")
        elif r.status_n != r.status_o:
            if r.status_n == ACTIVE:
                kind = "复学" if r.status_o in (SUSP, DROP) else "转入"
            else:
                kind = KIND_OF_STATUS[r.status_n]
            reasons += _status_change_reasons(kind, r, sid, school, elsewhere, sid in approved, ev, stage_of)
        elif r.status_n == ACTIVE and r.grade_n != r.grade_o:
            kind = "升级"
            if r.grade_n > r.grade_o + 1:
                reasons.append("progression_skips")
            elif r.grade_n <= r.grade_o:
                reasons.append("progression_repeats")
        else:
            continue
        out.append([period, school, person, kind, ",".join(sorted(reasons)), plan.old_date.isoformat(),
                    plan.new_date.isoformat()])
    truth = pd.DataFrame(out, columns=TRUTH_COLUMNS)
    return truth.sort_values(["school_code", "person_key", "kind"], kind="stable").reset_index(drop=True)


def _status_change_reasons(kind: str, r: Any, sid: int, school: str, elsewhere: set[str], approved: bool,
                           ev: _RollCallEvidence, stage_of: dict[str, str]) -> list[str]:
    """The verdict reasons of a record whose status changed (``r``: the merged old/new row)."""
    reasons: list[str] = []
    if kind == "转出":
        if ev.present_on_or_after(sid, school, at_school=True):
            reasons.append("transfer_still_present")
        gap = ev.last_row_gap(sid)
        if not elsewhere and (gap is None or gap > GRACE_DAYS):
            reasons.append("transfer_not_received")
    elif kind == "休学":
        if not approved:
            reasons.append("suspension_no_approval")
        if ev.present_on_or_after(sid, school, at_school=False):
            reasons.append("suspension_present")
    elif kind == "复学":
        if (ev.days_of(school) & ev.window).any() and not ev.was_present(sid):
            reasons.append("resumption_absent")
    elif kind == "毕业":
        finals = {"小学": (6,), "初中": (9,)}.get(stage_of.get(school, ""), (6, 9))
        if int(r.grade_n) not in finals:
            reasons.append("graduation_not_final_grade")
    return reasons
