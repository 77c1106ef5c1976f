"""DQ01–DQ10 person/record consistency (人籍一致) and data-quality checks as Dagster asset checks."""

from checks.dq import dq_checks
from checks.names import CHECK_IDS, CHECK_NAMES

__all__ = ["dq_checks", "CHECK_IDS", "CHECK_NAMES"]
