"""Reporting periods as text: months ``2026-10``, quarters ``2026-Q4``, days ``2026-10-20`` (Asia/Shanghai).

Plain date arithmetic with no Dagster: the domain, the warehouse, the assets and the portal all use it. The Dagster
partitions built on these keys are in :mod:`warehouse.partitions`.
"""

from __future__ import annotations

import datetime as dt

TIMEZONE = "Asia/Shanghai"


def quarter_label(partition_key: str) -> str:
    """'2026-10-01' (quarterly partition key) -> '2026-Q4'; a monthly key '2026-11' -> '2026-Q4'."""
    year, month = int(partition_key[:4]), int(partition_key[5:7])
    return f"{year}-Q{(month - 1) // 3 + 1}"


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of a period '2026-10', '2026-Q4' or a day '2026-10-20' (inclusive)."""
    if len(period) == 10:  # a day of the daily partitions (R7)
        day = dt.date.fromisoformat(period)
        return day, day
    year = int(period[:4])
    if "Q" in period:
        q = int(period[-1])
        start = dt.date(year, 3 * q - 2, 1)
        months = 3
    else:
        start = dt.date(year, int(period[5:7]), 1)
        months = 1
    m = start.month - 1 + months
    end = dt.date(year + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def school_year_reference_date(period_start: dt.date, month: int = 8, day: int = 31) -> dt.date:
    """School age is measured on 31 August of the school year the period belongs to (configurable)."""
    year = period_start.year if period_start.month > month else period_start.year - 1
    return dt.date(year, month, day)
