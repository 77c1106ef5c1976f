"""School calendar used by the generator (an APPROXIMATION, documented as such).

School days = weekdays in the requested range, minus Chinese public holidays (the State Council schedule:
New Year, Qingming, Labour Day, Dragon Boat, Mid-Autumn, National Day), plus the make-up working weekend
days (调休补班) that schools also keep, minus the winter and summer breaks. The tables below cover the
school years 2024-25 to 2026-27; dates were taken from the published schedules where known and
otherwise estimated from the lunar calendar. Bureaus' real calendars differ by a day here and there, which
does not matter: in rollcall mode the pipeline takes school days from the roll-call rows, not from this table;
in absence-only mode the generator writes these days as ``reference/school_calendar.csv``, the pipeline's
source of school days.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

# Days off (only weekdays matter).
HOLIDAYS: dict[str, str] = {}
MAKEUP_DAYS: dict[str, str] = {}


def _span(first: str, last: str, name: str) -> None:
    for d in pd.date_range(first, last, freq="D"):
        HOLIDAYS[d.strftime("%Y-%m-%d")] = name


# 2024-25
_span("2024-09-15", "2024-09-17", "中秋节"); MAKEUP_DAYS["2024-09-14"] = "中秋节调休"
_span("2024-10-01", "2024-10-07", "国庆节"); MAKEUP_DAYS["2024-09-29"] = "国庆节调休"; MAKEUP_DAYS["2024-10-12"] = "国庆节调休"
_span("2025-01-01", "2025-01-01", "元旦")
_span("2025-04-04", "2025-04-06", "清明节")
_span("2025-05-01", "2025-05-05", "劳动节"); MAKEUP_DAYS["2025-04-27"] = "劳动节调休"
_span("2025-05-31", "2025-06-02", "端午节")
# 2025-26
_span("2025-10-01", "2025-10-08", "国庆节、中秋节"); MAKEUP_DAYS["2025-09-28"] = "国庆节调休"; MAKEUP_DAYS["2025-10-11"] = "国庆节调休"
_span("2026-01-01", "2026-01-03", "元旦"); MAKEUP_DAYS["2026-01-04"] = "元旦调休"
_span("2026-04-04", "2026-04-06", "清明节")
_span("2026-05-01", "2026-05-05", "劳动节"); MAKEUP_DAYS["2026-05-09"] = "劳动节调休"
_span("2026-06-19", "2026-06-21", "端午节")
# 2026-27
_span("2026-09-25", "2026-09-27", "中秋节")
_span("2026-10-01", "2026-10-07", "国庆节"); MAKEUP_DAYS["2026-09-20"] = "国庆节调休"; MAKEUP_DAYS["2026-10-10"] = "国庆节调休"
_span("2027-01-01", "2027-01-03", "元旦")
_span("2027-04-03", "2027-04-05", "清明节")
_span("2027-05-01", "2027-05-05", "劳动节")
_span("2027-06-09", "2027-06-11", "端午节")

# Breaks (month, day) inclusive: winter 20 Jan - 28 Feb (approx.), summer 11 Jul - 31 Aug.
WINTER = ((1, 20), (2, 28))
SUMMER = ((7, 11), (8, 31))


def school_year_start(d: dt.date) -> int:
    """The calendar year in which the school year containing ``d`` began (Sep 1 .. Aug 31)."""
    return d.year if d.month >= 9 else d.year - 1


def reference_date(d: dt.date) -> dt.date:
    """31 August before the school year containing ``d`` (ages are taken on this day)."""
    return dt.date(school_year_start(d), 8, 31)


def term_of(d: dt.date) -> str:
    """'2025-autumn' (Aug-Jan) or '2026-spring' (Feb-Jul)."""
    if d.month >= 8:
        return f"{d.year}-autumn"
    if d.month == 1:
        return f"{d.year - 1}-autumn"
    return f"{d.year}-spring"


def _in_break(d: pd.Timestamp) -> bool:
    md = (d.month, d.day)
    return WINTER[0] <= md <= WINTER[1] or SUMMER[0] <= md <= SUMMER[1]


def school_days(start: dt.date, end: dt.date) -> list[dt.date]:
    out = []
    for d in pd.date_range(start, end, freq="D"):  # per calendar day, a few hundred at most
        key = d.strftime("%Y-%m-%d")
        working = (d.weekday() < 5 and key not in HOLIDAYS) or key in MAKEUP_DAYS
        if working and not _in_break(d):
            out.append(d.date())
    return out


def months(start: dt.date, end: dt.date) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(start, end, freq="M")]


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    p = pd.Period(period, freq="M")
    return p.start_time.date(), p.end_time.date()


def as_datetime64(days: list[dt.date]) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]")
