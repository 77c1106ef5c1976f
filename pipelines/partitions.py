"""The partitions every asset, check, job and schedule shares (time zone Asia/Shanghai).

Monthly keys look like ``2026-10``; quarterly keys like ``2026-Q4`` (see :func:`quarter_label`).
Dagster has no quarterly class: a time window every three months starting in January does it.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

TIMEZONE = "Asia/Shanghai"
FIRST_MONTH = "2025-09"  # the school year 2025/26; older periods can be added by moving this back

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH, fmt="%Y-%m", timezone=TIMEZONE, end_offset=1
)
quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start="2025-07-01", fmt="%Y-%m-%d", timezone=TIMEZONE, end_offset=1
)


# R7: one partition per day ('2026-10-20'); a day's roll call landing starts that day's early warning.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2025-09-01", timezone=TIMEZONE, end_offset=1)

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


def period_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
    """The reporting period of the current run: '2026-10' for monthly runs, '2026-Q4' for quarterly ones."""
    key = context.partition_key if isinstance(context, dg.AssetExecutionContext) else context.run.tags.get(
        "dagster/partition", ""
    )
    if isinstance(context, dg.AssetExecutionContext) and context.assets_def.partitions_def == daily_partitions:
        return key  # a day: '2026-10-20'
    return quarter_label(key) if len(key) == 10 else key
