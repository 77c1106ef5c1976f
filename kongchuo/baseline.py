"""The plain-pandas baseline of ``make bench`` (issue 16): what a capable user's own script would do with the
same landing files, to say whether kongchuo is faster than that script.

One process, no warehouse, no checks, no reports: read every registry, attendance, census, exemption and
home-teaching file once (CSV with pandas' C reader, UTF-8 or GB18030; XLSX with python-calamine, the fastest
reader a user could pick), map each file's headers to the columns the script needs, normalise IDs, dates and
statuses on the distinct values only, and count

- SD1: unexcused absence on 3 consecutive school days, or on 10 school days of the month;
- SD5: an active registry record of a school-age child with no roll-call row at any school in the month;
- 失学 (out of school): a school-age census child (resident or away) with no registry record at all;

leaving out children with an approved deferral or suspension in force at the month's end, home-taught children,
the deceased (registry or census) and, for SD1/SD5, children 16 or over on the month's last day. School age is 6–15 full years on 31 August of the school year, from the birth
date in the ID number. Everything is vectorised (no loop over rows); the header names come from
:mod:`kongchuo.sources` (a user would hard-code the same list). It is not kongchuo's definition in every
detail (streaks across months, SD2–SD6, the reference data, the current snapshot per school): the counts are
printed beside kongchuo's so a reader sees how close they are.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kongchuo.sources import ATTENDANCE_STATUS, REGISTRY_STATUS, RESIDENCE_STATUS, SPECS, normalize_header

_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_FULLWIDTH = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "})
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y年%m月%d日", "%Y.%m.%d")


def read_table(path: Path, source: str) -> pd.DataFrame:
    """One file as text columns under canonical names (unknown headers dropped)."""
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
        except UnicodeDecodeError:
            frame = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
    else:
        frame = pd.read_excel(path, engine="calamine", dtype=str, keep_default_na=False)
    aliases = SPECS[source].alias_map
    names = {c: aliases.get(normalize_header(str(c))) for c in frame.columns}
    frame = frame[[c for c, n in names.items() if n]]
    frame.columns = [names[c] for c in frame.columns]
    return frame.loc[:, ~frame.columns.duplicated()]


def read_source(data: Path, source: str) -> pd.DataFrame:
    files = sorted(p for p in (data / "landing" / source).glob("*") if p.suffix.lower() in (".csv", ".xlsx"))
    frames = [read_table(p, source) for p in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def parse_dates(raw: pd.Series) -> pd.Series:
    """Dates in any of the usual spellings or as Excel serial numbers, parsed once per distinct value."""
    values = pd.Series(raw.dropna().unique(), dtype=str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in _DATE_FORMATS:
        todo = out.isna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(values[todo], format=fmt, errors="coerce")
    serial = out.isna() & values.str.fullmatch(r"\d{4,5}(\.0+)?")
    out[serial] = _EXCEL_EPOCH + pd.to_timedelta(values[serial].astype(float), unit="D")
    lookup = pd.Series(out.to_numpy(), index=values.to_numpy())
    return raw.str.strip().map(lookup)


def person(frame: pd.DataFrame) -> pd.Series:
    """The ID number, else the ID inside a 'G' + ID student number, else the student number (full-width digits
    folded: exports have them)."""
    ids = _ascii(frame["id_number"]) if "id_number" in frame else pd.Series(pd.NA, index=frame.index, dtype=object)
    ids = ids.where(ids.str.len() == 18)
    if "student_no" in frame:
        g = _ascii(frame["student_no"])
        ids = ids.fillna(g.str[1:].where(g.str.startswith("G") & (g.str.len() == 19)))
        ids = ids.fillna(g.where(g.str.len() > 0))  # no ID at all: the student number is the person
    return ids


def _ascii(raw: pd.Series) -> pd.Series:
    """IDs and numbers as typed: full-width digits folded, spaces inside removed ('411003 20190313 4120')."""
    text = raw.str.upper()
    wide = text.str.contains(r"[\uff01-\uff5e\u3000]", regex=True, na=False)
    text = text.where(~wide, text[wide].str.translate(_FULLWIDTH))
    return text.str.replace(r"\s+", "", regex=True)


def aged_16(ids: pd.Series, on: pd.Timestamp) -> pd.Series:
    born = pd.to_datetime(ids.str[6:14], format="%Y%m%d", errors="coerce")
    return (on.year - born.dt.year - ((born.dt.month * 100 + born.dt.day) > on.month * 100 + on.day)) >= 16


def school_age(ids: pd.Series, reference: dt.date) -> pd.Series:
    """6..15 full years on ``reference`` (31 August), from the birth date inside the ID number."""
    born = pd.to_datetime(ids.str[6:14], format="%Y%m%d", errors="coerce")
    age = reference.year - born.dt.year - ((born.dt.month * 100 + born.dt.day) > reference.month * 100 + reference.day)
    return age.between(6, 15)


def run(data: Path, period: str) -> dict[str, Any]:
    """Count SD1, SD5 and 失学 for ``period`` ('2026-05') over the landing files under ``data``."""
    t0 = time.perf_counter()
    start = pd.Timestamp(f"{period}-01")
    end = start + pd.offsets.MonthEnd(0)
    school_year = start.year if start.month >= 9 else start.year - 1
    reference = dt.date(school_year, 8, 31)

    registry = read_source(data, "registry")
    registry["person"] = person(registry)
    registry["status"] = registry["status"].str.strip().map(REGISTRY_STATUS)
    active = registry[(registry["status"] == "active") & registry["person"].notna()]
    active = active[school_age(active["person"], reference)]

    census = read_source(data, "census")
    census["person"] = person(census)
    census["residence"] = census["residence_status"].str.strip().map(RESIDENCE_STATUS)
    excluded: set[str] = set(registry.loc[registry["status"] == "deceased", "person"].dropna())
    excluded |= set(census.loc[census["residence"] == "deceased", "person"].dropna())
    excluded |= set(active.loc[aged_16(active["person"], end), "person"])  # 16 on the cut-off date
    exemptions = read_source(data, "exemptions")
    if len(exemptions):
        until = parse_dates(exemptions["valid_until"]) if "valid_until" in exemptions else pd.NaT
        approved = parse_dates(exemptions["approved_on"]) if "approved_on" in exemptions else pd.NaT
        in_force = (approved.isna() | (approved <= end)) & (until.isna() | (until >= end))
        excluded |= set(person(exemptions)[in_force].dropna())
    home = read_source(data, "home_teaching")
    if len(home):
        excluded |= set(person(home).dropna())

    roll = read_source(data, "attendance")
    roll["person"] = person(roll)
    if "student_no" in registry and "student_no" in roll:
        # a row with a student number only: the registry record holding that number says who it is
        by_number = registry.assign(no=_ascii(registry["student_no"])).dropna(subset=["no", "person"])
        by_number = by_number.drop_duplicates("no").set_index("no")["person"]
        number_only = roll["id_number"].isna() if "id_number" in roll else pd.Series(True, index=roll.index)
        known = _ascii(roll["student_no"]).map(by_number)
        roll["person"] = known.where(number_only & known.notna(), roll["person"])
    roll["date"] = parse_dates(roll["date"])
    roll["status"] = roll["status"].str.strip().map(ATTENDANCE_STATUS)
    roll = roll[roll["date"].between(start, end) & roll["person"].notna()]
    read_s = time.perf_counter() - t0

    # SD5: active, school age, no roll-call row anywhere in the month
    seen = set(roll["person"].unique())
    sd5 = set(active["person"]) - seen - excluded

    # SD1: school days = days with roll call; a streak is consecutive school-day numbers of unexcused absence
    days = np.sort(roll["date"].unique())
    day_no = pd.Series(np.arange(len(days)), index=days)
    present = roll.loc[roll["status"] == "present", ["person", "date"]].drop_duplicates()
    absent = roll.loc[roll["status"] == "unexcused", ["person", "date"]].drop_duplicates()
    absent = absent.merge(present, how="left", indicator=True)  # present at another school that day counts
    absent = absent[absent["_merge"] == "left_only"].drop(columns="_merge")
    absent["n"] = absent["date"].map(day_no).to_numpy()
    absent = absent.sort_values(["person", "n"])
    new_run = (absent["person"] != absent["person"].shift()) | (absent["n"] != absent["n"].shift() + 1)
    run_id = new_run.cumsum()
    streak = absent.groupby(run_id)["n"].transform("size")
    per_person = absent.groupby("person")["n"].size()
    sd1 = (set(absent.loc[streak.to_numpy() >= 3, "person"]) | set(per_person[per_person >= 10].index)) - excluded
    sd1 &= set(active["person"])  # children on the roll

    # 失学: school-age census children living here with no active registry record anywhere
    living = census[census["residence"].isin(["resident", "away"]) & census["person"].notna()]
    living = living[school_age(living["person"], reference)]
    enrolled = set(registry["person"].dropna())  # any registry record: a dropout or a transfer is SD4/SD3's
    exempt = excluded - set(registry.loc[registry["status"] == "deceased", "person"].dropna())
    out_of_school = set(living["person"]) - enrolled - exempt

    return {"seconds": round(time.perf_counter() - t0, 2), "read_seconds": round(read_s, 2),
            "rows": {"registry": len(registry), "attendance": len(roll), "census": len(census)},
            "SD1": len(sd1), "SD5": len(sd5), "out_of_school": len(out_of_school)}


if __name__ == "__main__":  # python -m kongchuo.baseline <data folder> <period>
    import json
    import sys

    print(json.dumps(run(Path(sys.argv[1]), sys.argv[2]), ensure_ascii=False))
