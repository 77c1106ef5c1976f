"""Writing extracts the way bureaus send them: CSV (UTF-8, UTF-8 with BOM, GBK) and XLSX, header alias sets
from kongchuo.sources, several date, gender, flag, grade and status spellings. Every choice is a
deterministic function of the file's index, and recorded in meta.json."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from kongchuo import idnumber
from kongchuo.readers import column_letter
from kongchuo.sources import SPECS

from . import shapes
from .core_styles import CSV_DATES, ENCODING, FORMATS, XLSX_DATES, fmt_dates, fmt_flag, fmt_gender, fmt_grade

XLSX_MAX_ROWS = 30_000


def registry_chunks(reg: pd.DataFrame) -> list[tuple[int, int]]:
    """Row ranges of the registry files: the first school alone, then at least five files (the truth needs to
    know which file holds a record: see :func:`has_change_date`)."""
    n = len(reg)
    first = int((reg["order"] == 0).sum())
    rest = max(5, math.ceil((n - first) / 100_000))
    bounds = sorted(set([0, first] + [first + (n - first) * j // rest for j in range(1, rest + 1)]))
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def has_change_date(i: int) -> bool:
    """Registry file ``i`` has a change-date column (变动日期/异动日期 ...); every third file has none, so SD3
    dates its transfers by the snapshot date (DESIGN.md "Suspected dropout")."""
    return i % 3 != 2


def change_dates(r: pd.DataFrame) -> np.ndarray:
    """The 变动日期 cells: ISO text where the record has a change date (its 转出), else blank."""
    d = r["change_date"].to_numpy(dtype="datetime64[D]")
    iso = np.datetime_as_string(d, unit="D").astype(object)
    return np.where(np.isnat(d), "", iso).astype(object)
_FIXED_TIME = (2026, 1, 1, 0, 0, 0)


def header(source: str, column: str, k: int) -> str:
    col = SPECS[source].column(column)
    names = list(dict.fromkeys((col.label, *col.aliases)))
    return names[k % len(names)]


def assign_formats(rows: list[int], offsets: list[int] | None = None) -> list[str]:
    """Rotate the four formats; XLSX only for files up to XLSX_MAX_ROWS; at least one XLSX (the smallest)."""
    offsets = offsets or list(range(len(rows)))
    fm = [FORMATS[o % 4] for o in offsets]
    for i, f in enumerate(fm):
        if f == "xlsx" and rows[i] > XLSX_MAX_ROWS:
            fm[i] = FORMATS[(offsets[i] // 4) % 3]
    if "xlsx" not in fm and rows:
        fm[int(np.argmin(rows))] = "xlsx"
    return fm


def deterministic_xlsx(path: Path) -> None:
    """openpyxl stamps the save time into docProps/core.xml and the zip entries: pin both."""
    with zipfile.ZipFile(path) as z:
        items = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>2026-01-01T00:00:00Z\g<3>",
                              data)
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/xl/workbook.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
       '<Override PartName="/xl/styles.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
         'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'styles" Target="styles.xml"/></Relationships>')
_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
           '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
           '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
           '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") if ("&" in s or "<" in s or ">" in s) else s


def write_xlsx(path: Path, columns: dict[str, object], sheet: str = "Sheet1") -> None:
    """A minimal, valid XLSX (one sheet, inline strings, a date style), built with vectorised string
    operations: much faster than openpyxl for tens of thousands of rows, and byte-deterministic.
    Column values: text, numbers, or datetime.date (written as date serials with a yyyy-mm-dd style)."""
    import datetime as _dt
    cols = [c.to_pylist() if isinstance(c, (pa.Array, pa.ChunkedArray)) else c for c in columns.values()]
    n = len(cols[0]) if cols else 0
    rown = np.arange(2, n + 2).astype(str).astype(object)
    body = np.full(n, "", dtype=object)
    for j, vals in enumerate(cols):
        arr = np.asarray(vals, dtype=object)
        ref = column_letter(j) + rown
        first = next((v for v in arr if v is not None and v == v), None) if n else None
        if isinstance(first, _dt.date):
            serial = (np.asarray(arr, dtype="datetime64[D]") - np.datetime64("1899-12-30")).astype(np.int64)
            body = body + '<c r="' + ref + '" s="1"><v>' + serial.astype(str).astype(object) + "</v></c>"
        elif isinstance(first, (int, float, np.integer, np.floating)) and not isinstance(first, bool):
            num = np.array(["{:g}".format(v) if isinstance(v, float) else str(v) for v in arr], dtype=object)
            body = body + '<c r="' + ref + '"><v>' + num + "</v></c>"
        else:
            txt = np.array([_esc(str(v)) if v is not None else "" for v in arr], dtype=object)
            body = body + '<c r="' + ref + '" t="inlineStr"><is><t>' + txt + "</t></is></c>"
    head = "".join(f'<c r="{column_letter(j)}1" t="inlineStr"><is><t>{h}</t></is></c>' for j, h in enumerate(columns))
    rows = '<row r="' + rown + '">' + body + "</row>"
    last = f"{column_letter(max(len(cols) - 1, 0))}{n + 1}"
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           f'<dimension ref="A1:{last}"/><sheetData><row r="1">{head}</row>' + "".join(rows.tolist())
           + "</sheetData></worksheet>")
    wbxml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
             f'<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    parts = [("[Content_Types].xml", _CT), ("_rels/.rels", _RELS), ("xl/workbook.xml", wbxml),
             ("xl/_rels/workbook.xml.rels", _WB_RELS), ("xl/styles.xml", _STYLES), ("xl/worksheets/sheet1.xml", xml)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("utf-8"))


def write_table(path: Path, fmt: str, columns: dict[str, object], sheet: str = "Sheet1") -> None:
    """``columns``: header -> values (numpy/pandas/pyarrow array of text, or for XLSX any cell values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        write_xlsx(path, columns, sheet)
        return
    arrays = [c if isinstance(c, (pa.Array, pa.ChunkedArray)) else pa.array(np.asarray(c, dtype=object), pa.string())
              for c in columns.values()]
    table = pa.Table.from_arrays(arrays, names=list(columns))
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="needed"))
    data = buf.getvalue()
    if fmt == "csv-gbk":
        data = data.decode("utf-8").encode("gbk")
    elif fmt == "csv-utf8-bom":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


# containers of the real shapes (kongchuo.generate.shapes); the others keep the tidy file's format
SHAPE_FORMAT = {"national": "xlsx", "legacy_xls": "xls", "per_grade": "xlsx", "month_grid": "xlsx",
                "township_survey": "xlsx", "titled_xlsx": "xlsx", "deferral_roster": "xlsx", "titled_csv": "csv-gbk"}
FORM_TITLES = {"registry": "学籍学生花名册", "census": "户籍适龄儿童少年花名册", "attendance": "中小学生考勤记录",
               "casework": "劝返工作记录表", "exemptions": "延缓入学（休学）审批登记表", "home_teaching": "送教上门记录表"}
_EXT = {"xlsx": "xlsx", "xls": "xls"}


def shape_format(shape: str, fmt: str) -> str:
    return SHAPE_FORMAT.get(shape, fmt)


def extension(fmt: str) -> str:
    return _EXT.get(fmt, "csv")


class Writer:
    def __init__(self, out: Path, district: str, short: str, seed: int, dirty_rate: float, real_shapes: float = 0.0):
        self.out, self.district, self.short, self.seed, self.dirty_rate = out, district, short, seed, dirty_rate
        self.real_shapes = float(real_shapes)
        self.rng = np.random.default_rng([int(seed), int(district), 99])
        self.names: dict[str, str] = {}  # student_no and normalised ID -> name, from the registry (month grids)

    def _dates(self, values: np.ndarray, style: str):
        return fmt_dates(values, style)

    def _date_style(self, fmt: str, i: int) -> str:
        return XLSX_DATES[i % 2] if fmt in ("xlsx", "xls") else CSV_DATES[i % 4]

    def _entry(self, source, path, fmt, k, date_style, rows, periods, shape=shapes.TIDY, **extra) -> dict:
        entry = {"source": source, "path": str(path.relative_to(self.out)), "format": fmt,
                 "encoding": ENCODING.get(fmt), "alias_set": k, "date_style": date_style, "rows": int(rows),
                 "periods": periods, **extra}
        if self.real_shapes > 0:  # meta.json of a tidy district stays byte-identical
            entry["shape"] = shape
        return entry

    def _dirty(self, ids: np.ndarray) -> np.ndarray:
        from .core import dirty_ids
        return dirty_ids(ids, self.rng, self.dirty_rate)

    def _write(self, path: Path, fmt: str, shape: str, cols: dict, sheet: str, source: str, as_of,
               **extra) -> None:
        """Write ``cols`` in the tidy layout or as one of the form shapes (title, 合计, signatures)."""
        if shape in (shapes.TIDY, "leave_flags", "public_security", "national"):
            write_table(path, fmt, cols, sheet)
            return
        if shape == "per_grade":
            forms = shapes.per_grade_forms(cols, extra["grade"], extra["status_header"])
            (shapes.write_xls_forms if fmt == "xls" else shapes.write_xlsx_forms)(path, forms)
            return
        header, columns = shapes.numbered(shapes.mark_required(cols, source) if shape == "township_survey" else cols)
        checker = "复核人（签名）" if shape == "township_survey" else "审核人"
        title = f"{self.short}{extra.get('title', FORM_TITLES[source])}"
        unit = f"{self.short}{'各乡镇（街道）' if shape == 'township_survey' else '教育局'}"
        counted = "人" if source in ("registry", "census") else "条"
        form = shapes.titled(shapes.Form(header, columns, name=sheet), title, unit, as_of, checker, counted)
        if fmt == "xls":
            shapes.write_xls_forms(path, [form])
        elif fmt == "xlsx":
            shapes.write_xlsx_forms(path, [form])
        else:
            shapes.write_csv_form(path, form, ENCODING[fmt].replace("-sig", ""))

    # ------------------------------------------------------------------ registry
    def registry(self, reg: pd.DataFrame, as_of, periods: list[str]) -> list[dict]:
        chunks = registry_chunks(reg)
        fmts = assign_formats([b - a for a, b in chunks])
        plan = shapes.plan("registry", [b - a for a, b in chunks], self.real_shapes)
        files = []
        id_raw = self._dirty(reg["id_number"].to_numpy(dtype=object))
        if self.real_shapes > 0:
            names = reg["name"].to_numpy(dtype=object)
            self.names = {**dict(zip(reg["id_number"].to_numpy(dtype=object), names)),
                          **dict(zip(reg["student_no"].to_numpy(dtype=object), names))}
            self.names.pop("", None)
        for i, ((a, b), fmt, shape) in enumerate(zip(chunks, fmts, plan)):
            r = reg.iloc[a:b]
            fmt = shape_format(shape, fmt)
            if shape == "per_grade" and plan[:i].count("per_grade") % 2:  # every other one a legacy .xls
                fmt = "xls"
            path = self.out / "landing" / "registry" / f"学籍_{self.short}_{as_of:%Y%m%d}_{i + 1:02d}.{extension(fmt)}"
            changed = has_change_date(i)
            if shape == "national":
                cols = self._registry_national(r, id_raw[a:b])
                if changed:
                    cols["变动日期"] = change_dates(r)
                write_table(path, fmt, cols, "学生基本信息")
                files.append(self._entry("registry", path, fmt, -1, "compact", b - a, periods, shape,
                                         as_of=as_of.isoformat(), gender_style="num", flag_style="national",
                                         grade_style="zh", active_word="在籍", change_date=changed))
                continue
            k, ds = i % 6, self._date_style(fmt, i)
            gs, fs, grs = ("zh", "num")[i % 2], ("zh", "yn", "10")[i % 3], ("num", "nianji", "zh", "chu")[(i + 1) % 4]
            active_word = ("在读", "在籍")[(i // 2) % 2]
            cols = self._registry_columns(r, id_raw[a:b], k, ds, gs, fs, grs, active_word, fmt)
            if changed:
                cols[header("registry", "change_date", k)] = change_dates(r)
            self._write(path, fmt, shape, cols, "学籍", "registry", as_of, grade=r["grade"].to_numpy(),
                        status_header=header("registry", "status", k))
            files.append(self._entry("registry", path, fmt, k, ds, b - a, periods, shape, as_of=as_of.isoformat(),
                                     gender_style=gs, flag_style=fs, grade_style=grs, active_word=active_word,
                                     change_date=changed))
        return files

    @staticmethod
    def _registry_status(r: pd.DataFrame, active_word: str) -> np.ndarray:
        status = r["status"].map({"active": active_word, "suspended": "休学", "transferred_out": "转出",
                                  "dropped_out": "辍学", "graduated": "毕业", "deceased": "死亡"}).to_numpy(dtype=object)
        word = r["status_word"].to_numpy(dtype=object)
        return np.where(word != "", word, status)

    def _registry_columns(self, r, ids, k, ds, gs, fs, grs, active_word, fmt) -> dict:
        h = lambda c: header("registry", c, k)  # noqa: E731
        cols = {
            h("student_no"): r["student_no"].to_numpy(dtype=object),
            h("id_number"): ids,
            h("name"): r["name"].to_numpy(dtype=object),
            h("gender"): fmt_gender(r["male"].to_numpy(dtype=bool), gs),
            h("birth_date"): self._dates(r["birth"].to_numpy(dtype="datetime64[D]"), ds),
            h("school_code"): r["school_code"].to_numpy(dtype=object),
            h("school_name"): r["school_name"].to_numpy(dtype=object),
            h("grade"): fmt_grade(r["grade"].to_numpy(), grs, "xlsx" if fmt == "xls" else fmt),
            h("class_name"): (r["grade"].astype(str) + "年级" + r["cls"].astype(str) + "班").to_numpy(dtype=object),
            h("status"): self._registry_status(r, active_word),
            h("enrolled_on"): self._dates(r["enrolled_on"].to_numpy(dtype="datetime64[D]"), ds),
            h("hukou_region_code"): r["hukou_region_code"].to_numpy(dtype=object),
            h("township_code"): r["township_code"].to_numpy(dtype=object),
        }
        for c in ("is_poverty_family", "is_left_behind", "is_migrant", "is_disabled"):
            cols[h(c)] = fmt_flag(r[c].to_numpy(dtype=bool), fs)
        cols[h("disability_grade")] = r["disability_grade"].to_numpy(dtype=object)
        cols[h("is_in_difficulty")] = fmt_flag(r["is_in_difficulty"].to_numpy(dtype=bool), fs)
        cols[h("guardian_name")] = r["guardian_name"].to_numpy(dtype=object)
        cols[h("guardian_phone")] = r["guardian_phone"].to_numpy(dtype=object)
        return cols

    def _registry_national(self, r: pd.DataFrame, ids: np.ndarray) -> dict:
        """The national registry system's export: its own names, ★ marks, wrapped headers and codes."""
        salt = np.arange(len(r))
        flag = lambda c: fmt_flag(r[c].to_numpy(dtype=bool), "zh")  # noqa: E731
        return {
            "个人标识码": r["student_no"].to_numpy(dtype=object),
            "学籍辅号": shapes.aux_student_numbers(r["school_code"].to_numpy(dtype=object), r["grade"].to_numpy(),
                                               r["cls"].to_numpy()),
            "姓名★": r["name"].to_numpy(dtype=object),
            "性别★": fmt_gender(r["male"].to_numpy(dtype=bool), "num"),
            "出生日期★": shapes.yyyymmdd(r["birth"].to_numpy(dtype="datetime64[D]")),
            "身份证件类型": np.where(ids != "", "居民身份证", "").astype(object),
            "身份证件号★": ids,
            "学校标识码": r["school_code"].to_numpy(dtype=object),
            "学校名称": r["school_name"].to_numpy(dtype=object),
            "年级★": fmt_grade(r["grade"].to_numpy(), "zh"),
            "班级★": (r["grade"].astype(str) + "年级" + r["cls"].astype(str) + "班").to_numpy(dtype=object),
            "学籍\n状态": self._registry_status(r, "在籍"),
            "入学\n年月★": shapes.yyyymm(r["enrolled_on"].to_numpy(dtype="datetime64[D]")),
            "户口所在地\n行政区划": r["hukou_region_code"].to_numpy(dtype=object),
            "乡镇代码": r["township_code"].to_numpy(dtype=object),
            "是否建档立卡": flag("is_poverty_family"),
            "是否留守儿童": shapes.left_behind_words(r["is_left_behind"].to_numpy(dtype=bool), salt),
            "是否进城务工人员\n随迁子女": flag("is_migrant"),
            "是否残疾": flag("is_disabled"),
            "残疾等级": r["disability_grade"].to_numpy(dtype=object),
            "是否困境儿童": flag("is_in_difficulty"),
            "成员1姓名": r["guardian_name"].to_numpy(dtype=object),
            "成员1联系电话": r["guardian_phone"].to_numpy(dtype=object),
        }

    # ------------------------------------------------------------------ census
    def census(self, cen: pd.DataFrame, as_of, periods: list[str]) -> list[dict]:
        n = len(cen)
        first = min(2000, max(1, n // 10))
        rest = max(5, math.ceil((n - first) / 150_000))
        bounds = sorted(set([0, first] + [first + (n - first) * j // rest for j in range(1, rest + 1)]))
        chunks = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
        fmts = assign_formats([b - a for a, b in chunks], [i + 2 for i in range(len(chunks))])
        plan = shapes.plan("census", [b - a for a, b in chunks], self.real_shapes)
        id_raw = self._dirty(cen["id_number"].to_numpy(dtype=object))
        files = []
        for i, ((a, b), fmt, shape) in enumerate(zip(chunks, fmts, plan)):
            r = cen.iloc[a:b]
            fmt = shape_format(shape, fmt)
            k, ds = (i + 3) % 6, self._date_style(fmt, i + 1)
            gs, fs = ("num", "zh")[i % 2], ("10", "zh", "yn")[i % 3]
            if shape == "public_security":
                cols = self._census_public_security(r, id_raw[a:b], ds, gs, fs)
            else:
                cols = self._census_columns(r, id_raw[a:b], k, ds, gs, fs)
            path = self.out / "landing" / "census" / f"户籍人口_{self.short}_{as_of:%Y%m%d}_{i + 1:02d}.{extension(fmt)}"
            self._write(path, fmt, shape, cols, "户籍人口", "census", as_of,
                        title="适龄儿童少年入学情况摸排表" if shape == "township_survey" else FORM_TITLES["census"])
            files.append(self._entry("census", path, fmt, -1 if shape == "public_security" else k, ds, b - a, periods,
                                     shape, as_of=as_of.isoformat(), gender_style=gs, flag_style=fs))
        return files

    def _census_columns(self, r, ids, k, ds, gs, fs) -> dict:
        h = lambda c: header("census", c, k)  # noqa: E731
        return {
            h("id_number"): ids, h("name"): r["name"].to_numpy(dtype=object),
            h("gender"): fmt_gender(r["male"].to_numpy(dtype=bool), gs),
            h("birth_date"): self._dates(r["birth"].to_numpy(dtype="datetime64[D]"), ds),
            h("township_code"): r["township_code"].to_numpy(dtype=object),
            h("village"): r["village"].to_numpy(dtype=object),
            h("residence_status"): r["residence"].to_numpy(dtype=object),
            h("is_disabled"): fmt_flag(r["is_disabled"].to_numpy(dtype=bool), fs),
            h("disability_grade"): r["disability_grade"].to_numpy(dtype=object),
            h("is_poverty_family"): fmt_flag(r["is_poverty_family"].to_numpy(dtype=bool), fs),
        }

    def _census_public_security(self, r, ids, ds, gs, fs) -> dict:
        """The public-security household extract: 户籍地址 instead of a township code, 人员状态 + 注销原因."""
        from . import reference as refmod

        info = refmod.DISTRICTS[self.district]
        towns = refmod.load(self.district)[0]
        names = dict(zip(towns["township_code"], towns["township_name"]))
        salt = np.arange(len(r)) * 7 + len(r)
        town_names = np.array([names.get(c, "") for c in r["township_code"]], dtype=object)
        cols = {
            "公民身份号码": ids, "姓名": r["name"].to_numpy(dtype=object),
            "性别": fmt_gender(r["male"].to_numpy(dtype=bool), gs),
            "出生日期": self._dates(r["birth"].to_numpy(dtype="datetime64[D]"), ds),
            "民族": np.full(len(r), "汉族", dtype=object),
            "户籍地址": shapes.household_addresses(info["city"] + info["name"], town_names,
                                               r["village"].to_numpy(dtype=object), salt),
            "村(居)委会": r["village"].to_numpy(dtype=object),
            **shapes.person_status(r["residence"].to_numpy(dtype=object), salt),
            "是否残疾": fmt_flag(r["is_disabled"].to_numpy(dtype=bool), fs),
            "残疾等级": r["disability_grade"].to_numpy(dtype=object),
            "是否建档立卡": fmt_flag(r["is_poverty_family"].to_numpy(dtype=bool), fs),
        }
        return cols

    # ------------------------------------------------------------------ attendance
    def attendance(self, codes, days, periods, msl, e_chunk, n_chunks, chunk_key, e_key_raw, e_code) -> list[dict]:
        members = [np.flatnonzero(e_chunk == c) for c in range(n_chunks)]
        plan = []
        for m, p in enumerate(periods):
            sl = msl[p]
            if sl.stop <= sl.start:
                continue
            for c in range(n_chunks):
                if len(members[c]):
                    plan.append((m, p, c, int((codes[members[c], sl] >= 0).sum())))
        fmts = assign_formats([x[3] for x in plan], [c + m for m, p, c, _ in plan])
        shape_plan = shapes.plan("attendance", [x[3] for x in plan], self.real_shapes)
        day64 = np.array(days, dtype="datetime64[D]")
        files = []
        for i, ((m, p, c, nrows), fmt, shape) in enumerate(zip(plan, fmts, shape_plan)):
            ents = members[c]
            sl = msl[p]
            blk = codes[ents, sl]
            fmt = shape_format(shape, fmt)
            k, ds = i % 6, self._date_style(fmt, i)
            st_style = ("zh", "en")[(i // 3) % 2] if i else "zh"
            keytype = str(chunk_key[c])
            path = self.out / "landing" / "attendance" / f"考勤_{self.short}_第{c + 1:02d}组_{p}.{extension(fmt)}"
            if shape == "month_grid":
                keys = np.asarray(e_key_raw[ents], dtype=object)
                names = np.array([self.names.get(idnumber.normalize(x) or "", "") for x in keys], dtype=object)
                forms = shapes.month_grid_forms(header("attendance", keytype, k), keys, names,
                                                np.asarray(e_code[ents], dtype=object), blk, day64[sl], p)
                shapes.write_xlsx_forms(path, forms)
                files.append(self._entry("attendance", path, fmt, k, "grid", nrows, [p], shape, key=keytype,
                                         status_style="grid"))
                continue
            cols = self._attendance_columns(blk, day64[sl], ents, keytype, e_key_raw, e_code, k, ds, fmt, shape,
                                            st_style)
            self._write(path, fmt, shape, cols, "考勤", "attendance", day64[sl][-1].astype(dt.date),
                        title=f"{FORM_TITLES['attendance']}（{p[:4]}年{int(p[5:])}月）")
            files.append(self._entry("attendance", path, fmt, k, ds, nrows, [p], shape, key=keytype,
                                     status_style="leave" if shape == "leave_flags" else st_style))
        return files

    def _attendance_columns(self, blk, day64, ents, keytype, e_key_raw, e_code, k, ds, fmt, shape, st_style) -> dict:
        di, ei = np.nonzero(blk.T >= 0)  # day-major, then roll-call order
        labels = np.array(["出勤", "病假", "事假", "旷课"] if st_style == "zh"
                          else ["present", "sick_leave", "personal_leave", "unexcused"], dtype=object)
        h = lambda col: header("attendance", col, k)  # noqa: E731
        dates = self._dates(day64, ds)
        if fmt in ("xlsx", "xls") or shape != shapes.TIDY:
            cols = {h(keytype): np.asarray(e_key_raw[ents], dtype=object)[ei],
                    h("school_code"): np.asarray(e_code[ents], dtype=object)[ei],
                    h("date"): np.asarray(dates, dtype=object)[di]}
            if shape == "leave_flags":
                cols.update(shapes.leave_columns(blk.T[di, ei], di * 31 + ei))
            else:
                cols[h("status")] = labels[blk.T[di, ei]]
            return cols
        key_arr = pa.array(np.asarray(e_key_raw[ents], dtype=object), pa.string())
        sch_arr = pa.array(np.asarray(e_code[ents], dtype=object), pa.string())
        return {h(keytype): key_arr.take(pa.array(ei)), h("school_code"): sch_arr.take(pa.array(ei)),
                h("date"): pa.array(np.asarray(dates, dtype=object), pa.string()).take(pa.array(di)),
                h("status"): pa.array(labels, pa.string()).take(pa.array(blk.T[di, ei].astype(np.int64)))}

    # ------------------------------------------------------------------ small sources
    def small(self, source: str, df: pd.DataFrame, label: str, periods: list[str]) -> list[dict]:
        """One tidy file; with real shapes, three files (a share of them shaped) holding the same rows."""
        idx = {"casework": 0, "exemptions": 1, "home_teaching": 2}[source]
        ids = self._dirty(df["id_number"].to_numpy(dtype=object)) if len(df) else np.array([], dtype=object)
        parts = shapes.split_small(len(df), self.real_shapes)
        plan = shapes.plan(source, [b - a for a, b in parts], self.real_shapes)
        files = []
        for j, ((a, b), shape) in enumerate(zip(parts, plan)):
            fmt = shape_format(shape, ("xlsx", "csv-gbk", "csv-utf8-bom")[idx])
            k = (self.seed + idx + j) % 6
            ds = ("excel_date", "chinese", "slash")[idx] if fmt == ("xlsx", "csv-gbk", "csv-utf8-bom")[idx] \
                else self._date_style(fmt, idx + j)
            part = df.iloc[a:b]
            if shape == "deferral_roster":
                cols = self._deferral_roster(part, ids[a:b], ds)
            else:
                cols = self._small_columns(source, part, ids[a:b], k, ds, fmt)
            suffix = f"_{j + 1}" if len(parts) > 1 else ""
            path = self.out / "landing" / source / f"{label}_{self.short}{suffix}.{extension(fmt)}"
            as_of = dt.date.fromisoformat(periods[-1] + "-01")
            self._write(path, fmt, shape, cols, label, source, as_of)
            files.append(self._entry(source, path, fmt, -1 if shape == "deferral_roster" else k, ds, b - a, periods,
                                     shape))
        return files

    def _small_columns(self, source: str, df: pd.DataFrame, ids: np.ndarray, k: int, ds: str, fmt: str) -> dict:
        h = lambda c: header(source, c, k)  # noqa: E731
        date = lambda c: self._dates(df[c].to_numpy(dtype="datetime64[D]"), ds)  # noqa: E731
        text = lambda c: df[c].to_numpy(dtype=object)  # noqa: E731
        if source == "casework":
            return {h("id_number"): ids, h("attempt_date"): date("attempt_date"), h("method"): text("method"),
                    h("unit"): text("unit"), h("result"): text("result"), h("dropout_reason"): text("dropout_reason")}
        if source == "exemptions":
            return {h("id_number"): ids, h("kind"): text("kind"), h("approved_on"): date("approved_on"),
                    h("valid_until"): date("valid_until"), h("reason"): text("reason"),
                    h("approved_by"): text("approved_by")}
        hours = df["class_hours"].to_numpy(dtype=float)
        return {h("id_number"): ids, h("visit_date"): date("visit_date"),
                h("class_hours"): (hours if fmt in ("xlsx", "xls") else
                                   pd.Series(hours, dtype=float).map("{:g}".format).to_numpy(dtype=object)),
                h("teacher"): text("teacher")}

    def _deferral_roster(self, df: pd.DataFrame, ids: np.ndarray, ds: str) -> dict:
        """A deferral roster: 申请类别, 批准时间 and 缓学期限 as a month range instead of 有效期至."""
        approved = df["approved_on"].to_numpy(dtype="datetime64[D]")
        return {"身份证件号": ids, "申请类别": df["kind"].to_numpy(dtype=object),
                "申请原因": df["reason"].to_numpy(dtype=object), "批准时间": self._dates(approved, ds),
                "缓学期限": shapes.term_ranges(approved, df["valid_until"].to_numpy(dtype="datetime64[D]")),
                "审批单位": df["approved_by"].to_numpy(dtype=object)}
