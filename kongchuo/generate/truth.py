"""Ground truth of a generated district, computed from the generator's canonical in-memory tables with the
exact case semantics of the package docstring (vectorised; per-period loops only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kongchuo import idnumber, terms

from .calendar import month_bounds

ACTIVE, OUT, DROP, GRAD, DEAD = "active", "transferred_out", "dropped_out", "graduated", "deceased"
P, NOROW = 0, -1
GT_COLUMNS = ["case", "period", "person_key", "record_key", "id_number", "student_no", "school_code",
              "township_code", "detail"]


def _age(birth: np.ndarray, on) -> np.ndarray:
    b = pd.DatetimeIndex(birth)
    return on.year - b.year.to_numpy() - ((on.month * 100 + on.day) < (b.month * 100 + b.day).to_numpy())


def _age_birth(reg: pd.DataFrame) -> np.ndarray:
    """The birth date school age is taken from: inside a valid ID (the person's), else the registry's."""
    ids = pd.Series(reg["id_norm"].to_numpy(dtype=object), dtype=object).fillna("").astype(str)
    valid = (ids != "") & idnumber.problem_series(ids.where(ids != "")).isna()
    from_id = pd.to_datetime(ids.str.slice(6, 14).where(valid), format="%Y%m%d", errors="coerce")
    return np.where(valid.to_numpy(), from_id.to_numpy(dtype="datetime64[ns]"),
                    reg["birth"].to_numpy(dtype="datetime64[ns]"))


def ground_truth(w: dict) -> pd.DataFrame:
    """Every planted case the rules should find, per period, from the generator's world (``core._ground_truth``)."""
    from .core import _tick

    t = _Truth(w)
    _tick("truth prepare")
    for step in (t.sd1, t.sd2, t.sd3, t.sd4_sd5_sd6_dq05_dq06, t.out_of_school, t.snapshot_checks, t.casework,
                 t.home_teaching, t.informational):
        step()
        _tick(f"truth {step.__name__}")
    out = t.out
    gt = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=GT_COLUMNS)
    gt = gt[GT_COLUMNS].fillna("").astype(str)
    return gt.sort_values(GT_COLUMNS, kind="stable").drop_duplicates().reset_index(drop=True)


class _Truth:
    """The generator's world prepared once (person info, entities, exclusions); one method per rule group, each
    appending its rows to ``out`` (the final frame is sorted, so the order of the methods does not matter)."""

    def __init__(self, w: dict) -> None:
        self.w = w
        self.periods, self.msl, self.days64, self.codes = w["periods"], w["msl"], w["days64"], w["codes"]
        self.exem, self.visits, self.case = w["exem"], w["visits"], w["case"]
        self.e_pid, self.e_code = w["e_pid"], w["e_code"]
        self.ref = w["ref"]
        # absence-only: ``codes`` holds only the delivered (non-present) rows; a day without a row is present
        self.absence_only = bool(w.get("absence_only", False))
        self.out: list[pd.DataFrame] = []
        self._prepare_people(w["reg"], w["cen"])
        self._prepare_exclusions()
        self._prepare_entities(w)

    def _prepare_people(self, reg: pd.DataFrame, cen: pd.DataFrame) -> None:
        e_pid, e_code = self.e_pid, self.e_code
        # numpy-backed columns (object for text): filtering them is much faster than Arrow-backed strings
        keep = ["sid", "student_no", "id_norm", "person_key", "male", "birth", "school_code", "township_code",
                "grade", "status", "plant", "change_date", "change_col"]
        reg = pd.DataFrame({c: reg[c].to_numpy(dtype=object) if reg[c].dtype == object or pd.api.types.is_string_dtype(
            reg[c]) else reg[c].to_numpy() for c in keep})
        cen = pd.DataFrame({c: cen[c].to_numpy(dtype=object) if pd.api.types.is_string_dtype(cen[c])
                            else cen[c].to_numpy() for c in cen.columns})
        reg["pid"] = reg["sid"]
        reg["is_active"] = reg["status"] == ACTIVE
        reg["age_birth"] = _age_birth(reg)
        # person info: the active record first
        pinfo = reg.sort_values(["is_active", "sid"], ascending=[False, True], kind="stable").drop_duplicates("pid")
        self.pinfo = pinfo.set_index("pid")
        active = reg[reg["is_active"]]
        active_pids = np.unique(active["pid"].to_numpy(dtype=np.int64))
        self.npid = int(max(reg["pid"].max() if len(reg) else 0, cen["pid"].max() if len(cen) else 0,
                            e_pid.max() if len(e_pid) else 0)) + 1
        self.is_active_pid = np.zeros(self.npid, bool)
        self.is_active_pid[active_pids] = True
        sch_codes, _ = pd.factorize(pd.concat([pd.Series(reg["school_code"].to_numpy(dtype=object)),
                                               pd.Series(np.asarray(e_code, dtype=object))], ignore_index=True))
        reg_sch = sch_codes[: len(reg)].astype(np.int64)
        self.e_sch = sch_codes[len(reg):].astype(np.int64)
        reg["pk_int"] = reg["pid"].to_numpy(dtype=np.int64) * 1_000_000 + reg_sch
        self.reg, self.cen = reg, cen
        self.act = reg[reg["is_active"]].copy()
        self.act["record_key"], self.act["id_number"] = self.act["student_no"], self.act["id_norm"]
        # the first active record of each person (SD2, SD5)
        self.first_act = reg[reg["is_active"]].drop_duplicates("pid").copy()
        self.first_act["record_key"], self.first_act["id_number"] = self.first_act["student_no"], \
            self.first_act["id_norm"]
        self.fa_pid = self.first_act["pid"].to_numpy(dtype=np.int64)

    def _prepare_exclusions(self) -> None:
        reg, cen = self.reg, self.cen
        self.dead = set(reg.loc[reg["status"] == DEAD, "pid"]) | set(cen.loc[cen["residence"] == "死亡", "pid"])
        # only 毕业 from grade 9 excludes
        self.grad = set(reg.loc[(reg["status"] == GRAD) & (reg["grade"] == 9), "pid"])
        self.ht = set(self.visits["pid"])
        birth_of = pd.concat([self.pinfo["age_birth"], cen.set_index("pid")["birth"]])
        self.birth_of = birth_of[~birth_of.index.duplicated()]

    def _prepare_entities(self, w: dict) -> None:
        """Entity (attendance key x school) identities; which entities have rows in each period."""
        e_pid, pinfo = self.e_pid, self.pinfo
        ent = pd.DataFrame({"eid": np.arange(len(e_pid)), "pid": e_pid, "school_code": self.e_code,
                            "record_key": w["e_key"], "person_key": w["e_pkey"], "keytype": w["e_keytype"]})
        ent["id_number"] = np.where(ent["keytype"] == "id_number", ent["record_key"],
                                    ent["pid"].map(pinfo["id_norm"]).fillna(""))
        ent["student_no"] = np.where(ent["keytype"] == "student_no", ent["record_key"],
                                     ent["pid"].map(pinfo["student_no"]).fillna(""))
        ent["township_code"] = ent["pid"].map(pinfo["township_code"]).fillna("")
        self.ent = ent
        self.rows_pm = {p: (self.codes[:, self.msl[p]] >= 0).any(axis=1) for p in self.periods}
        self.person_rows = {}
        for p in self.periods:
            pr = np.zeros(self.npid, bool)
            pr[e_pid[self.rows_pm[p]]] = True
            self.person_rows[p] = pr

    def emit(self, case_id: str, period: str, df: pd.DataFrame, detail="") -> None:
        if len(df) == 0:
            return
        f = pd.DataFrame({c: (df[c].to_numpy() if c in df else "") for c in GT_COLUMNS[2:]})
        if "detail" not in df:
            f["detail"] = detail
        f.insert(0, "period", period)
        f.insert(0, "case", case_id)
        self.out.append(f)

    def exclusion(self, pids: np.ndarray, period: str) -> np.ndarray:
        """Why each person is excluded from the rules in ``period`` ('' for not excluded)."""
        p1 = np.datetime64(month_bounds(period)[1])  # in force ON the cut-off
        exem = self.exem
        inforce = set(exem.loc[(exem["approved_on"] <= p1) & (exem["valid_until"] >= p1), "pid"])
        age = _age(self.birth_of.reindex(pids).to_numpy(dtype="datetime64[ns]"), month_bounds(period)[1])
        reasons = []
        for pid, a in zip(pids, age):  # candidates only (a few per cent of students)
            r = [name for name, cond in (("exemption", pid in inforce), ("home_teaching", pid in self.ht),
                                         ("deceased", pid in self.dead), ("graduated", pid in self.grad),
                                         ("over_16", a >= 16)) if cond]
            reasons.append(",".join(r))
        return np.array(reasons, dtype=object)

    def emit_rule(self, rule: str, period: str, df: pd.DataFrame) -> None:
        """A rule's rows: the excluded ones as EXCLUDED with the reasons."""
        if len(df) == 0:
            return
        why = self.exclusion(df["pid"].to_numpy(), period)
        self.emit(rule, period, df[why == ""])
        exc = df[why != ""].copy()
        exc["detail"] = [f"{rule} excluded: {r}" for r in why[why != ""]]
        self.emit("EXCLUDED", period, exc)

    def sd1(self) -> None:
        """SD1: a run of unexcused school days crosses month ends and belongs to the month of its 3rd day."""
        codes, msl, ent = self.codes, self.msl, self.ent
        unex = codes == 3
        reach = np.zeros(codes.shape, bool)
        run = np.zeros(len(codes), np.int64)
        for d in range(codes.shape[1]):
            run = (run + 1) * unex[:, d]
            reach[:, d] = run == 3
        for p in self.periods:
            reached = reach[:, msl[p]].any(axis=1)
            cnt = unex[:, msl[p]].sum(axis=1)
            hit = reached | (cnt >= 10)
            df = ent[hit].copy()
            df["detail"] = [f"run reached 3: {a} unexcused_days={b}" for a, b in zip(reached[hit], cnt[hit])]
            self.emit_rule("SD1", p, df)

    def sd2(self) -> None:
        """SD2: the month holding the term's 10th school day; an active person with no presence at any school on
        the term's first 10 school days, rows or not (absence-only: absent on every one of them)."""
        codes, days64, e_pid = self.codes, self.days64, self.e_pid
        for t, (a, b) in self.w["terms"].items():
            if b - a + 1 < 10:
                continue
            blk = codes[:, a:a + 10]
            period = str(days64[a + 9])[:7]
            if period not in self.periods:
                continue
            if self.absence_only:
                hit = (blk >= 0).all(axis=1) & (blk != P).all(axis=1) & self.is_active_pid[e_pid]
                df = self.ent[hit].copy()
            else:
                present = np.zeros(self.npid, bool)
                present[e_pid[(blk == P).any(axis=1)]] = True
                df = self.first_act[~present[self.fa_pid]].copy()
            df["detail"] = f"term {t} first school day {days64[a]}"
            self.emit_rule("SD2", period, df)

    def sd3(self) -> None:
        """SD3: 转出 and no active record anywhere more than 30 days after the transfer date, at the cut-off. The
        transfer date is the record's change date when its file has the column (writers.has_change_date), else
        the date of the (only) registry snapshot, ``registry_as_of``; a person is dated by the latest transfer."""
        reg = self.reg
        outs = reg[(reg["status"] == OUT).to_numpy() & ~self.is_active_pid[reg["pid"].to_numpy(dtype=np.int64)]].copy()
        if not len(outs):
            return
        changed = outs["change_date"].to_numpy(dtype="datetime64[D]")
        own = outs["change_col"].to_numpy(dtype=bool) & ~np.isnat(changed)
        outs["transfer"] = np.where(own, changed, np.datetime64(self.w["registry_as_of"], "D"))
        latest = outs.groupby("pid")["transfer"].transform("max").to_numpy(dtype="datetime64[D]")
        for p in self.periods:
            gap = (np.datetime64(month_bounds(p)[1], "D") - latest).astype(np.int64)
            df = outs[gap > 30].copy()
            df["record_key"] = df["student_no"]
            df["id_number"] = df["id_norm"]
            df["detail"] = [f"{x} days since the transfer ({'变动日期' if o else 'snapshot date'})"
                            for x, o in zip(gap[gap > 30], own[gap > 30])]
            self.emit_rule("SD3", p, df)

    def sd4_sd5_sd6_dq05_dq06(self) -> None:
        reg, act, codes, msl, e_pid = self.reg, self.act, self.codes, self.msl, self.e_pid
        drops = reg[reg["status"] == DROP].copy()
        drops["record_key"], drops["id_number"] = drops["student_no"], drops["id_norm"]
        act_pk = np.unique(act["pk_int"].to_numpy())
        e_pk = e_pid.astype(np.int64) * 1_000_000 + self.e_sch
        unreg_e = ~np.isin(e_pk, act_pk)
        # SD6: 毕业 at grade 6 and no active record, at the cut-offs kongchuo.terms evaluates
        grad6 = reg[(reg["status"] == GRAD).to_numpy() & (reg["grade"] == 6).to_numpy()
                    & ~self.is_active_pid[reg["pid"].to_numpy(dtype=np.int64)]].copy()
        grad6["record_key"], grad6["id_number"] = grad6["student_no"], grad6["id_norm"]
        calendar = [d.item() for d in self.days64.astype("datetime64[D]")]
        for p in self.periods:
            if terms.sd6_autumn_start(month_bounds(p)[1], calendar) is not None:
                self.emit_rule("SD6", p, grad6.assign(detail="毕业 from grade 6, no active record"))
            self.emit_rule("SD4", p, drops.assign(detail="registry status 辍学"))
            if not self.absence_only:  # SD5/DQ05 ("no roll-call row") cannot be seen in absence-only attendance
                df = self.first_act[~self.person_rows[p][self.fa_pid]].copy()
                df["detail"] = "no attendance in month"
                self.emit_rule("SD5", p, df)
                have_pk = np.unique(e_pk[self.rows_pm[p]])
                miss = ~np.isin(act["pk_int"].to_numpy(), have_pk)
                self.emit("DQ05", p, act[miss].assign(detail="active record, no attendance at its school"))
            nrows = (codes[:, msl[p]] >= 0).sum(axis=1)
            d6 = self.ent[self.rows_pm[p] & unreg_e].copy()
            d6["detail"] = [f"{n} attendance rows" for n in nrows[d6["eid"].to_numpy()]]
            self.emit("DQ06", p, d6)

    def out_of_school(self) -> None:
        """OOS / OOS_AWAY: census children 6-15 without a registry record, not exempted."""
        reg, cen, exem = self.reg, self.cen, self.exem
        co = cen[~cen["id_number"].isin(reg.loc[reg["id_norm"] != "", "id_norm"])].copy()
        co["person_key"] = co["record_key"] = co["id_number"]
        age = _age(co["birth"].to_numpy(dtype="datetime64[ns]"), self.ref)
        for p in self.periods:
            p1 = np.datetime64(month_bounds(p)[1])  # in force ON the cut-off, as for the SD rules
            inforce = set(exem.loc[(exem["approved_on"] <= p1) & (exem["valid_until"] >= p1), "pid"])
            ex_now = co["pid"].isin(inforce).to_numpy()
            age_ok = (age >= 6) & (age <= 15)
            res = co["residence"].to_numpy()
            self.emit("OOS", p, co[age_ok & (res == "在户") & ~ex_now], "census 6-15, 在户, no registry record")
            self.emit("OOS_AWAY", p, co[age_ok & (res == "外出") & ~ex_now], "census 6-15, 外出, no registry record")
            why = np.where(~age_ok, np.char.add("OOS excluded: age ", age.astype(str)),
                           np.where(np.isin(res, ["迁出", "死亡"]), np.char.add("OOS excluded: ", res.astype(str)),
                                    np.where(ex_now, "OOS excluded: exemption", "")))
            self.emit("EXCLUDED", p, co[why != ""].assign(detail=why[why != ""]))

    def snapshot_checks(self) -> None:
        """DQ01, DQ02, DQ04, DQ07, DQ08: checks of the registry snapshot (no period)."""
        emit, act = self.emit, self.act
        snap = self.reg.copy()
        snap["record_key"], snap["id_number"] = snap["student_no"], snap["id_norm"]
        has_id = snap["id_norm"] != ""
        prob = idnumber.problem_series(snap["id_norm"].where(has_id)).fillna("").to_numpy()
        bad = has_id.to_numpy() & (prob != "")
        emit("DQ01", "", snap[bad].assign(detail=prob[bad]))
        ok = snap[has_id.to_numpy() & ~bad]
        idb = pd.to_datetime(ok["id_norm"].str.slice(6, 14), format="%Y%m%d").to_numpy(dtype="datetime64[D]")
        idm = ok["id_norm"].str.slice(16, 17).astype(int).to_numpy() % 2 == 1
        wrong_b = ok["birth"].to_numpy(dtype="datetime64[D]") != idb
        wrong_g = ok["male"].to_numpy(dtype=bool) != idm
        emit("DQ02", "", ok[wrong_b | wrong_g].assign(
            detail=np.where(wrong_b, "birth_date", "gender")[wrong_b | wrong_g]))
        aid = act[act["id_norm"] != ""]
        multi = aid.groupby("id_norm")["school_code"].transform("nunique") >= 2
        emit("DQ04", "", aid[multi], "one person, active records at two schools")
        diff = _age(act["age_birth"].to_numpy(dtype="datetime64[ns]"), self.ref) - act["grade"].to_numpy()
        off = (diff < 5) | (diff > 8)
        emit("DQ07", "", act[off].assign(detail=[f"age-grade={d}" for d in diff[off]]))
        bs = ~snap["school_code"].isin(self.w["ref_schools"])
        bt = ~snap["township_code"].isin(self.w["ref_towns"])
        emit("DQ08", "", snap[bs | bt].assign(detail=np.where(bs, "school_code", "township_code")[(bs | bt).to_numpy()]))

    def casework(self) -> None:
        """ESC (>= 3 failed attempts, the latest failed) and RETURNED (the latest attempt 已返校), at each cut-off."""
        case = self.case
        if not len(case):
            return
        cs = case.sort_values(["pid", "attempt_date"], kind="stable")
        for p in self.periods:
            sub = cs[cs["attempt_date"] <= np.datetime64(month_bounds(p)[1])]
            if sub.empty:
                continue
            g = sub.assign(fail=(sub["result"] == "未返校").astype(int)).groupby("pid")
            last = g["result"].last()
            nfail = g["fail"].sum()
            info = self.pinfo.reindex(last.index)
            base = pd.DataFrame({"person_key": info["id_norm"].to_numpy(), "record_key": info["id_norm"].to_numpy(),
                                 "id_number": info["id_norm"].to_numpy(), "student_no": info["student_no"].to_numpy(),
                                 "school_code": info["school_code"].to_numpy(),
                                 "township_code": info["township_code"].to_numpy(),
                                 "detail": [f"{n} attempts 未返校" for n in nfail.to_numpy()]})
            esc = (last.to_numpy() == "未返校") & (nfail.to_numpy() >= 3)
            self.emit("ESC", p, base[esc])
            self.emit("RETURNED", p, base[last.to_numpy() == "已返校"].assign(detail="latest attempt 已返校"))

    def home_teaching(self) -> None:
        """HT_NONCOMPLIANT: fewer than 2 visits of >= 3 class hours in the month."""
        visits = self.visits
        if not len(visits):
            return
        htp = np.array(sorted(self.ht))
        info = self.pinfo.reindex(htp)
        for p in self.periods:
            p0, p1 = (np.datetime64(x) for x in month_bounds(p))
            v = visits[(visits["visit_date"] >= p0) & (visits["visit_date"] <= p1) & (visits["class_hours"] >= 3)]
            n = v.groupby("pid").size().reindex(htp).fillna(0).astype(int).to_numpy()
            df = pd.DataFrame({"person_key": info["person_key"].to_numpy(), "record_key": info["id_norm"].to_numpy(),
                               "id_number": info["id_norm"].to_numpy(), "student_no": info["student_no"].to_numpy(),
                               "school_code": info["school_code"].to_numpy(),
                               "township_code": info["township_code"].to_numpy(),
                               "detail": [f"{k} visits of >= 3 class hours" for k in n]})
            self.emit("HT_NONCOMPLIANT", p, df[n < 2])

    def informational(self) -> None:
        """Informational exclusions: planted people no rule would fire for."""
        info_plants = {"EX_GRADUATED": "no rule: graduated", "SD3_RECEIVED": "SD3 not applicable: transfer received"}
        recs = self.reg.drop_duplicates("pid")
        extra = []
        for plant_name, why in info_plants.items():
            extra.append(recs[recs["plant"] == plant_name].assign(detail=why))
        extra.append(recs[(recs["plant"] == "EX_EXEMPT") & (recs["status"] != ACTIVE)].assign(
            detail="no rule: registry 休学 with exemption"))
        extra.append(recs[(recs["plant"] == "EX_DEATH") & (recs["status"] == DEAD)].assign(
            detail="no rule: registry 死亡"))
        ex_df = pd.concat(extra, ignore_index=True)
        ex_df["record_key"], ex_df["id_number"] = ex_df["student_no"], ex_df["id_norm"]
        for p in self.periods:
            self.emit("EXCLUDED", p, ex_df)
