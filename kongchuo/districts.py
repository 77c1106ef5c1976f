"""Names of the districts whose reference data ships with kongchuo (used in report titles and file names)."""

DISTRICT_NAMES: dict[str, str] = {"411003": "建安区", "341802": "宣州区"}


def district_name(code: str) -> str:
    return DISTRICT_NAMES.get(code, code)


def month_label(period: str) -> str:
    """'2026-10' -> '2026年10月'; '2026-Q4' -> '2026年第四季度'."""
    if "Q" in period:
        return f"{period[:4]}年第{'一二三四'[int(period[-1]) - 1]}季度"
    return f"{period[:4]}年{period[5:7]}月"
