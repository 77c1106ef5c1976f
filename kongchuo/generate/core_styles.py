"""Value spellings used in generated extracts (dates, gender, flags, grades)."""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMATS = ("csv-utf8", "csv-utf8-bom", "csv-gbk", "xlsx")
ENCODING = {"csv-utf8": "utf-8", "csv-utf8-bom": "utf-8-sig", "csv-gbk": "gbk", "xlsx": None}
CSV_DATES = ("iso", "slash", "compact", "chinese")  # 2010-03-05, 2010/3/5, 20100305, 2010年3月5日
XLSX_DATES = ("excel_date", "excel_serial")       # real date cells, Excel serial numbers
_GRADE_ZH = np.array(["", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级"], dtype=object)
_GRADE_CHU = np.array(["", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三"], dtype=object)
_EPOCH = np.datetime64("1899-12-30")


def fmt_dates(values: np.ndarray, style: str):
    d = np.asarray(values, dtype="datetime64[D]")
    if style == "excel_date":
        return d.astype(object)  # datetime.date cells
    if style == "excel_serial":
        return (d - _EPOCH).astype(np.int64).astype(object)
    iso = pd.Series(np.datetime_as_string(d, unit="D"), dtype=object).astype(str)
    if style == "iso":
        return iso.to_numpy(dtype=object)
    if style == "compact":
        return iso.str.replace("-", "", regex=False).to_numpy(dtype=object)
    y, m, dd = iso.str.slice(0, 4), iso.str.slice(5, 7).astype(int).astype(str), iso.str.slice(8, 10).astype(int).astype(str)
    if style == "slash":
        return (y + "/" + m + "/" + dd).to_numpy(dtype=object)
    if style == "chinese":
        return (y + "年" + m + "月" + dd + "日").to_numpy(dtype=object)
    raise ValueError(style)


def fmt_gender(male: np.ndarray, style: str) -> np.ndarray:
    return np.where(male, *(("男", "女") if style == "zh" else ("1", "2"))).astype(object)


def fmt_flag(flag: np.ndarray, style: str) -> np.ndarray:
    yes, no = {"zh": ("是", "否"), "yn": ("Y", "N"), "10": ("1", "0")}[style]
    return np.where(flag, yes, no).astype(object)


def fmt_grade(grade: np.ndarray, style: str, fmt: str = "csv") -> np.ndarray:
    g = np.asarray(grade, dtype=np.int64)
    if style == "num":
        return g.astype(object) if fmt == "xlsx" else g.astype(str).astype(object)
    if style == "nianji":
        return np.char.add(g.astype(str), "年级").astype(object)
    if style == "zh":
        return _GRADE_ZH[g]
    return _GRADE_CHU[g]
