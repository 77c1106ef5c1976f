"""Synthetic district generator: people, registry, roll call, census, casework, exemptions, home teaching,
planted anomalies and the ground truth. See the package docstring for the exact case semantics."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kongchuo import idnumber

from . import calendar as cal
from . import names as nm
from . import reference as refmod
from . import writers as wr

# ------------------------------------------------------------------------------------------------ rates


@dataclass
class Rates:
    """Anomaly rates as fractions of ``students`` (a rate > 0 plants at least one case), and background rates.

    Upper-case fields are planted cases (each planted student gets exactly one); lower-case fields are the
    background of normal students.
    """

    SD1: float = 0.004          # unexcused run of 3-5 days, or >= 10 unexcused days, in one month
    SD1_CROSS: float = 0.002    # unexcused on a month's last 2 school days and the next month's first (SD1 then)
    SD2: float = 0.003          # personal leave on the first 10 school days of the term, present afterwards
    SD3: float = 0.003          # 转出, attendance stops (or none at all), nobody receives them
    SD3_RECEIVED: float = 0.003  # 转出 at A + 转入 at B, attending at B (NOT SD3)
    SD4: float = 0.004          # 辍学
    SD5: float = 0.003          # active, no attendance in the whole range
    SD5_MONTH: float = 0.003    # active, no attendance in one month
    DQ01: float = 0.005         # invalid ID in the registry (check digit / birth date / length)
    DQ02: float = 0.003         # registry birth date or gender disagrees with the ID
    DQ04: float = 0.003         # second active record at another school ('L' number, no attendance)
    DQ06: float = 0.003         # attending children without any registry record (extra people)
    DQ07: float = 0.003         # grade does not fit age
    DQ08: float = 0.0           # school or township code not in the reference data (an error: default 0)
    OOS: float = 0.003          # census child 6-15, 在户, never registered (extra people)
    OOS_AWAY: float = 0.003     # same, 外出
    ESC: float = 0.003          # >= 3 failed persuasion attempts (chosen among SD4/SD5 children)
    RETURNED: float = 0.003     # persuaded back (chosen among SD1/SD5_MONTH children)
    HT: float = 0.003           # home-taught severely disabled children (some months non-compliant)
    EX_EXEMPT: float = 0.003    # 休学 approval in force (half registry 休学, half still 在籍)
    EX_EXPIRED: float = 0.003   # approval expired before / during the range, no attendance (-> SD5)
    EX_DEATH: float = 0.003     # deceased (registry 死亡, or census 死亡 with an active record)
    EX_GRADUATED: float = 0.002  # registry 毕业 from grade 9, still on a roll call with an unexcused run (excluded)
    EX_AGE: float = 0.003       # grade 9, aged 16 on 31 Aug: 17 during the range; 辍学 or active without attendance
    EX_DEFERRAL: float = 0.003  # census child aged 6 with 延缓入学 approval (half expiring mid-range)
    EX_CENSUS: float = 0.004    # census-only children not OOS: aged 5, aged 16, 迁出, 死亡
    NO_ID: float = 0.003        # children without ID: 'J'/'L' student numbers, student_no-keyed roll call
    G_ONLY: float = 0.003       # registry ID cell blank, student number 'G' + the ID (the same child: not 失学)
    OTHER_SCHOOL: float = 0.003  # active at school A, present every day at school B (DQ05/DQ06, not SD5)
    SD6: float = 0.003          # record 毕业 from grade 6 last summer, no record since (小升初未升学)
    SD6_ENROLLED: float = 0.002  # record 毕业 from grade 6 plus an active grade-7 record (NOT SD6)
    # background
    sick: float = 0.012
    personal: float = 0.010
    unexcused: float = 0.003
    poverty: float = 0.08
    left_behind: float = 0.10
    migrant: float = 0.06
    disabled: float = 0.01
    difficulty: float = 0.02
    repeater: float = 0.05
    census_away: float = 0.03
    id_dirty: float = 0.02

    def count(self, name: str, n: int) -> int:
        rate = getattr(self, name)
        return 0 if rate <= 0 else max(1, int(round(rate * n)))

    def replace(self, **kw: float) -> "Rates":
        return dataclasses.replace(self, **kw)

    @classmethod
    def parse(cls, items: list[str] | None) -> "Rates":
        """``["DQ08=0.01", "SD1=0.002"]`` -> Rates with those overrides."""
        kw: dict[str, float] = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for item in items or []:
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in names:
                raise ValueError(f"unknown rate {key!r}; known: {', '.join(sorted(names))}")
            kw[key] = float(value)
        return cls(**kw)


@dataclass
class Meta:
    district: str
    district_name: str
    students: int
    seed: int
    start: str
    end: str
    reference_date: str
    periods: list[str]
    term_first_days: dict[str, str]
    school_days: int
    schools: int
    files: list[dict] = field(default_factory=list)
    case_counts: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    attendance: str = "rollcall"  # or "absence_only"; written to meta.json only when not the default
    profile: str = ""  # kongchuo.generate.profiles name; written to meta.json only when given

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        if data["attendance"] == "rollcall":  # rollcall meta.json stays byte-identical to earlier versions
            del data["attendance"]
        if not data["profile"]:  # likewise without a profile
            del data["profile"]
        return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)


# ------------------------------------------------------------------------------------------------ helpers

NOATT = ("SD4", "SD5", "HT", "EX_EXEMPT", "EX_EXPIRED", "EX_DEATH", "EX_AGE", "SD6")
ATTENDANCE_MODES = ("rollcall", "absence_only")
CALENDAR_FILE = "school_calendar.csv"
ACTIVE, SUSP, OUT, DROP, GRAD, DEAD = "active", "suspended", "transferred_out", "dropped_out", "graduated", "deceased"
P, SICK, PERS, UNEX, NOROW = 0, 1, 2, 3, -1
GT_COLUMNS = ["case", "period", "person_key", "record_key", "id_number", "student_no", "school_code",
              "township_code", "detail"]


def _ymd(d64: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d64 = d64.astype("datetime64[D]")
    y = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, d


def age_on(birth: np.ndarray, on: dt.date) -> np.ndarray:
    """Full years on ``on`` (vectorised)."""
    y, m, d = _ymd(birth)
    return on.year - y - ((on.month * 100 + on.day) < (m * 100 + d)).astype(np.int64)


def births_for_age(rng: np.random.Generator, age: np.ndarray, ref: dt.date) -> np.ndarray:
    """Birth dates giving exactly ``age`` full years on ``ref`` (31 Aug)."""
    first = (np.array([f"{ref.year - a - 1}-09-01" for a in range(0, 25)], dtype="datetime64[D]"))[age]
    return first + rng.integers(0, 365, len(age)).astype("timedelta64[D]")


def ids_from_first17(first17: np.ndarray) -> np.ndarray:
    pows = 10 ** np.arange(16, -1, -1, dtype=np.int64)
    digits = (first17[:, None] // pows) % 10
    chk = np.array(list(idnumber.CHECK_CHARS))[(digits @ np.array(idnumber.WEIGHTS, dtype=np.int64)) % 11]
    return (pd.Series(first17.astype(str)) + pd.Series(chk)).to_numpy(dtype=object)


def build_ids(rng: np.random.Generator, region: np.ndarray, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Unique valid IDs: sequence numbers counted within (region, birth date, gender)."""
    y, m, d = _ymd(birth)
    ymd = y * 10000 + m * 100 + d
    n = len(region)
    shuffle = rng.permutation(n)
    k = pd.DataFrame({"r": region[shuffle], "b": ymd[shuffle], "m": male[shuffle]}).groupby(
        ["r", "b", "m"], sort=False).cumcount().to_numpy()
    kk = np.empty(n, np.int64)
    kk[shuffle] = k
    base = (ymd * 7 + region * 3) % 500
    seq = 2 * ((base + kk) % 500) + male.astype(np.int64)
    first17 = region.astype(np.int64) * 10 ** 11 + ymd * 1000 + seq
    return ids_from_first17(first17)


_FW = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def dirty_ids(ids: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """~rate of non-empty IDs get full-width digits, inner spaces or a lower-case x (valid after normalising)."""
    out = ids.astype(object).copy()
    ok = pd.Series(out, dtype=object).fillna("").astype(str).str.len().to_numpy() > 0
    pick = np.flatnonzero(ok & (rng.random(len(out)) < rate))
    if len(pick) == 0:
        return out
    s = pd.Series(out[pick], dtype=object).astype(str)
    kind = rng.integers(0, 3, len(pick))
    x_end = s.str.endswith("X").to_numpy()
    res = s.str.translate(_FW)
    spaced = s.str.slice(0, 6) + " " + s.str.slice(6, 14) + " " + s.str.slice(14)
    lower = s.str.slice(0, 17) + "x"
    res = np.where(kind == 1, spaced, np.where((kind == 2) & x_end, lower, res))
    out[pick] = res
    return out


def _pick(rng, plant: np.ndarray, name: str, count: int, eligible: np.ndarray) -> np.ndarray:
    cand = np.flatnonzero(eligible & (plant == ""))
    k = min(count, len(cand))
    chosen = np.sort(rng.permutation(cand)[:k]) if k else np.array([], dtype=np.int64)
    plant[chosen] = name
    return chosen


def _phones(rng, n: int) -> np.ndarray:
    second = rng.choice(np.array(["3", "5", "7", "8", "9"]), n)
    rest = rng.integers(0, 10 ** 9, n)
    return (pd.Series(np.char.add("1", second)) + pd.Series(rest).astype(str).str.zfill(9)).to_numpy(dtype=object)


# ------------------------------------------------------------------------------------------------ main


_T0 = [0.0]


def _tick(label: str) -> None:
    import os
    import sys
    import time
    if os.environ.get("KONGCHUO_GEN_TIMING"):
        now = time.perf_counter()
        print(f"[gen] {label}: {now - _T0[0]:.1f}s", file=sys.stderr)
        _T0[0] = now


def generate(district: str, students: int, seed: int, start: dt.date, end: dt.date, out: Path,
             rates: Rates | None = None, attendance: str = "rollcall", real_shapes: float = 0.0,
             registry_changes: dt.date | str | None = None, profile: str = "") -> Meta:
    """Generate one synthetic district into ``out`` (landing/, reference/, ground_truth.csv, meta.json).
    ``real_shapes``: the share of files written in real export shapes (kongchuo.generate.shapes).
    ``profile``: a kongchuo.generate.profiles name (school spread, casework timing, and its rates when
    ``rates`` is not given); '' keeps every output as before."""
    # numpy object strings: far faster than Arrow-backed strings for the generator's filtering and takes
    import warnings

    def _set(value):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated in pandas 3 but still honoured
            old = pd.get_option("future.infer_string")
            pd.set_option("future.infer_string", value)
        return old

    old = _set(False)
    try:
        return _generate(district, students, seed, start, end, out, rates, attendance, real_shapes, registry_changes,
                         profile)
    finally:
        _set(old)



# The generator runs as a sequence of steps, each a function of the state the earlier steps built (grouped in the
# small dataclasses below). Every step draws from the one ``rng`` in a fixed order: moving a draw from one step to
# another changes every file, so steps run in exactly the order _generate lists them.


@dataclass
class _Ctx:
    """Arguments, calendar and selected schools: fixed before the first student is made."""

    district: str
    seed: int
    start: dt.date
    end: dt.date
    out: Path
    rates: Rates
    prof: Any  # profiles.Profile (profiles imports this module)
    attendance: str
    absence_only: bool
    real_shapes: float
    profile: str
    N: int
    rng: np.random.Generator
    info: dict
    ref: dt.date
    days: list[dt.date]
    days64: np.ndarray
    periods: list[str]
    msl: dict[str, slice]  # period -> its school days (indexes into days)
    terms: dict[str, tuple[int, int]]  # term -> (first, last) school-day index
    towns: pd.DataFrame = None
    allschools: pd.DataFrame = None
    schools: pd.DataFrame = None

    @property
    def D(self) -> int:
        return len(self.days)

    def count(self, name: str) -> int:
        return self.rates.count(name, self.N)


@dataclass
class _Schools:
    """The selected schools as arrays (index = school number)."""

    S: int
    s_code: np.ndarray
    s_name: np.ndarray
    s_town: np.ndarray
    s_rural: np.ndarray
    s_min: np.ndarray
    s_max: np.ndarray
    tname: dict[str, str]
    s_key: np.ndarray  # the roll-call key of each school: student_no or id_number


@dataclass
class _Students:
    """The true attributes of the N registered students (index = sid before the registry sort)."""

    grade: np.ndarray
    school: np.ndarray
    cls: np.ndarray
    male: np.ndarray
    repeater: np.ndarray
    birth: np.ndarray
    migrant: np.ndarray
    others: np.ndarray
    region: np.ndarray
    poverty: np.ndarray
    left_behind: np.ndarray
    disabled: np.ndarray
    difficulty: np.ndarray
    dis_grade: np.ndarray


@dataclass
class _Plan:
    """The planted anomaly of every student ('' for none) and what it needs."""

    plant: np.ndarray
    picks: dict[str, np.ndarray]
    sd2_terms: list[str]
    smin_st: np.ndarray
    reg_grade: np.ndarray
    alt: np.ndarray  # the second school of SD3_RECEIVED, DQ04 and OTHER_SCHOOL plants (-1: none)
    primary: np.ndarray  # SD6 plants: the primary school they graduated from (-1: none)


@dataclass
class _Extras:
    """Census-only people (not registered), numbered N + row."""

    ex: pd.DataFrame
    X: int
    male: np.ndarray
    birth: np.ndarray


@dataclass
class _Ids:
    true_id: np.ndarray
    st_id: np.ndarray
    ex_id: np.ndarray
    st_name: np.ndarray
    ex_name: np.ndarray
    reg_id: np.ndarray  # as the registry has it (DQ01 corrupted, '' for NO_ID)
    student_no: np.ndarray
    reg_birth: np.ndarray
    reg_male: np.ndarray


@dataclass
class _Registry:
    reg: pd.DataFrame
    rec_code: np.ndarray
    rec_town: np.ndarray
    st_pkey: np.ndarray


@dataclass
class _Entities:
    """Roll-call entities (a key at a school), in file order, and the attendance file chunks."""

    n_chunks: int
    chunk_key: np.ndarray
    e_chunk: np.ndarray
    e_code: np.ndarray
    e_pid: np.ndarray
    e_keytype: np.ndarray
    e_key_raw: np.ndarray
    e_key: np.ndarray
    pkey_all: np.ndarray
    e_pkey: np.ndarray


@dataclass
class _RollCall:
    codes: np.ndarray  # entity x school day: P, SICK, PERS, UNEX or NOROW
    pos_of: pd.Series  # pid -> entity row
    plan_month: dict[int, str] = field(default_factory=dict)  # entity -> the month its plant happens in
    e1: np.ndarray = None
    ec: np.ndarray = None


def _generate(district: str, students: int, seed: int, start: dt.date, end: dt.date, out: Path,
              rates: Rates | None = None, attendance: str = "rollcall", real_shapes: float = 0.0,
              registry_changes: dt.date | str | None = None, profile: str = "") -> Meta:
    c = _context(district, students, seed, start, end, out, rates, attendance, real_shapes, profile)
    _tick("start")
    sch = _schools(c)
    st = _students(c, sch)
    _tick("students")
    plan = _plant(c, sch, st)
    x = _extras(c, sch, st)
    _tick("planting+extras")
    ids = _ids(c, st, plan, x)
    _tick("ids")
    r = _registry(c, sch, st, plan, ids)
    _tick("registry")
    cen = _census(c, sch, st, plan, x, ids)
    _tick("census")
    ent = _entities(c, sch, st, plan, x, ids, r)
    _tick("entities")
    rc = _rollcall(c, st, plan, ent, r.reg)
    _tick("rollcall")
    exem = _exemptions(c, plan, x, ids)
    visits = _home_teaching(c, plan, ids)
    case = _casework(c, sch, st, plan, ids, rc)
    _tick("side sources")
    reg, changes_plan = r.reg, None
    if registry_changes is not None:  # R8: an older registry snapshot with planted changes (generate/changes.py)
        from .changes import plant_changes  # noqa: PLC0415

        changes_plan = plant_changes(reg, exem, cen, rc.codes, ent.e_pid, ent.e_code, c.days64, plan.picks,
                                     dict(zip(c.allschools["school_code"], c.allschools["stage"])), registry_changes,
                                     c.end, c.ref, seed)
        reg, exem = changes_plan.new_reg, changes_plan.exem
    gt = _ground_truth(c, plan, x, ids, r, ent, rc, reg, cen, exem, visits, case)
    _tick("truth")
    return _write(c, reg, cen, exem, visits, case, ent, rc, gt, changes_plan)


def _context(district: str, students: int, seed: int, start: dt.date | str, end: dt.date | str, out: Path,
             rates: Rates | None, attendance: str, real_shapes: float, profile: str) -> _Ctx:
    """Validated arguments, the rng and the calendar of the range."""
    from .profiles import profile as profile_of  # noqa: PLC0415 (profiles imports Rates from here)

    prof = profile_of(profile)
    if attendance not in ATTENDANCE_MODES:
        raise ValueError(f"attendance must be one of {', '.join(ATTENDANCE_MODES)}, not {attendance!r}")
    if district not in refmod.DISTRICTS:
        raise ValueError(f"no reference data for district {district}; known: {', '.join(refmod.DISTRICTS)}")
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    if isinstance(end, str):
        end = dt.date.fromisoformat(end)
    if end < start:
        raise ValueError("end before start")
    if cal.school_year_start(start) != cal.school_year_start(end):
        raise ValueError("start and end must lie in one school year (1 Sep .. 31 Aug)")
    days = cal.school_days(start, end)
    if not days:
        raise ValueError("no school days in range")
    periods = cal.months(start, end)
    day_period = np.array([f"{d:%Y-%m}" for d in days])
    msl = {}
    for p in periods:
        idx = np.flatnonzero(day_period == p)
        msl[p] = slice(int(idx[0]), int(idx[-1]) + 1) if len(idx) else slice(0, 0)
    terms: dict[str, tuple[int, int]] = {}
    for i, d in enumerate(days):
        t = cal.term_of(d)
        terms[t] = (terms[t][0], i) if t in terms else (i, i)
    return _Ctx(district=district, seed=seed, start=start, end=end, out=Path(out), rates=rates or prof.make_rates(),
                prof=prof, attendance=attendance, absence_only=attendance == "absence_only",
                real_shapes=real_shapes, profile=profile, N=int(students),
                rng=np.random.default_rng([int(seed), int(district)]), info=refmod.DISTRICTS[district],
                ref=cal.reference_date(start), days=days, days64=cal.as_datetime64(days), periods=periods, msl=msl,
                terms=terms)


def _schools(c: _Ctx) -> _Schools:
    c.towns, c.allschools, c.schools = refmod.select_schools(c.district, c.N, c.rng, per_school=c.prof.per_school)
    schools = c.schools
    S = len(schools)
    return _Schools(
        S=S, s_code=schools["school_code"].to_numpy(dtype=object), s_name=schools["school_name"].to_numpy(dtype=object),
        s_town=schools["township_code"].to_numpy(dtype=object), s_rural=schools["is_rural"].to_numpy(dtype=bool),
        s_min=schools["stage"].map(lambda s: refmod.STAGE_GRADES[s][0]).to_numpy(),
        s_max=schools["stage"].map(lambda s: refmod.STAGE_GRADES[s][1]).to_numpy(),
        tname=dict(zip(c.towns["township_code"], c.towns["township_name"])),
        s_key=np.where(np.arange(S) % 2 == 0, "student_no", "id_number"))


def _students(c: _Ctx, sch: _Schools) -> _Students:
    """Grades, schools, classes, births and background attributes of the N students."""
    rng, rates, N, S = c.rng, c.rates, c.N, sch.S
    s_min, s_max, s_rural = sch.s_min, sch.s_max, sch.s_rural
    gw = np.array([1.0, 1.0, 1.0, 0.99, 0.98, 0.97, 0.95, 0.93, 0.9])
    grade = rng.choice(np.arange(1, 10), N, p=gw / gw.sum())
    sw = rng.lognormal(0, 0.35, S) * np.where(s_rural, 1.0, 1.5)
    school = np.zeros(N, np.int64)
    for lo, hi in ((1, 6), (7, 9)):
        m = (grade >= lo) & (grade <= hi)
        elig = np.flatnonzero((s_min <= lo) & (s_max >= hi))
        school[m] = rng.choice(elig, int(m.sum()), p=sw[elig] / sw[elig].sum())
    size = pd.Series(school * 10 + grade).map(pd.Series(school * 10 + grade).value_counts()).to_numpy()
    ncls = np.maximum(1, np.ceil(size / 45)).astype(np.int64)
    cls = (rng.random(N) * ncls).astype(np.int64)
    order = np.lexsort((rng.random(N), cls, grade, school))
    grade, school, cls = grade[order], school[order], cls[order]
    male = rng.random(N) < 0.52
    repeater = rng.random(N) < rates.repeater
    birth = births_for_age(rng, grade + 5 + repeater, c.ref)
    rural = s_rural[school]
    migrant = rng.random(N) < rates.migrant * np.where(rural, 0.6, 1.6)
    others = np.array(c.info["other_regions"], dtype=np.int64)
    region = np.where(migrant, rng.choice(others, N), int(c.district))
    poverty = rng.random(N) < rates.poverty * np.where(rural, 1.3, 0.5)
    left_behind = (~migrant) & (rng.random(N) < rates.left_behind * np.where(rural, 1.4, 0.4))
    disabled = rng.random(N) < rates.disabled
    difficulty = rng.random(N) < rates.difficulty
    dis_grade = np.where(disabled, rng.choice(np.array(["二级", "三级", "四级", "四级"]), N), "")
    return _Students(grade=grade, school=school, cls=cls, male=male, repeater=repeater, birth=birth, migrant=migrant,
                     others=others, region=region, poverty=poverty, left_behind=left_behind, disabled=disabled,
                     difficulty=difficulty, dis_grade=dis_grade)


def _plant(c: _Ctx, sch: _Schools, st: _Students) -> _Plan:
    """One anomaly per planted student; adjusts the students a plant changes before IDs are made (EX_AGE births,
    HT disabilities) and picks the second schools."""
    rng, N, grade, migrant = c.rng, c.N, st.grade, st.migrant
    plant = np.full(N, "", dtype=object)
    cnt = c.count
    smin_st, smax_st = sch.s_min[st.school], sch.s_max[st.school]
    n_compat = {g: int(((sch.s_min <= g) & (sch.s_max >= g)).sum()) for g in range(1, 10)}
    has_alt = np.array([n_compat[g] >= 2 for g in range(1, 10)])[grade - 1]
    picks: dict[str, np.ndarray] = {}
    picks["NO_ID"] = _pick(rng, plant, "NO_ID", cnt("NO_ID"), sch.s_key[st.school] == "student_no")
    picks["EX_AGE"] = _pick(rng, plant, "EX_AGE", cnt("EX_AGE"), grade == 9)
    picks["EX_GRADUATED"] = _pick(rng, plant, "EX_GRADUATED", cnt("EX_GRADUATED"), grade == 9)
    picks["DQ07"] = _pick(rng, plant, "DQ07", cnt("DQ07"), (grade + 2 <= smax_st) | (grade - 4 >= smin_st))
    picks["EX_DEATH"] = _pick(rng, plant, "EX_DEATH", cnt("EX_DEATH"), ~migrant)
    picks["HT"] = _pick(rng, plant, "HT", cnt("HT"), ~migrant)
    picks["SD3_RECEIVED"] = _pick(rng, plant, "SD3_RECEIVED", cnt("SD3_RECEIVED"), has_alt)
    picks["DQ04"] = _pick(rng, plant, "DQ04", cnt("DQ04"), has_alt & ~migrant)
    picks["OTHER_SCHOOL"] = _pick(rng, plant, "OTHER_SCHOOL", cnt("OTHER_SCHOOL"), has_alt)
    picks["G_ONLY"] = _pick(rng, plant, "G_ONLY", cnt("G_ONLY"), ~migrant)
    picks["SD6"] = _pick(rng, plant, "SD6", cnt("SD6"), grade == 7)
    picks["SD6_ENROLLED"] = _pick(rng, plant, "SD6_ENROLLED", cnt("SD6_ENROLLED"), grade == 7)
    sd2_terms = [t for t, (a, b) in c.terms.items() if b - a + 1 >= 11]
    plantable = {"SD2": bool(sd2_terms), "SD1_CROSS": len(c.periods) > 1}
    for name in ("SD1", "SD2", "SD3", "SD4", "SD5", "SD5_MONTH", "DQ01", "DQ02", "DQ08", "EX_EXEMPT", "EX_EXPIRED",
                 "SD1_CROSS"):
        n = cnt(name) if plantable.get(name, True) else 0
        local = name in ("SD1", "SD1_CROSS", "SD4", "SD5", "SD5_MONTH", "EX_EXPIRED")  # IDs of the district itself
        picks[name] = _pick(rng, plant, name, n, ~migrant if local else np.ones(N, bool))

    # modifications that happen before IDs are made
    ea = picks["EX_AGE"]
    st.birth[ea] = births_for_age(rng, np.full(len(ea), 16), c.ref)
    hts = picks["HT"]
    st.disabled[hts] = True
    st.dis_grade[hts] = rng.choice(np.array(["一级", "二级"]), len(hts))
    reg_grade = grade.copy()
    q = picks["DQ07"]
    up = reg_grade[q] + 2 <= smax_st[q]
    reg_grade[q] = np.where(up, reg_grade[q] + 2, reg_grade[q] - 4)

    alt = np.full(N, -1, np.int64)
    for name in ("SD3_RECEIVED", "DQ04", "OTHER_SCHOOL"):
        alt[picks[name]] = _alt_school(rng, sch, st, picks[name])
    grade6_schools = np.flatnonzero((sch.s_min <= 6) & (sch.s_max >= 6))
    primary = np.full(N, -1, np.int64)
    for name in ("SD6", "SD6_ENROLLED"):
        primary[picks[name]] = rng.choice(grade6_schools, len(picks[name]))
    return _Plan(plant=plant, picks=picks, sd2_terms=sd2_terms, smin_st=smin_st, reg_grade=reg_grade, alt=alt,
                 primary=primary)


def _alt_school(rng: np.random.Generator, sch: _Schools, st: _Students, idx: np.ndarray) -> np.ndarray:
    """Another school teaching each student's grade."""
    res = np.zeros(len(idx), np.int64)
    for g in range(1, 10):
        sel = st.grade[idx] == g
        if not sel.any():
            continue
        elig = np.flatnonzero((sch.s_min <= g) & (sch.s_max >= g))
        pos = np.searchsorted(elig, st.school[idx][sel])
        res[sel] = elig[(pos + 1 + rng.integers(0, len(elig) - 1, int(sel.sum()))) % len(elig)]
    return res


def _extras(c: _Ctx, sch: _Schools, st: _Students) -> _Extras:
    """Census-only children (OOS, deferrals, out-of-scope ages) and unregistered attendees (DQ06)."""
    rng, cnt, N = c.rng, c.count, c.N
    sel_towns = np.array(sorted(set(sch.s_town)), dtype=object)
    ex_parts = []

    def extra(kind: str, n: int, ages: np.ndarray, residence: str, regional: bool = True):
        if n <= 0:
            return
        ex_parts.append(pd.DataFrame({
            "plant": kind, "age": ages, "residence": residence,
            "township": rng.choice(sel_towns, n),
            "region": int(c.district) if regional else rng.choice(st.others, n),
        }))

    def ages(n, lo=6, hi=15):
        w = np.linspace(1.0, 2.0, hi - lo + 1)
        return rng.choice(np.arange(lo, hi + 1), n, p=w / w.sum())

    extra("OOS", cnt("OOS"), ages(cnt("OOS")), "在户")
    extra("OOS_AWAY", cnt("OOS_AWAY"), ages(cnt("OOS_AWAY")), "外出")
    extra("EX_DEFERRAL", cnt("EX_DEFERRAL"), np.full(cnt("EX_DEFERRAL"), 6), "在户")
    k4 = 0 if c.rates.EX_CENSUS <= 0 else max(1, int(round(c.rates.EX_CENSUS * N / 4)))
    extra("EX_CENSUS", k4, np.full(k4, 5), "在户")
    extra("EX_CENSUS", k4, np.full(k4, 16), "在户")
    extra("EX_CENSUS", k4, ages(k4), "迁出")
    extra("EX_CENSUS", k4, ages(k4), "死亡")
    n6 = cnt("DQ06")
    extra("DQ06", n6, ages(n6, 7, 14), "", regional=False)
    ex = pd.concat(ex_parts, ignore_index=True) if ex_parts else pd.DataFrame(
        columns=["plant", "age", "residence", "township", "region"])
    X = len(ex)
    ex_age = ex["age"].to_numpy(dtype=np.int64)
    ex_male = rng.random(X) < 0.52
    ex_birth = births_for_age(rng, ex_age, c.ref)
    return _Extras(ex=ex, X=X, male=ex_male, birth=ex_birth)


def _ids(c: _Ctx, st: _Students, plan: _Plan, x: _Extras) -> _Ids:
    """IDs and names for everybody; the registry's spelling of them (DQ01, DQ02, NO_ID student numbers)."""
    rng, N, picks, birth, male = c.rng, c.N, plan.picks, st.birth, st.male
    all_region = np.concatenate([st.region, x.ex["region"].to_numpy(dtype=np.int64)])
    all_birth = np.concatenate([birth, x.birth])
    all_male = np.concatenate([male, x.male])
    true_id = build_ids(rng, all_region, all_birth, all_male)
    all_names = nm.full_names(rng, all_male)
    st_id, ex_id = true_id[:N].copy(), true_id[N:]
    st_name, ex_name = all_names[:N], all_names[N:]
    noid = picks["NO_ID"]
    st_id[noid] = ""

    reg_id = _corrupt_ids(st_id, picks["DQ01"])
    student_no = np.where(reg_id != "", "G" + reg_id.astype(str), "").astype(object)
    half = np.arange(len(noid)) % 2 == 0
    jnos = ids_from_first17(int(c.district) * 10 ** 11 + (_ymd(birth[noid])[0] * 10000 + 101) * 1000
                            + rng.integers(0, 1000, len(noid)))
    lnos = pd.Series(rng.integers(10 ** 15, 10 ** 16, len(noid))).astype(str).to_numpy(dtype=object)
    student_no[noid] = np.where(half, "J" + pd.Series(jnos, dtype=object).astype(str), "L" + pd.Series(lnos).astype(str))

    reg_birth = birth.copy()
    reg_male = male.copy()
    d2 = picks["DQ02"]
    gflip = np.arange(len(d2)) % 2 == 0
    reg_male[d2[gflip]] = ~male[d2[gflip]]
    bd = d2[~gflip]
    shift = rng.integers(3, 21, len(bd)).astype("timedelta64[D]")
    cand = birth[bd] + shift
    same = age_on(cand, c.ref) == age_on(birth[bd], c.ref)
    reg_birth[bd] = np.where(same, cand, birth[bd] - shift)
    return _Ids(true_id=true_id, st_id=st_id, ex_id=ex_id, st_name=st_name, ex_name=ex_name, reg_id=reg_id,
                student_no=student_no, reg_birth=reg_birth, reg_male=reg_male)


def _corrupt_ids(st_id: np.ndarray, d1: np.ndarray) -> np.ndarray:
    """The registry's IDs: DQ01 plants get a wrong check digit, an impossible month or 17 digits (no rng)."""
    reg_id = st_id.copy()
    if len(d1):
        s = pd.Series(st_id[d1], dtype=object).astype(str)
        kind = np.arange(len(d1)) % 3
        chars = idnumber.CHECK_CHARS
        wrong_cd = s.str.slice(0, 17) + pd.Series(
            [chars[(chars.index(c) + 3) % 11] for c in s.str.slice(17)], dtype=object)
        bad_mm = (s.str.slice(10, 12).astype(int) + 12).astype(str)  # months 13..24: invalid, still unique
        bad17 = (s.str.slice(0, 10) + bad_mm + s.str.slice(12, 17)).astype(np.int64).to_numpy()
        wrong_date = pd.Series(ids_from_first17(bad17), dtype=object)
        wrong_len = s.str.slice(0, 17)
        reg_id[d1] = np.where(kind == 0, wrong_cd, np.where(kind == 1, wrong_date, wrong_len))
    return reg_id


def _registry(c: _Ctx, sch: _Schools, st: _Students, plan: _Plan, ids: _Ids) -> _Registry:
    """One registry record per student, plus the second records some plants need, in registry file order."""
    rng, N, district, picks = c.rng, c.N, c.district, plan.picks
    status = np.full(N, ACTIVE, dtype=object)
    status[picks["SD3"]] = OUT
    status[picks["SD3_RECEIVED"]] = OUT
    status[picks["SD4"]] = DROP
    status[picks["EX_GRADUATED"]] = GRAD
    dth = picks["EX_DEATH"]
    status[dth[np.arange(len(dth)) % 2 == 0]] = DEAD
    exm = picks["EX_EXEMPT"]
    status[exm[np.arange(len(exm)) % 2 == 0]] = SUSP
    ea = picks["EX_AGE"]
    status[ea[np.arange(len(ea)) % 2 == 0]] = DROP
    rec_code = sch.s_code[st.school].copy()
    rec_name = sch.s_name[st.school].copy()
    rec_town = sch.s_town[st.school].copy()
    d8 = picks["DQ08"]
    d8s = d8[np.arange(len(d8)) % 2 == 0]
    d8t = d8[np.arange(len(d8)) % 2 == 1]
    rec_code[d8s] = [refmod.school_code(district, 9900 + int(i) % 99) for i in st.school[d8s]]
    rec_name[d8s] = [f"{sch.tname[t]}新建学校" for t in rec_town[d8s]]
    rec_town[d8t] = f"{district}999"
    fam = pd.Series(ids.st_name).str.slice(0, 1).to_numpy(dtype=object)
    g_male = rng.random(N) < 0.6
    g_fam = np.where(g_male, fam, nm.surnames(rng, N))
    guardian = nm.full_names(rng, g_male, g_fam, adult=True)
    phone = _phones(rng, N)
    ref, reg_grade = c.ref, plan.reg_grade
    ent_year = ref.year - (reg_grade - np.where((reg_grade >= 7) & (plan.smin_st == 7), 7, 1)) - st.repeater
    enrolled = np.array([f"{y}-09-01" for y in range(ref.year - 12, ref.year + 2)], dtype="datetime64[D]")[
        ent_year - (ref.year - 12)]
    reg = pd.DataFrame({
        "sid": np.arange(N), "student_no": ids.student_no, "id_number": ids.reg_id, "name": ids.st_name,
        "male": ids.reg_male, "birth": ids.reg_birth, "school_code": rec_code, "school_name": rec_name,
        "grade": reg_grade, "cls": st.cls + 1, "status": status, "status_word": "", "enrolled_on": enrolled,
        "hukou_region_code": st.region.astype(str), "township_code": rec_town, "is_poverty_family": st.poverty,
        "is_left_behind": st.left_behind, "is_migrant": st.migrant, "is_disabled": st.disabled,
        "disability_grade": st.dis_grade, "is_in_difficulty": st.difficulty, "guardian_name": guardian,
        "guardian_phone": phone, "order": st.school.astype(np.int64), "plant": plan.plant,
    })
    reg = _second_records(c, sch, plan, reg)
    reg = reg.sort_values(["order", "grade", "cls", "sid"], kind="stable").reset_index(drop=True)
    reg["id_norm"] = reg["id_number"]  # generated IDs are already normalised (dirty spellings come at write time)
    reg.loc[reg["plant"] == "G_ONLY", "id_number"] = ""  # the ID cell is blank; the child is known by 'G' + ID
    reg["person_key"] = np.where(reg["id_norm"] != "", reg["id_norm"], reg["student_no"])
    st_pkey = np.where(ids.reg_id != "", ids.reg_id, ids.student_no).astype(object)
    return _Registry(reg=reg, rec_code=rec_code, rec_town=rec_town, st_pkey=st_pkey)


def _second_records(c: _Ctx, sch: _Schools, plan: _Plan, reg: pd.DataFrame) -> pd.DataFrame:
    """Received transfers (转入 at the new school), DQ04 duplicates and the SD6 plants' grade-6 毕业 records."""
    rng, picks, alt, primary = c.rng, plan.picks, plan.alt, plan.primary
    s_code, s_name, s_town = sch.s_code, sch.s_name, sch.s_town
    extra_recs = []
    rcv = picks["SD3_RECEIVED"]
    if len(rcv):
        r = reg.iloc[rcv].copy()
        b = alt[rcv]
        r["school_code"], r["school_name"], r["township_code"] = s_code[b], s_name[b], s_town[b]
        r["status"], r["status_word"], r["order"] = ACTIVE, "转入", b
        extra_recs.append(r)
    dup = picks["DQ04"]
    if len(dup):
        r = reg.iloc[dup].copy()
        b = alt[dup]
        r["school_code"], r["school_name"], r["township_code"] = s_code[b], s_name[b], s_town[b]
        r["student_no"] = "L" + pd.Series(rng.integers(10 ** 15, 10 ** 16, len(dup))).astype(str).to_numpy()
        r["order"] = b
        extra_recs.append(r)
    s6 = picks["SD6"]
    if len(s6):  # their only record: 毕业 at grade 6 of their primary school
        b = primary[s6]
        reg.loc[s6, ["school_code", "school_name", "township_code"]] = np.column_stack(
            [s_code[b], s_name[b], s_town[b]])
        reg.loc[s6, "grade"], reg.loc[s6, "status"], reg.loc[s6, "order"] = 6, GRAD, b
    s6e = picks["SD6_ENROLLED"]
    if len(s6e):  # the grade-6 record 毕业 stays next to the new grade-7 record (same student number)
        r = reg.iloc[s6e].copy()
        b = primary[s6e]
        r["school_code"], r["school_name"], r["township_code"] = s_code[b], s_name[b], s_town[b]
        r["grade"], r["status"], r["order"] = 6, GRAD, b
        extra_recs.append(r)
    return pd.concat([reg, *extra_recs], ignore_index=True)


def _census(c: _Ctx, sch: _Schools, st: _Students, plan: _Plan, x: _Extras, ids: _Ids) -> pd.DataFrame:
    """The census (户籍人口): local students (not NO_ID or DQ01 plants) and the census-only extras but DQ06."""
    rng, N, X, plant, ex = c.rng, c.N, x.X, plan.plant, x.ex
    in_census = (~st.migrant) & (plant != "NO_ID") & (plant != "DQ01")
    st_res = np.where(rng.random(N) < c.rates.census_away, "外出", "在户").astype(object)
    st_res[plan.picks["EX_DEATH"]] = "死亡"
    villages = {t: refmod._villages(np.random.default_rng([int(c.seed), int(t)]), c.info["village_suffix"], 10)
                for t in sorted(set(sch.s_town) | set(c.towns["township_code"]))}
    cen = pd.DataFrame({
        "pid": np.concatenate([np.arange(N)[in_census], N + np.arange(X)]),
        "id_number": np.concatenate([ids.st_id[in_census], ids.ex_id]),
        "name": np.concatenate([ids.st_name[in_census], ids.ex_name]),
        "male": np.concatenate([st.male[in_census], x.male]),
        "birth": np.concatenate([st.birth[in_census], x.birth]),
        "township_code": np.concatenate([sch.s_town[st.school][in_census], ex["township"].to_numpy(dtype=object)]),
        "residence": np.concatenate([st_res[in_census], ex["residence"].to_numpy(dtype=object)]),
        "is_disabled": np.concatenate([st.disabled[in_census], np.zeros(X, bool)]),
        "disability_grade": np.concatenate([st.dis_grade[in_census], np.full(X, "", dtype=object)]),
        "is_poverty_family": np.concatenate([st.poverty[in_census], rng.random(X) < c.rates.poverty]),
        "plant": np.concatenate([plant[in_census], ex["plant"].to_numpy(dtype=object)]),
    })
    cen = cen[cen["plant"] != "DQ06"].reset_index(drop=True)
    vidx = rng.integers(0, 10, len(cen))
    vnames = np.array([villages[t] for t in sorted(villages)], dtype=object)
    tpos = {t: i for i, t in enumerate(sorted(villages))}
    vil = pd.Series(vnames[cen["township_code"].map(tpos).to_numpy(), vidx], dtype=object).astype(str)
    cen["village"] = np.where(vil.str.endswith("村"), vil + "委会", vil + "村").astype(object)
    return cen.sort_values(["township_code", "village", "birth", "pid"], kind="stable").reset_index(drop=True)


def _chunks(c: _Ctx, sch: _Schools) -> tuple[np.ndarray, int, np.ndarray]:
    """Attendance file chunks: chunk 0 = school 0 alone (student_no), then id chunks, then student_no chunks.
    Returns (chunk of each school, number of chunks, key of each chunk)."""
    S, s_key = sch.S, sch.s_key
    C = min(S, max(4, math.ceil(7 / len(c.periods)), math.ceil(c.N / 100000) + 1))
    id_sch = np.flatnonzero(s_key == "id_number")
    sn_sch = np.flatnonzero((s_key == "student_no") & (np.arange(S) > 0))
    k_id = min(len(id_sch), math.ceil((C - 1) / 2))
    k_sn = min(len(sn_sch), C - 1 - k_id)
    s_chunk = np.zeros(S, np.int64)
    if k_id:
        s_chunk[id_sch] = 1 + np.arange(len(id_sch)) * k_id // len(id_sch)
    if k_sn:
        s_chunk[sn_sch] = 1 + k_id + np.arange(len(sn_sch)) * k_sn // len(sn_sch)
    elif len(sn_sch):
        s_chunk[sn_sch] = 0
    return s_chunk, 1 + k_id + k_sn, np.array(["student_no"] + ["id_number"] * k_id + ["student_no"] * k_sn)


def _entities(c: _Ctx, sch: _Schools, st: _Students, plan: _Plan, x: _Extras, ids: _Ids, r: _Registry) -> _Entities:
    """Who is on a roll call, at which school and under which key (the DQ06 extras included)."""
    rng, N, S, plant, s_code = c.rng, c.N, sch.S, plan.plant, sch.s_code
    s_chunk, n_chunks, chunk_key = _chunks(c, sch)
    # absence-only: planted SD5 children are on the roll and absent unexcused on every school day (_rollcall)
    noatt = tuple(n for n in NOATT if not (c.absence_only and n == "SD5"))
    att = np.flatnonzero(~np.isin(plant, noatt))
    e_school = st.school[att].copy()
    recv_mask = np.isin(plant[att], ["SD3_RECEIVED", "OTHER_SCHOOL"])
    e_school[recv_mask] = plan.alt[att][recv_mask]
    e_code = s_code[e_school].astype(object)
    e_code[plant[att] == "DQ08"] = r.rec_code[att][plant[att] == "DQ08"]
    e_pid = att.copy()
    e_sno = ids.student_no[att]
    e_idraw = ids.reg_id[att]
    # DQ06 extras
    ex_id = ids.ex_id
    x6 = np.flatnonzero(x.ex["plant"].to_numpy() == "DQ06")
    x6_school = rng.integers(0, S, len(x6))
    x6_sno = np.where(np.arange(len(x6)) % 2 == 0, "G" + pd.Series(ex_id[x6], dtype=object).astype(str),
                      "L" + pd.Series(rng.integers(10 ** 15, 10 ** 16, len(x6))).astype(str)).astype(object)
    e_school = np.concatenate([e_school, x6_school])
    e_code = np.concatenate([e_code, s_code[x6_school]])
    e_pid = np.concatenate([e_pid, N + x6])
    e_sno = np.concatenate([e_sno, x6_sno])
    e_idraw = np.concatenate([e_idraw, ex_id[x6]])
    eo = np.lexsort((e_pid, e_school))
    e_school, e_code, e_pid, e_sno, e_idraw = (a[eo] for a in (e_school, e_code, e_pid, e_sno, e_idraw))
    e_chunk = s_chunk[e_school]
    e_keytype = chunk_key[e_chunk]
    e_key_raw = np.where(e_keytype == "student_no", e_sno, dirty_ids(e_idraw, rng, c.rates.id_dirty)).astype(object)
    e_key = np.where(e_keytype == "student_no", e_sno, e_idraw).astype(object)
    pkey_all = np.concatenate([r.st_pkey, ex_id.astype(object)])
    e_pkey = pkey_all[e_pid].copy()
    is_x6 = e_pid >= N
    e_pkey[is_x6] = e_key[is_x6]
    return _Entities(n_chunks=n_chunks, chunk_key=chunk_key, e_chunk=e_chunk, e_code=e_code, e_pid=e_pid,
                     e_keytype=e_keytype, e_key_raw=e_key_raw, e_key=e_key, pkey_all=pkey_all, e_pkey=e_pkey)


def _rollcall(c: _Ctx, st: _Students, plan: _Plan, ent: _Entities, reg: pd.DataFrame) -> _RollCall:
    """The roll-call matrix: background absences, then each planted pattern; dates the 转出 records of ``reg``."""
    rc = _RollCall(codes=_background(c, len(ent.e_pid)), pos_of=pd.Series(np.arange(len(ent.e_pid)), index=ent.e_pid))
    rc.e1 = _plant_sd1(c, plan, rc)
    rc.ec = _plant_sd1_cross(c, plan, rc)
    _plant_graduates_and_sd2(c, plan, rc)
    stop = _plant_sd3(c, plan, rc)
    _date_transfers(c, plan, ent, rc, reg, stop)
    e5 = _ents(rc, plan, "SD5_MONTH")
    if len(e5):
        mi = c.rng.integers(0, len(c.periods), len(e5))
        for i, p in enumerate(c.periods):
            sel = e5[mi == i]
            rc.codes[sel, c.msl[p]] = NOROW
            for e in sel:
                rc.plan_month[int(e)] = p
    if c.absence_only:
        e5all = _ents(rc, plan, "SD5")
        if len(e5all):
            rc.codes[e5all] = UNEX
        rc.codes[rc.codes == P] = NOROW  # only the non-present rows are delivered (and exist for the truth)
    return rc


def _ents(rc: _RollCall, plan: _Plan, name: str) -> np.ndarray:
    """The roll-call rows of the students planted with ``name``."""
    picks = plan.picks
    return rc.pos_of.loc[picks[name]].to_numpy() if len(picks[name]) else np.array([], np.int64)


def _background(c: _Ctx, E: int) -> np.ndarray:
    """Normal absences: never two consecutive unexcused days, at most 4 in a month, and present on one of the
    first 10 school days of every term (so nobody is an SD1/SD2 case by chance)."""
    rng, rates, D = c.rng, c.rates, c.D
    codes = np.zeros((E, D), np.int8)
    p_all = rates.sick + rates.personal + rates.unexcused
    if E and p_all > 0:
        K = int(rng.binomial(E * D, min(p_all, 1.0)))
        flat = rng.integers(0, E * D, K)
        kinds = rng.choice(np.array([SICK, PERS, UNEX], np.int8), K,
                           p=np.array([rates.sick, rates.personal, rates.unexcused]) / p_all)
        codes.reshape(-1)[flat] = kinds
    u = codes == UNEX
    codes[:, 1:][u[:, 1:] & u[:, :-1]] = P
    for p in c.periods:
        sl = c.msl[p]
        blk = codes[:, sl]
        cs = np.cumsum(blk == UNEX, axis=1)
        blk[(cs > 4) & (blk == UNEX)] = P
    ar = np.arange(E)
    for t, (a, b) in c.terms.items():
        codes[ar, a + rng.integers(0, min(10, b - a + 1), E)] = P
    return codes


def _plant_sd1(c: _Ctx, plan: _Plan, rc: _RollCall) -> np.ndarray:
    """SD1 in one month: a run of 3-5 unexcused days, or (long months) the count type: 10 unexcused days."""
    rng, periods, msl, codes = c.rng, c.periods, c.msl, rc.codes
    e1 = _ents(rc, plan, "SD1")
    if len(e1):
        nd = np.array([msl[p].stop - msl[p].start for p in periods])
        m_ok = [i for i, n in enumerate(nd) if n >= 6]
        mi = rng.choice(np.array(m_ok), len(e1))
        count_type = (nd[mi] >= 17) & (rng.random(len(e1)) < 0.4)
        m0 = np.array([msl[periods[i]].start for i in mi])
        for e, i in zip(e1, mi):
            rc.plan_month[int(e)] = periods[i]
        codes[e1, m0] = P
        # run type
        rt = ~count_type
        L = rng.integers(3, 6, int(rt.sum()))
        L = np.minimum(L, nd[mi][rt] - 1)
        st = 1 + (rng.random(int(rt.sum())) * (nd[mi][rt] - L)).astype(np.int64)
        rows = np.repeat(e1[rt], L)
        off = np.arange(L.sum()) - np.repeat(np.cumsum(L) - L, L)
        codes[rows, np.repeat(m0[rt] + st, L) + off] = UNEX
        # count type: pattern u u p from the second school day of the month
        pat = np.array([1, 2, 4, 5, 7, 8, 10, 11, 13, 14])
        ct = np.flatnonzero(count_type)
        if len(ct):
            shift = (rng.random(len(ct)) * (nd[mi][ct] - 15)).astype(np.int64)
            codes[np.repeat(e1[ct], 10), (m0[ct] + shift)[:, None].repeat(10, 1).ravel() + np.tile(pat, len(ct))] = UNEX
    return e1


def _plant_sd1_cross(c: _Ctx, plan: _Plan, rc: _RollCall) -> np.ndarray:
    """SD1 across a month end: the run reaches its 3rd day on the next month's first school day."""
    periods, msl, codes = c.periods, c.msl, rc.codes
    ec = _ents(rc, plan, "SD1_CROSS")
    pairs = [i for i in range(len(periods) - 1)
             if msl[periods[i]].stop - msl[periods[i]].start >= 4 and msl[periods[i + 1]].start == msl[periods[i]].stop
             and msl[periods[i + 1]].stop - msl[periods[i + 1]].start >= 2]
    if len(ec) and pairs:
        for e, i in zip(ec, c.rng.choice(np.array(pairs), len(ec))):
            last = msl[periods[i]].stop
            codes[e, last - 3], codes[e, last - 2:last + 1], codes[e, last + 1] = P, UNEX, P
    return ec


def _plant_graduates_and_sd2(c: _Ctx, plan: _Plan, rc: _RollCall) -> None:
    """Graduates of grade 9 still on a roll call: a 4-day unexcused run in the first month (SD1, excluded).
    SD2: personal leave on a term's first 10 school days, present on the 11th."""
    codes = rc.codes
    eg = _ents(rc, plan, "EX_GRADUATED")
    if len(eg):
        first = c.msl[c.periods[0]]
        run_days = np.arange(first.start + 1, min(first.start + 5, first.stop))
        codes[np.ix_(eg, run_days)] = UNEX
    e2 = _ents(rc, plan, "SD2")
    if len(e2):
        tch = c.rng.choice(np.array(plan.sd2_terms, dtype=object), len(e2))
        for t in plan.sd2_terms:
            sel = e2[tch == t]
            a = c.terms[t][0]
            codes[sel, a:a + 10] = PERS
            codes[sel, a + 10] = P


def _plant_sd3(c: _Ctx, plan: _Plan, rc: _RollCall) -> np.ndarray:
    """SD3: rows stop after a day in the first ~60% (not within the last 3 days of a month), or there are none.
    Returns each SD3 row's last day (-1: no rows)."""
    days, D = c.days, c.D
    e3 = _ents(rc, plan, "SD3")
    stop = np.array([], np.int64)
    if len(e3):
        ok_days = [i for i, d in enumerate(days) if 12 <= i <= max(12, int(D * 0.6))
                   and (pd.Timestamp(d) + pd.offsets.MonthEnd(0)).date().day - d.day >= 3]
        stop = np.where((c.rng.random(len(e3)) < 0.35) | (not ok_days), -1,
                        c.rng.choice(np.array(ok_days or [0]), len(e3)))
        mask = np.arange(D)[None, :] > stop[:, None]
        sub = rc.codes[e3]
        sub[mask] = NOROW
        rc.codes[e3] = sub
    return stop


def _date_transfers(c: _Ctx, plan: _Plan, ent: _Entities, rc: _RollCall, reg: pd.DataFrame, stop: np.ndarray) -> None:
    """The transfer dates (变动日期) of the 转出 records: the day after an SD3 child's last roll-call day; before
    the range for those never on a roll call and for received transfers (no rng: other draws stay put). Also
    which registry file holds each record (writers.registry_chunks), and whether that file has the column."""
    transfer = np.full(c.N, np.datetime64("NaT"), dtype="datetime64[D]")
    for name, lo in (("SD3", 7), ("SD3_RECEIVED", 3)):
        sids = plan.picks[name]
        transfer[sids] = np.datetime64(c.start) - (lo + sids % 50).astype("timedelta64[D]")
    e3 = _ents(rc, plan, "SD3")
    if len(e3):
        moved = stop >= 0
        transfer[ent.e_pid[e3][moved]] = c.days64[stop[moved]] + np.timedelta64(1, "D")
    reg["change_date"] = np.where(reg["status"].to_numpy() == OUT,
                                  transfer[reg["sid"].to_numpy(dtype=np.int64)], np.datetime64("NaT"))
    file_no = np.zeros(len(reg), np.int64)
    for i, (a, b) in enumerate(wr.registry_chunks(reg)):
        file_no[a:b] = i
    reg["change_col"] = [wr.has_change_date(int(i)) for i in file_no]


def _exemptions(c: _Ctx, plan: _Plan, x: _Extras, ids: _Ids) -> pd.DataFrame:
    """休学 approvals in force (EX_EXEMPT) or expired (EX_EXPIRED), 延缓入学 for census children (EX_DEFERRAL)."""
    rng, N, picks, st_id = c.rng, c.N, plan.picks, ids.st_id
    ex_rows = []
    approver = c.info["short"] + ("教育局" if c.district == "411003" else "教育体育局")
    periods = c.periods
    mid_period = periods[len(periods) // 2] if len(periods) > 1 else periods[0]
    mid_day = np.datetime64(f"{mid_period}-15")
    start64, end64 = np.datetime64(c.start), np.datetime64(c.end)

    def exemption(pids, ids, kind, approved, until, reasons):
        if len(pids):
            ex_rows.append(pd.DataFrame({"pid": pids, "id_number": ids, "kind": kind, "approved_on": approved,
                                         "valid_until": until, "reason": rng.choice(np.array(reasons), len(pids)),
                                         "approved_by": approver}))

    exm = picks["EX_EXEMPT"]
    n = len(exm)
    exemption(exm, st_id[exm], "休学", start64 - rng.integers(20, 200, n).astype("timedelta64[D]"),
              end64 + rng.integers(30, 200, n).astype("timedelta64[D]"), ["疾病治疗", "身体原因", "随父母外出就医"])
    xp = picks["EX_EXPIRED"]
    n = len(xp)
    early = np.arange(n) % 2 == 0
    until = np.where(early, start64 - rng.integers(10, 60, n).astype("timedelta64[D]"), mid_day)
    exemption(xp, st_id[xp], "休学", until - rng.integers(150, 300, n).astype("timedelta64[D]"), until,
              ["疾病治疗", "身体原因"])
    xd = np.flatnonzero(x.ex["plant"].to_numpy() == "EX_DEFERRAL")
    n = len(xd)
    until = np.where(np.arange(n) % 2 == 0, end64 + rng.integers(60, 200, n).astype("timedelta64[D]"), mid_day)
    exemption(N + xd, ids.ex_id[xd], "延缓入学", np.datetime64(c.ref) - rng.integers(10, 60, n).astype("timedelta64[D]"),
              until, ["身体发育迟缓", "疾病治疗"])
    exem = pd.concat(ex_rows, ignore_index=True) if ex_rows else pd.DataFrame(
        columns=["pid", "id_number", "kind", "approved_on", "valid_until", "reason", "approved_by"])
    return exem.sort_values(["approved_on", "pid"], kind="stable").reset_index(drop=True)


def _home_teaching(c: _Ctx, plan: _Plan, ids: _Ids) -> pd.DataFrame:
    """送教上门 visits: the first month compliant, later months 70% compliant."""
    rng, days64 = c.rng, c.days64
    hts = plan.picks["HT"]
    vis = []
    teachers = nm.full_names(rng, rng.random(len(hts)) < 0.3, adult=True)
    for i, p in enumerate(c.periods):
        sl = c.msl[p]
        nd = sl.stop - sl.start
        if not len(hts) or nd == 0:
            continue
        comp = (rng.random(len(hts)) < 0.7) | (i == 0)
        kind = rng.integers(0, 3, len(hts))
        nv = np.where(comp, rng.integers(2, 4, len(hts)), np.where(kind == 0, 0, np.where(kind == 1, 1, 2)))
        nv = np.minimum(nv, nd)
        keys = rng.random((len(hts), nd)).argsort(1)
        for j in range(3):
            has = nv > j
            if not has.any():
                continue
            hrs = np.where(comp, rng.choice(np.array([3.0, 3.0, 4.0]), len(hts)), 3.0)
            hrs = np.where((~comp) & (kind == 2) & (j == 1), 2.0, hrs)
            vis.append(pd.DataFrame({"pid": hts[has], "visit_date": days64[sl.start + keys[has, j]],
                                     "class_hours": hrs[has], "teacher": teachers[has]}))
    visits = pd.concat(vis, ignore_index=True) if vis else pd.DataFrame(
        columns=["pid", "visit_date", "class_hours", "teacher"])
    visits = visits.sort_values(["visit_date", "pid"], kind="stable").reset_index(drop=True)
    visits["id_number"] = ids.st_id[visits["pid"].to_numpy(dtype=np.int64)] if len(visits) else []
    return visits


def _casework(c: _Ctx, sch: _Schools, st: _Students, plan: _Plan, ids: _Ids, rc: _RollCall) -> pd.DataFrame:
    """劝返记录: escalations (ESC) and persuasion among SD4/SD5 children, returns among SD1/SD5_MONTH children."""
    rng, picks, periods = c.rng, plan.picks, c.periods
    cw = []
    pool_esc = np.concatenate([picks["SD4"], picks["SD5"]])
    pool_ret = np.concatenate([picks["SD1"], picks["SD5_MONTH"]])
    esc = np.sort(rng.permutation(pool_esc)[:min(c.count("ESC"), len(pool_esc))])
    ret = np.sort(rng.permutation(pool_ret)[:min(c.count("RETURNED"), len(pool_ret))])
    rest = np.setdiff1d(pool_esc, esc)
    persu = np.sort(rng.permutation(rest)[: len(rest) // 2])
    methods = np.array(["上门", "电话", "联合劝返", "司法文书"])
    reasons = np.array(["厌学", "家庭经济困难", "外出务工", "疾病", "其他", "厌学"])
    start64, end64 = np.datetime64(c.start), np.datetime64(c.end)

    def attempts(pids, first, n_fail, returned, step_lo, step_hi):
        if not len(pids):
            return
        total = n_fail + returned.astype(np.int64)
        rows = np.repeat(np.arange(len(pids)), total)
        k = np.arange(total.sum()) - np.repeat(np.cumsum(total) - total, total)
        steps = rng.integers(step_lo, step_hi + 1, len(rows))
        steps[k == 0] = 0
        cum = pd.Series(steps).groupby(rows).cumsum().to_numpy()
        dates = first[rows] + cum.astype("timedelta64[D]")
        res = np.where(k < n_fail[rows], "未返校", "已返校")
        mth = methods[np.minimum(k, 3)]
        mth = np.where((k == 1) & (rng.random(len(rows)) < 0.5), "上门", mth)
        who = pids[rows]
        unit = np.where(k % 2 == 0, sch.s_name[st.school[who]],
                        pd.Series(sch.s_town[st.school[who]]).map(sch.tname).to_numpy() + "人民政府")
        reason = reasons[rng.integers(0, len(reasons), len(pids))][rows]
        cw.append(pd.DataFrame({"pid": who, "attempt_date": dates, "method": mth, "unit": unit, "result": res,
                                "dropout_reason": reason}))

    def first_days(n: int, within: int, spread_within: int) -> np.ndarray:
        """First attempts in the range's first ``within`` days; with a profile's spread_casework evenly over
        its first ``spread_within`` days (random order), so escalations (reached 12-27 days after the first
        attempt) and attempts fall in every month."""
        if not c.prof.spread_casework:
            return start64 + rng.integers(0, within, n).astype("timedelta64[D]")
        hi = max(within, spread_within)
        return start64 + (rng.permutation(n) * hi // max(n, 1)).astype("timedelta64[D]")

    span = int((end64 - start64).astype(np.int64))
    attempts(esc, first_days(len(esc), 8, span - 30), rng.integers(3, 5, len(esc)), np.zeros(len(esc), bool), 6, 9)
    attempts(persu, first_days(len(persu), 20, span - 15),
             rng.integers(1, 3, len(persu)), np.zeros(len(persu), bool), 5, 10)
    if len(ret):
        rfirst = np.array([np.datetime64(f"{rc.plan_month.get(int(rc.pos_of.loc[s]), periods[0])}-01") for s in ret]) \
            + rng.integers(3, 8, len(ret)).astype("timedelta64[D]")
        attempts(ret, rfirst, rng.integers(1, 4, len(ret)), np.ones(len(ret), bool), 2, 4)
    case = pd.concat(cw, ignore_index=True) if cw else pd.DataFrame(
        columns=["pid", "attempt_date", "method", "unit", "result", "dropout_reason"])
    case = case.sort_values(["attempt_date", "pid"], kind="stable").reset_index(drop=True)
    case["id_number"] = ids.st_id[case["pid"].to_numpy(dtype=np.int64)] if len(case) else []
    return case


def _ground_truth(c: _Ctx, plan: _Plan, x: _Extras, ids: _Ids, r: _Registry, ent: _Entities, rc: _RollCall,
                  reg: pd.DataFrame, cen: pd.DataFrame, exem: pd.DataFrame, visits: pd.DataFrame,
                  case: pd.DataFrame) -> pd.DataFrame:
    """The ground truth (truth.py), after checking that every planted SD1 run is found and nothing else."""
    from .truth import ground_truth  # noqa: PLC0415

    pkey_all, e_pid, picks = ent.pkey_all, ent.e_pid, plan.picks
    world = dict(
        N=c.N, periods=c.periods, msl=c.msl, days64=c.days64, terms=c.terms, ref=c.ref, reg=reg, cen=cen, exem=exem,
        visits=visits, case=case, codes=rc.codes, e_pid=e_pid, e_code=ent.e_code, e_key=ent.e_key,
        e_pkey=ent.e_pkey, e_keytype=ent.e_keytype, pkey_all=pkey_all, true_id=ids.true_id,
        plant_all=np.concatenate([plan.plant, x.ex["plant"].to_numpy(dtype=object)]),
        ref_schools=set(c.allschools["school_code"]), ref_towns=set(c.towns["township_code"]),
        st_sno=ids.student_no, st_town=r.rec_town, absence_only=c.absence_only, registry_as_of=c.end,
    )
    gt = ground_truth(world)
    e1, ec = rc.e1, rc.ec
    planted_sd1 = set(pkey_all[e_pid[np.concatenate([e1, ec])]]) if len(e1) + len(ec) else set()
    got_sd1 = set(gt.loc[gt["case"] == "SD1", "person_key"])
    got_sd1 |= set(gt.loc[(gt["case"] == "EXCLUDED") & gt["detail"].str.startswith("SD1 "), "person_key"])
    got_sd1 -= set(pkey_all[picks["EX_GRADUATED"]])  # their planted run is excluded (毕业 from grade 9)
    if c.absence_only:  # planted SD5 children are absent unexcused every school day: SD1 unless excluded
        got_sd1 -= set(pkey_all[picks["SD5"]])
    if planted_sd1 != got_sd1:
        raise RuntimeError(f"SD1 construction broken: planted {len(planted_sd1)}, found {len(got_sd1)}")
    return gt


def _write(c: _Ctx, reg: pd.DataFrame, cen: pd.DataFrame, exem: pd.DataFrame, visits: pd.DataFrame,
           case: pd.DataFrame, ent: _Entities, rc: _RollCall, gt: pd.DataFrame, changes_plan: Any) -> Meta:
    """Landing files, reference files, ground_truth.csv and meta.json."""
    out, periods, days, end = c.out, c.periods, c.days, c.end
    out.mkdir(parents=True, exist_ok=True)
    files: list[dict] = []
    w = wr.Writer(out, c.district, c.info["short"], c.seed, c.rates.id_dirty, c.real_shapes)
    files += w.registry(reg, end, periods)
    _tick("write registry")
    files += w.census(cen, end, periods)
    _tick("write census")
    files += w.attendance(rc.codes, days, periods, c.msl, ent.e_chunk, ent.n_chunks, ent.chunk_key, ent.e_key_raw,
                          ent.e_code)
    _tick("write attendance")
    files += w.small("casework", case, "劝返记录", periods)
    files += w.small("exemptions", exem, "延缓入学休学", periods)
    files += w.small("home_teaching", visits, "送教上门", periods)
    files.append(_write_reference(c))
    if changes_plan is not None:
        files += w.registry(changes_plan.old_reg, changes_plan.old_date, periods)
        changes_plan.write_truth(out)
    gt.to_csv(out / "ground_truth.csv", index=False, lineterminator="\n")
    meta = Meta(
        district=c.district, district_name=c.info["city"] + c.info["name"], students=c.N, seed=int(c.seed),
        start=c.start.isoformat(), end=end.isoformat(), reference_date=c.ref.isoformat(), periods=periods,
        term_first_days={t: days[a].isoformat() for t, (a, b) in c.terms.items()}, school_days=c.D,
        schools=len(c.schools), files=files,
        case_counts={k: int(v) for k, v in gt["case"].value_counts().sort_index().items()},
        rates=dataclasses.asdict(c.rates), attendance=c.attendance, profile=c.profile,
    )
    (out / "meta.json").write_text(meta.to_json() + "\n", encoding="utf-8")
    _tick("write rest")
    return meta


def _write_reference(c: _Ctx) -> dict:
    """reference/: townships, schools and the school calendar; returns the calendar's meta.json entry."""
    refdir = c.out / "reference"
    refdir.mkdir(exist_ok=True)
    c.towns.to_csv(refdir / "townships.csv", index=False, lineterminator="\n")
    rs = c.allschools.copy()
    rs["is_rural"] = rs["is_rural"].map({True: "true", False: "false"})
    rs.sort_values("school_code").to_csv(refdir / "schools.csv", index=False, lineterminator="\n")
    # the district's school days over the generated range (every school: no school_code): the school days of
    # absence-only mode and, in both modes, the term starts of SD2 (kongchuo.terms)
    pd.DataFrame({"date": [d.isoformat() for d in c.days]}).to_csv(
        refdir / CALENDAR_FILE, index=False, lineterminator="\n", encoding="utf-8")
    return {"source": "reference", "path": f"reference/{CALENDAR_FILE}", "format": "csv-utf8", "date_style": "iso",
            "encoding": "utf-8", "rows": c.D, "periods": c.periods}
