"""Hand-built children for tests/test_hand_worked.py: what each child's extracts say, and the files they make.

Everything here is synthetic and written by hand from shared/DESIGN.md, independently of the generator and of
the rule SQL. A child is a few registry records, a roll call per month (one letter per school day), perhaps a
census row, an exemption and home-teaching visits. The expected outcomes live in the test file, one line per
child; this module only builds inputs.

Calendar (reference/school_calendar.csv, rows without a school code, so it applies to every school): the
autumn term starts Tuesday 2026-09-01; school days are the weekdays of September and October 2026 except the
National Day holiday 10-01 … 10-07, plus the make-up Saturday 10-10 (调休上课). Roll-call patterns are written
week by week, separated by spaces:

    September: "PPPP PPPPP PPPPP PPPPP PPP"   Tue 1–Fri 4 | 7–11 | 14–18 | 21–25 | Mon 28–Wed 30  (22 days)
    October:   "PPP PPPPP PPPPP PPPPP"        Thu 8–Sat 10 | 12–16 | 19–23 | 26–30                (18 days)

Letters: P 出勤 present, U 旷课 unexcused, S 病假 sick leave, L 事假 personal leave, - no roll-call row that
day. A month given as None has no rows at all. The term's first 10 school days are 09-01 … 09-14.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from kongchuo.idnumber import check_digit

DISTRICT = "411003"
D = dt.date


@dataclass(frozen=True)
class School:
    code: str
    name: str
    township: str


# From the bundled reference data (kongchuo/reference/schools.csv, district 411003).
P1 = School("2410030001", "建安区新元实验小学", "411003001")
P2 = School("2410030002", "建安区新元第一小学", "411003001")
M1 = School("2410030005", "建安区新元初级中学", "411003001")
P3 = School("2410030008", "建安区长村张实验小学", "411003002")
SCHOOLS = (P1, P2, M1, P3)

TERM_START = D(2026, 9, 1)
NATIONAL_DAY = (D(2026, 10, 1), D(2026, 10, 7))
MAKE_UP_SATURDAY = D(2026, 10, 10)
MONTHS = {"2026-09": (D(2026, 9, 1), D(2026, 9, 30)), "2026-10": (D(2026, 10, 1), D(2026, 10, 31))}
ALL_PRESENT = {"2026-09": "PPPP PPPPP PPPPP PPPPP PPP", "2026-10": "PPP PPPPP PPPPP PPPPP"}
STATUS = {"P": "出勤", "U": "旷课", "S": "病假", "L": "事假"}


def school_days(period: str) -> list[dt.date]:
    start, end = MONTHS[period]
    days = (start + dt.timedelta(n) for n in range((end - start).days + 1))
    return [d for d in days
            if d == MAKE_UP_SATURDAY or (d.weekday() < 5 and not NATIONAL_DAY[0] <= d <= NATIONAL_DAY[1])]


def week_sizes(period: str) -> list[int]:
    sizes: dict[int, int] = {}
    for d in school_days(period):
        sizes[d.isocalendar().week] = sizes.get(d.isocalendar().week, 0) + 1
    return list(sizes.values())


def days_of(pattern: str, period: str) -> list[tuple[dt.date, str]]:
    """(date, letter) for each school day of ``period``; the pattern's week groups must match the calendar."""
    groups = pattern.split()
    if [len(g) for g in groups] != week_sizes(period):
        raise ValueError(f"pattern {pattern!r} does not fit the weeks {week_sizes(period)} of {period}")
    return list(zip(school_days(period), "".join(groups)))


@dataclass(frozen=True)
class Record:
    """One registry row. ``id_cell``: 'id' (the valid ID), 'blank', or 'typo' (wrong check digit).

    The registry lands twice: the 1 September snapshot (no change-date column) and the 15 October snapshot
    (with a 变动日期 column). ``oct_status``: the record's status on 15 October when it changed (else
    ``status``); ``changed_on``: its 变动日期 there (blank when None); ``from_october``: the record is new in
    the October snapshot (a 转入 at another school)."""

    school: School
    grade: int
    status: str  # 学籍状态 as exported: 在读 / 转出 / 转入 / 辍学 / 毕业 / 死亡
    id_cell: str = "id"
    oct_status: str | None = None
    changed_on: dt.date | None = None
    from_october: bool = False


@dataclass(frozen=True)
class Roll:
    """A child's roll call at one school, per month. ``keys``: which identifiers the rows carry."""

    school: School
    months: dict[str, str | None]
    keys: str = "both"  # both | student_no | id


@dataclass(frozen=True)
class Exemption:
    kind: str  # 延缓入学 / 休学
    approved_on: dt.date
    valid_until: dt.date


@dataclass(frozen=True)
class Child:
    label: str
    born: dt.date
    gender: str  # 男 / 女
    records: tuple[Record, ...] = ()
    rolls: tuple[Roll, ...] = ()
    census: str | None = None  # 居住状态: 在户 / 外出 / 迁出 / 死亡
    township: str = "411003001"  # census township
    exemption: Exemption | None = None
    home_visits: tuple[dt.date, ...] = ()
    disabled: bool = False
    seq: int = field(default=0, compare=False)

    @property
    def id_number(self) -> str:
        first17 = f"{DISTRICT}{self.born:%Y%m%d}{self.seq:02d}{1 if self.gender == '男' else 2}"
        return first17 + check_digit(first17)

    @property
    def typo_id(self) -> str:
        """The ID with a wrong check digit (a mistyped ID cell)."""
        right = self.id_number[-1]
        return self.id_number[:-1] + ("1" if right != "1" else "2")

    @property
    def student_no(self) -> str:
        return "G" + self.id_number

    @property
    def name(self) -> str:
        return SURNAMES[self.seq % len(SURNAMES)] + GIVEN[self.seq % len(GIVEN)]


SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = ("小明", "雨涵", "子轩", "欣怡", "浩然", "梓涵", "宇航", "思琪", "俊杰", "佳怡", "博文")


def pupil(label: str, born: dt.date, gender: str, school: School, grade: int, sep: str | None = "all",
          oct: str | None = "all", **more) -> Child:
    """An active (在读) pupil whose roll call is at its own school; "all" = present every school day."""
    months = {"2026-09": ALL_PRESENT["2026-09"] if sep == "all" else sep,
              "2026-10": ALL_PRESENT["2026-10"] if oct == "all" else oct}
    return Child(label, born, gender, (Record(school, grade, "在读"),), (Roll(school, months),), **more)


def present(school: School, keys: str = "both", sep: str | None = "all", oct: str | None = "all") -> Roll:
    return Roll(school, {"2026-09": ALL_PRESENT["2026-09"] if sep == "all" else sep,
                         "2026-10": ALL_PRESENT["2026-10"] if oct == "all" else oct}, keys)


NO_ROLL: tuple[Roll, ...] = ()
SUSPENSION_IN_FORCE = Exemption("休学", D(2026, 6, 20), D(2027, 1, 31))
SUSPENSION_ENDS_OCT15 = Exemption("休学", D(2026, 3, 1), D(2026, 10, 15))
DEFERRAL_IN_FORCE = Exemption("延缓入学", D(2026, 8, 15), D(2027, 8, 31))
DEFERRAL_ENDS_SEP15 = Exemption("延缓入学", D(2025, 8, 15), D(2026, 9, 15))

# The district whose roll call starts with the term (runs 2026-09 and 2026-10). Ages are full years on 2026-08-31.
_DISTRICT = [
    pupil("anchor_p1", D(2017, 3, 12), "男", P1, 4, census="在户"),
    pupil("anchor_p2", D(2018, 5, 20), "女", P2, 3, census="在户"),
    pupil("anchor_m1", D(2013, 4, 2), "男", M1, 8),
    pupil("anchor_p3", D(2016, 7, 9), "女", P3, 5, census="外出", township="411003002"),
    pupil("sd1_weekend", D(2016, 2, 14), "男", P1, 5, sep="PPPP PPPPP PPPPU UUPPP PPP"),
    pupil("sd1_pairs_broken", D(2017, 6, 1), "女", P1, 4, sep="PPPP PPPPP PUUPP UUSUP PPP"),
    pupil("sd1_ten_days", D(2015, 1, 23), "男", P2, 6, oct="UUP UUPUU PUUPU UPPPP"),
    pupil("sd1_nine_days", D(2015, 3, 30), "女", P2, 6, oct="UUP UUPUU PUUPU PPPPP"),
    pupil("sd1_month_end", D(2014, 8, 8), "男", M1, 7, sep="PPPP PPPPP PPPPP PPPPP PUU", oct="UPP PPPPP PPPPP PPPPP"),
    pupil("sd1_reached_in_sept", D(2014, 5, 5), "女", M1, 7, sep="PPPP PPPPP PPPPP PPPPP UUU",
          oct="UPP PPPPP PPPPP PPPPP"),
    pupil("sd1_makeup_saturday", D(2013, 9, 9), "男", M1, 7, oct="PUU UPPPP PPPPP PPPPP"),
    pupil("sd1_present_on_saturday", D(2013, 3, 13), "女", M1, 8, oct="PUP UPPPP PPPPP PPPPP"),
    pupil("sd2_rows_from_day11", D(2019, 3, 3), "男", P1, 2, sep="---- ----- -PPPP PPPPP PPP"),
    pupil("sd2_rows_no_presence", D(2019, 6, 16), "女", P1, 2, sep="UUSU USUUS UPPPP PPPPP PPP"),
    pupil("sd2_present_day10", D(2018, 1, 10), "男", P2, 3, sep="UUUU UUUUU PPPPP PPPPP PPP"),
    pupil("sd2_sd5_no_rows", D(2018, 11, 11), "女", P2, 2, sep=None, oct=None),
    Child("sd3_not_received", D(2016, 4, 4), "男", (Record(P2, 5, "转出"),), NO_ROLL, census="在户"),
    Child("sd3_received", D(2016, 10, 10), "女", (Record(P2, 4, "转出"), Record(P3, 4, "转入")), (present(P3),),
          census="在户", township="411003002"),
    # 在读 on 1 September; 转出 in the 15 October snapshot, with a 变动日期 (or without one)
    Child("sd3_changed_20_days", D(2016, 8, 18), "男", (Record(P1, 5, "在读", oct_status="转出",
                                                                changed_on=D(2026, 10, 11)),),
          (present(P1, oct="PPP ----- ----- -----"),)),
    Child("sd3_changed_40_days", D(2017, 2, 9), "女", (Record(P2, 4, "在读", oct_status="转出",
                                                               changed_on=D(2026, 9, 21)),),
          (present(P2, sep="PPPP PPPPP PPPPP ----- ---", oct=None),)),
    Child("sd3_snapshot_16_days", D(2018, 7, 30), "男", (Record(P1, 3, "在读", oct_status="转出"),),
          (present(P1, oct=None),)),
    Child("sd3_received_changed", D(2017, 10, 3), "女",
          (Record(P1, 4, "在读", oct_status="转出", changed_on=D(2026, 9, 18)),
           Record(P3, 4, "转入", from_october=True)),
          (present(P1, sep="PPPP PPPPP PPPPP ----- ---", oct=None),
           present(P3, sep="---- ----- ----- PPPPP PPP"))),
    Child("sd4_dropped", D(2012, 12, 12), "男", (Record(M1, 8, "辍学"),), NO_ROLL, census="在户"),
    pupil("sd5_gone_in_october", D(2017, 9, 19), "女", P3, 3, oct=None),
    pupil("all_unexcused_october", D(2015, 2, 25), "男", P3, 6, oct="UUU UUUUU UUUUU UUUUU"),
    Child("sd6_not_enrolled", D(2014, 2, 2), "男", (Record(P1, 6, "毕业"),), NO_ROLL, census="在户"),
    Child("sd6_enrolled", D(2014, 7, 7), "女", (Record(P1, 6, "毕业"), Record(M1, 7, "在读")), (present(M1),)),
    Child("grade9_graduate", D(2011, 3, 15), "男", (Record(M1, 9, "毕业"),), NO_ROLL, census="在户"),
    Child("grade9_graduate_absent", D(2011, 6, 6), "女", (Record(M1, 9, "毕业"),),
          (Roll(M1, {"2026-09": "UUUU UUUUU UUUUU UUUUU UUU", "2026-10": None}),)),
    pupil("suspension_in_force", D(2018, 4, 14), "男", P2, 3, sep=None, oct=None, exemption=SUSPENSION_IN_FORCE),
    pupil("suspension_ends_oct15", D(2017, 5, 25), "女", P2, 4, sep=None, oct=None,
          exemption=SUSPENSION_ENDS_OCT15),
    pupil("home_taught", D(2016, 3, 8), "男", P3, 5, sep=None, oct=None, disabled=True,
          home_visits=(D(2026, 9, 10), D(2026, 9, 24), D(2026, 10, 12), D(2026, 10, 26))),
    Child("deceased_registry", D(2015, 11, 30), "女", (Record(P1, 5, "死亡"),),
          (Roll(P1, {"2026-09": "UUUU UUUUU UUUUU UUUUU UUU", "2026-10": None}),)),
    pupil("deceased_census", D(2013, 10, 1), "男", M1, 7, sep=None, oct=None, census="死亡"),
    pupil("turns16_in_october", D(2010, 10, 15), "女", M1, 9, oct=None),
    pupil("aged16_before_term", D(2010, 5, 1), "男", M1, 9, sep=None, oct=None),
    pupil("leave_all_october", D(2017, 1, 1), "女", P3, 4, oct="SSS LLLLL SSSSS LLLLL"),
    Child("g_number_blank_id", D(2016, 6, 30), "男", (Record(P1, 5, "在读", "blank"),),
          (present(P1, "student_no"),), census="在户"),
    Child("g_number_roll_by_id", D(2017, 8, 8), "女", (Record(P2, 4, "在读", "blank"),), (present(P2, "id"),)),
    Child("g_number_typo_id", D(2015, 5, 15), "男", (Record(P3, 6, "在读", "typo"),), (present(P3, "student_no"),),
          census="在户", township="411003002"),
    Child("other_school", D(2016, 1, 20), "女", (Record(P1, 5, "在读"),), (present(P2),)),
    Child("two_active_records", D(2017, 7, 27), "男", (Record(P1, 4, "在读"), Record(P3, 4, "在读")), (present(P3),)),
    Child("oos_resident", D(2016, 5, 10), "男", census="在户"),
    Child("oos_away", D(2014, 3, 21), "女", census="外出", township="411003002"),
    Child("census_age5", D(2020, 9, 1), "男", census="在户"),
    Child("census_age6_exact", D(2020, 8, 31), "女", census="在户"),
    Child("census_age16", D(2010, 8, 31), "男", census="在户"),
    Child("census_age15_on_ref", D(2010, 9, 1), "女", census="在户"),
    Child("census_moved_out", D(2016, 12, 1), "男", census="迁出"),
    Child("census_deceased", D(2017, 4, 18), "女", census="死亡"),
    Child("oos_deferral_in_force", D(2020, 3, 3), "男", census="在户", exemption=DEFERRAL_IN_FORCE),
    Child("oos_deferral_ends_sep15", D(2019, 7, 7), "女", census="在户", exemption=DEFERRAL_ENDS_SEP15),
]

# A bureau whose first month on the system is October: the calendar still says the term began 09-01, the roll
# call delivered starts 10-08. Only 2026-10 is run. The first 10 school days of October are 10-08 … 10-20.
_LATE_START = [
    pupil("late_anchor", D(2017, 2, 2), "男", P1, 4, sep=None),
    pupil("late_leave_first10", D(2018, 3, 3), "女", P1, 3, sep=None, oct="SSS SSLLL SSPPP PPPPP"),
    pupil("late_unexcused_first10", D(2016, 4, 4), "男", P1, 5, sep=None, oct="UUU UUUUU UUPPP PPPPP"),
    pupil("late_no_rows", D(2019, 5, 5), "女", P1, 2, sep=None, oct=None),
    Child("late_oos_resident", D(2018, 6, 6), "男", census="在户"),
]


def numbered(children: list[Child], first: int) -> list[Child]:
    """Give each child its own sequence number (the ID's digits 15–16)."""
    from dataclasses import replace

    return [replace(c, seq=first + i) for i, c in enumerate(children)]


DISTRICT_CHILDREN = numbered(_DISTRICT, 1)
LATE_START_CHILDREN = numbered(_LATE_START, 60)


# --- files -----------------------------------------------------------------------------------------------

REGISTRY_HEADER = ["全国学籍号", "身份证件号", "姓名", "性别", "出生日期", "学校标识码", "学校名称", "年级", "学籍状态",
                   "乡镇代码", "残疾"]
ATTENDANCE_HEADER = ["全国学籍号", "身份证件号", "学校标识码", "日期", "考勤状态"]
CENSUS_HEADER = ["身份证号码", "姓名", "性别", "出生日期", "乡镇代码", "村(社区)", "居住状态"]
EXEMPTIONS_HEADER = ["身份证件号", "类型", "批准日期", "有效期至", "原因", "批准单位"]
HOME_TEACHING_HEADER = ["身份证件号", "送教日期", "课时", "送教教师"]


def registry_rows(children: list[Child], october: bool = False) -> list[list[str]]:
    """The 1 September snapshot's rows, or (``october``) the 15 October snapshot's, with a 变动日期 cell."""
    rows = []
    for c in children:
        for r in c.records:
            if r.from_october and not october:
                continue
            id_cell = {"id": c.id_number, "blank": "", "typo": c.typo_id}[r.id_cell]
            status = (r.oct_status or r.status) if october else r.status
            rows.append([c.student_no, id_cell, c.name, c.gender, c.born.isoformat(), r.school.code, r.school.name,
                         str(r.grade), status, r.school.township, "是" if c.disabled else "否"]
                        + ([r.changed_on.isoformat() if r.changed_on else ""] if october else []))
    return rows


def attendance_rows(children: list[Child], period: str) -> list[list[str]]:
    rows = []
    for c in children:
        for roll in c.rolls:
            pattern = roll.months.get(period)
            if pattern is None:
                continue
            student_no = c.student_no if roll.keys in ("both", "student_no") else ""
            id_number = c.id_number if roll.keys in ("both", "id") else ""
            rows += [[student_no, id_number, roll.school.code, day.isoformat(), STATUS[letter]]
                     for day, letter in days_of(pattern, period) if letter != "-"]
    return rows


def census_rows(children: list[Child]) -> list[list[str]]:
    return [[c.id_number, c.name, c.gender, c.born.isoformat(), c.township, "第一村", c.census]
            for c in children if c.census]


def exemption_rows(children: list[Child]) -> list[list[str]]:
    return [[c.id_number, e.kind, e.approved_on.isoformat(), e.valid_until.isoformat(), "身体原因", "建安区教育局"]
            for c in children if (e := c.exemption)]


def home_teaching_rows(children: list[Child], period: str) -> list[list[str]]:
    start, end = MONTHS[period]
    return [[c.id_number, v.isoformat(), "3", "送教老师"]
            for c in children for v in c.home_visits if start <= v <= end]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_calendar(home: Path) -> Path:
    days = school_days("2026-09") + school_days("2026-10")
    return write_csv(home / "reference" / "school_calendar.csv", ["date", "school_code"],
                     [[d.isoformat(), ""] for d in days])


def land_snapshots(home: Path, children: list[Child]) -> None:
    """The extracts of 1 September: registry and census snapshots, exemptions (all approvals)."""
    landing = home / "landing"
    write_csv(landing / "registry" / "学籍_20260901.csv", REGISTRY_HEADER, registry_rows(children))
    write_csv(landing / "census" / "户籍人口_20260901.csv", CENSUS_HEADER, census_rows(children))
    write_csv(landing / "exemptions" / "延缓入学休学_20260901.csv", EXEMPTIONS_HEADER, exemption_rows(children))


def land_october_registry(home: Path, children: list[Child]) -> None:
    """The registry snapshot of 15 October (every school again: it replaces the 1 September one), with the
    national system's 变动日期 column."""
    write_csv(home / "landing" / "registry" / "学籍_20261015.csv", REGISTRY_HEADER + ["变动日期"],
              registry_rows(children, october=True))


def land_month(home: Path, children: list[Child], period: str) -> None:
    """A month's roll call and home-teaching visits (what lands before that month's run)."""
    compact = period.replace("-", "")
    landing = home / "landing"
    write_csv(landing / "attendance" / f"考勤_{compact}.csv", ATTENDANCE_HEADER, attendance_rows(children, period))
    visits = home_teaching_rows(children, period)
    if visits:
        write_csv(landing / "home_teaching" / f"送教上门_{compact}.csv", HOME_TEACHING_HEADER, visits)
