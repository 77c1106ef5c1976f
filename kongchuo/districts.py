"""Names of region codes used in report titles and file names: the districts whose reference data ships with
kongchuo, and the counties, prefectures and province of the generated province (kongchuo.generate.province).
Prefecture codes end in ``00``, province codes in ``0000``; a report over several counties is titled with
their common prefecture or province (assets.report_files.current_district)."""

DISTRICT_NAMES: dict[str, str] = {
    "411003": "建安区", "341802": "宣州区",
    # 河南省 and the prefectures of the generated province
    "410000": "河南省", "411000": "许昌市", "411100": "漯河市", "411600": "周口市", "340000": "安徽省",
    "341800": "宣城市",
    # 许昌市
    "411002": "魏都区", "411024": "鄢陵县", "411025": "襄城县", "411081": "禹州市", "411082": "长葛市",
    # 漯河市
    "411102": "源汇区", "411121": "舞阳县", "411122": "临颍县",
    # 周口市
    "411602": "川汇区", "411621": "扶沟县", "411622": "西华县", "411623": "商水县", "411624": "沈丘县",
    "411625": "郸城县", "411627": "太康县", "411628": "鹿邑县", "411681": "项城市",
}


def district_name(code: str) -> str:
    return DISTRICT_NAMES.get(code, code)


def common_region(codes: list[str] | set[str]) -> str:
    """The smallest region holding every county code: the county itself, else the common prefecture
    (``4110xx`` -> ``411000``), else the common province (``41xxxx`` -> ``410000``); '' when none."""
    codes = sorted({str(c) for c in codes if c})
    if not codes:
        return ""
    if len(codes) == 1:
        return codes[0]
    if len({c[:4] for c in codes}) == 1:
        return codes[0][:4] + "00"
    if len({c[:2] for c in codes}) == 1:
        return codes[0][:2] + "0000"
    return ""


def region_prefix(code: str) -> str:
    """The leading digits every county code of a region shares: ``410000`` -> ``41``, ``411000`` -> ``4110``;
    a county code is its own prefix (county codes never end in ``00``)."""
    code = str(code)
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def is_multi_county(code: str) -> bool:
    """A prefecture or province code (``xxxx00``): reports over several counties."""
    return region_prefix(code) != str(code)


def month_label(period: str) -> str:
    """'2026-10' -> '2026年10月'; '2026-Q4' -> '2026年第四季度'."""
    if "Q" in period:
        return f"{period[:4]}年第{'一二三四'[int(period[-1]) - 1]}季度"
    return f"{period[:4]}年{period[5:7]}月"
