"""DQ01–DQ10 person/record consistency (人籍一致) and data-quality checks as Dagster asset checks."""

from checks.dq import dq_checks as _dq_checks
from checks.id_checks import id_checks
from kongchuo.check_names import CHECK_IDS, CHECK_NAMES

# DQ01/DQ02 on every source with ID numbers, and mojibake findings (checks/id_checks.py) join the DQ checks.
dq_checks = [*_dq_checks, *id_checks]

__all__ = ["dq_checks", "CHECK_IDS", "CHECK_NAMES"]
