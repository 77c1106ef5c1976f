"""The partitions every asset, check, job and schedule shares (time zone Asia/Shanghai).

Monthly keys look like ``2026-10``; quarterly keys like ``2026-Q4`` (see :func:`quarter_label`).
Dagster has no quarterly class: a time window every three months starting in January does it.
"""

from __future__ import annotations

import dagster as dg

from kongchuo.periods import TIMEZONE, period_bounds, quarter_label, school_year_reference_date

__all__ = ["FIRST_MONTH", "TIMEZONE", "daily_partitions", "monthly_partitions", "period_bounds", "period_of",
           "quarter_label", "quarterly_partitions", "school_year_reference_date"]

FIRST_MONTH = "2025-09"  # the school year 2025/26; older periods can be added by moving this back

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH, fmt="%Y-%m", timezone=TIMEZONE, end_offset=1
)
quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start="2025-07-01", fmt="%Y-%m-%d", timezone=TIMEZONE, end_offset=1
)


# R7: one partition per day ('2026-10-20'); a day's roll call landing starts that day's early warning.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2025-09-01", timezone=TIMEZONE, end_offset=1)

def period_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
    """The reporting period of the current run: '2026-10' for monthly runs, '2026-Q4' for quarterly ones."""
    key = context.partition_key if isinstance(context, dg.AssetExecutionContext) else context.run.tags.get(
        "dagster/partition", ""
    )
    if isinstance(context, dg.AssetExecutionContext) and context.assets_def.partitions_def == daily_partitions:
        return key  # a day: '2026-10-20'
    return quarter_label(key) if len(key) == 10 else key
