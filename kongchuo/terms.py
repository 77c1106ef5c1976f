"""The term calendar behind SD2 and SD6 (DESIGN.md "Suspected dropout").

A term's first school day comes from the bureau's school calendar (``staged.school_calendar``, the dates of
``reference/school_calendar.csv``) when it has dates in that term; otherwise 1 September (autumn) or the
first working day after the Spring Festival holiday of the ``chinese-calendar`` data (spring). School days
are the calendar's dates, else the working days of ``chinese-calendar`` (weekdays minus public holidays plus
the make-up working days). Everything here is plain Python on a few hundred dates; the rule SQL gets the
result as bind parameters, so it stays portable between DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

TERM_START_DAYS = 10      # SD2 looks at the first 10 school days of a term
COVERAGE_DAYS = 5         # ... and only when the roll call reaches back into the term's first 5 school days
SD6_GRACE_DAYS = 30       # SD6: no active record 30 days after the autumn term starts
_SEARCH_DAYS = 120        # how far past a term's start its first school days are looked for


def _is_workday(day: dt.date) -> bool:
    """A working day of the State Council schedule; weekdays outside the package's years."""
    import chinese_calendar

    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def spring_festival_end(year: int) -> dt.date:
    """The first working day after the Spring Festival holiday of ``year`` (1 March when the package has no
    data for that year)."""
    import chinese_calendar

    day, seen = dt.date(year, 1, 15), False
    try:
        while day < dt.date(year, 3, 15):
            on_holiday, name = chinese_calendar.get_holiday_detail(day)  # make-up working days carry the name too
            is_festival = on_holiday and name == chinese_calendar.Holiday.spring_festival.value
            if seen and not is_festival and chinese_calendar.is_workday(day):
                return day
            seen = seen or is_festival
            day += dt.timedelta(days=1)
    except NotImplementedError:
        pass
    return dt.date(year, 3, 1)


@dataclass(frozen=True)
class Term:
    name: str                 # "2026-autumn" / "2027-spring"
    first_day: dt.date
    school_days: tuple[dt.date, ...]  # the first school days of the term (at least TERM_START_DAYS)
    from_calendar: bool

    def day(self, n: int) -> dt.date:
        """The n-th school day of the term (1-based)."""
        return self.school_days[n - 1]


def _terms_of_school_year(year: int, calendar: list[dt.date]) -> list[Term]:
    """The autumn term of ``year`` and the spring term of ``year + 1``."""
    festival = spring_festival_end(year + 1)
    bounds = (("autumn", f"{year}-autumn", dt.date(year, 8, 1), festival - dt.timedelta(days=21),
               dt.date(year, 9, 1)),
              ("spring", f"{year + 1}-spring", festival - dt.timedelta(days=7), dt.date(year + 1, 7, 31), festival))
    out = []
    for _, name, lo, hi, default in bounds:
        own = [d for d in calendar if lo <= d <= hi]
        if own:
            out.append(Term(name, own[0], tuple(own[:_SEARCH_DAYS]), True))
            continue
        days, day = [], default
        while len(days) < TERM_START_DAYS + COVERAGE_DAYS and day < default + dt.timedelta(days=_SEARCH_DAYS):
            if _is_workday(day):
                days.append(day)
            day += dt.timedelta(days=1)
        out.append(Term(name, days[0], tuple(days), False))
    return out


def school_year_of(day: dt.date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def terms_around(day: dt.date, calendar: list[dt.date]) -> list[Term]:
    """The terms of the school year holding ``day`` and of the one before, oldest first."""
    year = school_year_of(day)
    return _terms_of_school_year(year - 1, calendar) + _terms_of_school_year(year, calendar)


def sd2_term(start: dt.date, end: dt.date, calendar: list[dt.date]) -> Term | None:
    """The term whose 10th school day lies in [start, end] (SD2 is reported in that month only)."""
    for term in terms_around(end, calendar):
        if len(term.school_days) >= TERM_START_DAYS and start <= term.day(TERM_START_DAYS) <= end:
            return term
    return None


def roll_call_reaches_start(term: Term, first_roll_call: dt.date | None) -> bool:
    """The delivered roll call reaches back to within the term's first COVERAGE_DAYS school days."""
    return first_roll_call is not None and first_roll_call <= term.day(COVERAGE_DAYS)


def sd6_autumn_start(cutoff: dt.date, calendar: list[dt.date]) -> dt.date | None:
    """The autumn term start SD6 is measured from at ``cutoff``, or None when SD6 is not evaluated.

    SD6 runs at every cut-off from 30 days after the autumn term's start until the end of May. From June the
    registry already shows the current year's grade-6 graduations (毕业 has no date in the extracts), who
    have until the next autumn term; their evaluation starts 30 days into it."""
    if cutoff.month in (6, 7, 8):
        return None
    autumn = next(t for t in terms_around(cutoff, calendar) if t.name == f"{school_year_of(cutoff)}-autumn")
    return autumn.first_day if cutoff >= autumn.first_day + dt.timedelta(days=SD6_GRACE_DAYS) else None


REVIEW_MONTHS = 2  # R8: every registry change of a term is reviewed within two months of its start (Jian'an (二)2)


def current_term(day: dt.date, calendar: list[dt.date]) -> Term:
    """The term in progress on ``day``: the latest term whose first school day is on or before it (in the
    summer and winter holidays, the term just ended)."""
    started = [t for t in terms_around(day, calendar) if t.first_day <= day]
    return started[-1]


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, the day clamped to the month's length (31 Aug + 2 months → 31 Oct)."""
    import calendar as _calendar

    m = day.month - 1 + months
    year, month = day.year + m // 12, m % 12 + 1
    return dt.date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def review_deadline(term: Term) -> dt.date:
    """R8's deadline: the term's first school day plus two months."""
    return add_months(term.first_day, REVIEW_MONTHS)
