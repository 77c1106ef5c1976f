"""Files in the shapes bureaus really send (DESIGN.md "Files as bureaus really send them", REAL_EXPORTS.md).

A share of the generated files (``real_shapes``, 0 by default) is written in one of these shapes instead of
the tidy table. A shaped file holds exactly the records its tidy twin would hold, so the ground truth does not
change; only the layout, header names and value spellings do. Per source:

- registry: ``national`` (the national registry system's export: 个人标识码 = the G/J/L student number, a
  different local 学籍辅号, ``★`` required marks and line breaks in headers, 出生日期 ``20110101``, 性别 1/2,
  入学年月 ``201409``, 是否留守儿童 as 非留守儿童/单亲留守儿童/双亲留守儿童, 学籍状态 words);
  ``legacy_xls`` (Excel 97-2003 with a title row, a 合计 row and 填表人/审核人 lines); ``per_grade`` (one
  visible sheet per grade plus a hidden sheet left from last term, first, whose stale rows - the same
  children, all 辍学 - must not count; XLSX, every other one a legacy .xls);
- attendance: ``leave_flags`` (考勤状态 出勤/迟到/早退/旷课/请假 with 是否请假 + 请假类型 病假/事假; 迟到 and 早退
  are present); ``month_grid`` (the class teacher's grid: one sheet per school, the month in the title line,
  ``学校标识码：…`` in a line, one row per child with its name, day columns 1..31 holding √/病/事/旷, blank =
  no roll call);
  ``legacy_xls``;
- census: ``public_security`` (公民身份号码, 户籍地址 naming the township, no township code, 人员状态
  正常/注销 with 注销原因 迁出/死亡/出国; the public-security register does not know who is away, so children
  the township found 外出 keep 外出 in 人员状态); ``township_survey`` (摸排表: title, 填报单位（盖章）and date
  lines, ``（必填）`` notes in the required headers, 合计, 填表人/复核人); ``legacy_xls``;
- exemptions: ``deferral_roster`` (申请类别, 批准时间, 缓学期限 ``2026.02-2026.12``: months, the end month
  holds the valid-until day); ``titled_xlsx``; ``legacy_xls``;
- casework and home_teaching: ``titled_xlsx``, ``legacy_xls``, ``titled_csv`` (title and 合计 rows in a
  GBK CSV).

Which files: with share ``s`` of ``n`` files, file ``i`` is shaped when ``floor((i+1)s) > floor(is)`` (spread
evenly; ``s = 1`` shapes every file), rotating through the source's shapes; a shape is skipped for a file it
cannot hold (an .xls sheet holds 65,536 rows; XLSX shapes stay under ``XLSX_MAX_ROWS``), and the file stays
tidy when none fits. When ``s > 0`` the small sources (one file each when tidy) are split into three files so
that they too can carry three shapes.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from kongchuo.readers import column_letter
from kongchuo.sources import SPECS, normalize_header

TIDY = "tidy"
SHAPES: dict[str, tuple[str, ...]] = {
    "registry": ("national", "legacy_xls", "per_grade"),
    "attendance": ("leave_flags", "month_grid", "legacy_xls"),
    "census": ("public_security", "township_survey", "legacy_xls"),
    "exemptions": ("deferral_roster", "titled_xlsx", "legacy_xls"),
    "casework": ("titled_xlsx", "legacy_xls", "titled_csv"),
    "home_teaching": ("titled_xlsx", "legacy_xls", "titled_csv"),
}
XLS_MAX_ROWS = 60_000  # an .xls sheet holds 65,536 rows; room for titles and footers
XLSX_SHAPE_MAX_ROWS = 30_000  # as writers.XLSX_MAX_ROWS: a reader loads a whole sheet, big files stay CSV
# the largest file (data rows) each shape takes; shapes that reuse the tidy file's format take any size
MAX_ROWS = {"legacy_xls": XLS_MAX_ROWS, "national": XLSX_SHAPE_MAX_ROWS, "per_grade": XLSX_SHAPE_MAX_ROWS, "township_survey": XLSX_SHAPE_MAX_ROWS,
            "titled_xlsx": XLSX_SHAPE_MAX_ROWS, "deferral_roster": XLSX_SHAPE_MAX_ROWS,
            "month_grid": 40 * XLSX_SHAPE_MAX_ROWS}  # a grid row holds a child's whole month (~20 rows)
SMALL_PARTS = 3
SIGNERS = ("刘老师", "张主任")  # staff who sign forms: adults, fixed placeholders


def shaped_indices(n: int, share: float) -> list[int]:
    """The files, spread evenly, that take a real shape."""
    if share <= 0:
        return []
    share = min(1.0, share)
    return [i for i in range(n) if math.floor((i + 1) * share + 1e-9) > math.floor(i * share + 1e-9)]


def plan(source: str, rows: Sequence[int], share: float) -> list[str]:
    """The shape of each file (``tidy`` or one of ``SHAPES[source]``), rotating through the shapes that fit."""
    out = [TIDY] * len(rows)
    shapes, turn = SHAPES[source], 0
    for i in shaped_indices(len(rows), share):
        for j in range(len(shapes)):
            shape = shapes[(turn + j) % len(shapes)]
            if rows[i] <= MAX_ROWS.get(shape, math.inf):
                out[i], turn = shape, turn + j + 1
                break
    return out


# ---------------------------------------------------------------------------------------------- forms

@dataclass
class Form:
    """One sheet of a filled-in form: lines above the header, the header, data columns, lines below."""
    header: list[str]
    columns: list[Sequence[object]]
    above: list[list[object]] = field(default_factory=list)
    below: list[list[object]] = field(default_factory=list)
    name: str = "Sheet1"
    hidden: bool = False

    def rows(self) -> Iterable[list[object]]:
        yield from self.above
        yield list(self.header)
        for row in zip(*self.columns):
            yield [_plain(v) for v in row]
        yield from self.below

    @property
    def n(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def _plain(v: object) -> object:
    """numpy scalars and datetime64 as Python values (what the cell writers, xlwt and csv take)."""
    if isinstance(v, np.datetime64):
        return v.astype("datetime64[D]").astype(dt.date)
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def titled(form: Form, title: str, unit: str, as_of: dt.date, checker: str = "审核人", counted: str = "人") -> Form:
    """A county office form: title, 填报单位/date line, header, data, 合计 row, signature line."""
    width = max(len(form.header), 4)
    form.above = [[title] + [None] * (width - 1),
                  [f"填报单位（盖章）：{unit}", None, None, f"填报日期：{as_of.year}年{as_of.month}月{as_of.day}日"]]
    # the count goes in the last column: a cell under the ID or student-number header would make it a record
    form.below = [["合计"] + [None] * (width - 2) + [f"共{form.n}{counted}"],
                  [f"填表人：{SIGNERS[0]}", None, None, f"{checker}：{SIGNERS[1]}"]]
    return form


def mark_required(cols: dict[str, Sequence[object]], source: str) -> dict[str, Sequence[object]]:
    """Headers of the source's required columns with a ``（必填）`` note, as township forms print them."""

    spec = SPECS[source]
    aliases, required = spec.alias_map, set(spec.required) | set(spec.one_of)
    return {(f"{h}（必填）" if aliases.get(normalize_header(h)) in required else h): v for h, v in cols.items()}


def numbered(header: dict[str, Sequence[object]]) -> tuple[list[str], list[Sequence[object]]]:
    """Header and columns with a leading 序号 (forms number their rows; 合计 goes in that column)."""
    n = len(next(iter(header.values()))) if header else 0
    return ["序号", *header], [np.arange(1, n + 1, dtype=np.int64).astype(object), *header.values()]


def write_xlsx_forms(path: Path, forms: list[Form]) -> None:
    """One workbook, one sheet per form (hidden forms as hidden sheets), opening on the first visible one.

    Streams the XML itself (inline strings, one date style), like :func:`writers.write_xlsx`: with openpyxl's
    per-cell objects these forms took longer than the rest of the generator. Byte-deterministic (fixed zip
    times)."""
    from .writers import _FIXED_TIME, _RELS, _STYLES

    path.parent.mkdir(parents=True, exist_ok=True)
    visible = [i for i, f in enumerate(forms) if not f.hidden]
    parts = [("[Content_Types].xml", _content_types(len(forms))), ("_rels/.rels", _RELS),
             ("xl/workbook.xml", _workbook_xml(forms, visible[0] if visible else 0)),
             ("xl/_rels/workbook.xml.rels", _workbook_rels(len(forms))), ("xl/styles.xml", _STYLES)]
    parts += [(f"xl/worksheets/sheet{i + 1}.xml", _sheet_xml(form)) for i, form in enumerate(forms)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("utf-8"))


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_EPOCH = dt.date(1899, 12, 30)


def _content_types(n: int) -> str:
    sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
                     f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(n))
    return (_XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' + sheets +
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')


def _workbook_xml(forms: list[Form], active: int) -> str:
    hidden = ' state="hidden"'
    sheets = "".join(f'<sheet name="{_esc(f.name[:31])}" sheetId="{i + 1}"{hidden if f.hidden else ""} '
                     f'r:id="rId{i + 1}"/>' for i, f in enumerate(forms))
    return (_XML + f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">'
            f'<bookViews><workbookView activeTab="{active}" firstSheet="{active}"/></bookViews>'
            f"<sheets>{sheets}</sheets></workbook>")


def _workbook_rels(n: int) -> str:
    rels = "".join(f'<Relationship Id="rId{i + 1}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                   for i in range(n))
    return (_XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' + rels +
            f'<Relationship Id="rId{n + 1}" Type="{_DOC_RELS}/styles" Target="styles.xml"/></Relationships>')


def _sheet_xml(form: Form) -> str:

    rows, width = [], 1
    for r, row in enumerate(form.rows(), start=1):
        cells = "".join(_cell_xml(f"{column_letter(c)}{r}", v) for c, v in enumerate(row))
        width = max(width, len(row))
        rows.append(f'<row r="{r}">{cells}</row>')
    last = f"{column_letter(width - 1)}{max(len(rows), 1)}"
    return (_XML + f'<worksheet xmlns="{_MAIN}"><dimension ref="A1:{last}"/><sheetData>' + "".join(rows)
            + "</sheetData></worksheet>")


def _cell_xml(ref: str, v: object) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, (dt.date, dt.datetime)):
        day = v.date() if isinstance(v, dt.datetime) else v
        return f'<c r="{ref}" s="1"><v>{(day - _EPOCH).days}</v></c>'
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, (int, float)):
        return f'<c r="{ref}"><v>{v:g}</v></c>' if isinstance(v, float) else f'<c r="{ref}"><v>{v}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_esc(str(v))}</t></is></c>'


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_xls_forms(path: Path, forms: list[Form]) -> None:
    """A legacy Excel 97-2003 workbook (xlwt); dates as date cells."""
    import xlwt

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for form in forms:
        ws = book.add_sheet(form.name[:31])
        if form.hidden:
            ws.visibility = 1
        for r, row in enumerate(form.rows()):
            for c, v in enumerate(row):
                if v is None or v == "":
                    continue
                if isinstance(v, (dt.date, dt.datetime)):
                    ws.write(r, c, v, date_style)
                else:
                    ws.write(r, c, v)
    book.save(str(path))


def write_csv_form(path: Path, form: Form, encoding: str) -> None:
    """A form saved as CSV by Excel: the title and signature lines become rows of their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in form.rows():
        w.writerow(["" if v is None else v for v in row])
    path.write_bytes(buf.getvalue().encode(encoding))


# ---------------------------------------------------------------------------------------------- registry

_LEFT_BEHIND = np.array(["非留守儿童", "单亲留守儿童", "双亲留守儿童"], dtype=object)


def left_behind_words(flag: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """是否留守儿童 answered with the national export's words (单亲 or 双亲 for the left-behind)."""
    kind = np.where(np.asarray(flag, dtype=bool), 1 + np.asarray(salt, dtype=np.int64) % 2, 0)
    return _LEFT_BEHIND[kind]


def aux_student_numbers(school_code: np.ndarray, grade: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """学籍辅号: a school-assigned number (school, grade, class, seat), never the national student number."""
    seat = np.arange(len(school_code)) % 60 + 1
    return np.array([f"{str(s)[-4:]}{int(g):02d}{int(c):02d}{int(k):02d}"
                     for s, g, c, k in zip(school_code, grade, cls, seat)], dtype=object)


def yyyymmdd(values: np.ndarray) -> np.ndarray:
    return np.char.replace(np.datetime_as_string(np.asarray(values, dtype="datetime64[D]"), unit="D"),
                           "-", "").astype(object)


def yyyymm(values: np.ndarray) -> np.ndarray:
    return np.array([s[:6] for s in yyyymmdd(values)], dtype=object)


def stale_rows(columns: dict[str, np.ndarray], status_header: str, n: int = 20) -> dict[str, np.ndarray]:
    """Rows of last term's sheet: the first ``n`` records again, all 辍学 (they must never count)."""
    out = {h: np.asarray(v, dtype=object)[:n] for h, v in columns.items()}
    out[status_header] = np.full(len(out[status_header]), "辍学", dtype=object)
    return out


GRADE_SHEETS = ("", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级")


def per_grade_forms(columns: dict[str, np.ndarray], grade: np.ndarray, status_header: str) -> list[Form]:
    """One visible sheet per grade, and last term's hidden sheet first (a reader must skip it)."""
    header = list(columns)
    stale = stale_rows(columns, status_header)
    forms = [Form(header, list(stale.values()), name="2025年秋季学期（旧）", hidden=True)]
    g = np.asarray(grade, dtype=np.int64)
    for level in sorted(set(g.tolist())):
        sel = np.flatnonzero(g == level)
        forms.append(Form(header, [np.asarray(v, dtype=object)[sel] for v in columns.values()],
                          name=GRADE_SHEETS[level]))
    return forms


# ---------------------------------------------------------------------------------------------- attendance

_STATUS_WORDS = np.array(["出勤", "请假", "请假", "旷课"], dtype=object)
_LEAVE_TYPE = np.array(["", "病假", "事假", ""], dtype=object)
_GRID_MARKS = np.array(["√", "病", "事", "旷"], dtype=object)


def leave_columns(codes: np.ndarray, salt: np.ndarray) -> dict[str, np.ndarray]:
    """考勤状态 with 请假 (its kind in 请假类型) and 迟到/早退 for some present days, plus 是否请假."""
    c = np.asarray(codes, dtype=np.int64)
    status = _STATUS_WORDS[c].copy()
    s = np.asarray(salt, dtype=np.int64) % 40
    status[(c == 0) & (s == 7)] = "迟到"
    status[(c == 0) & (s == 23)] = "早退"
    on_leave = np.where((c == 1) | (c == 2), "是", "否").astype(object)
    return {"考勤状态": status, "是否请假": on_leave, "请假类型": _LEAVE_TYPE[c]}


def month_grid_forms(key_header: str, keys: np.ndarray, names: np.ndarray, schools: np.ndarray,
                     block: np.ndarray, days: np.ndarray, period: str) -> list[Form]:
    """The class teachers' month grids of one group of schools: one sheet per school.

    ``block`` is (children × the month's school days) of status codes, -1 = no roll call; ``days`` the dates;
    ``names`` the children's names as the registry has them ('' for a child it does not know)."""
    year, month = int(period[:4]), int(period[5:7])
    n_days = calendar.monthrange(year, month)[1]
    day_of = np.asarray(days, dtype="datetime64[D]").astype(object)
    col_of_day = np.array([d.day - 1 for d in day_of], dtype=np.int64)
    forms = []
    for code in sorted(set(schools.tolist())):
        sel = np.flatnonzero((schools == code) & (block >= 0).any(axis=1))
        if not len(sel):
            continue
        grid = np.full((len(sel), n_days), None, dtype=object)
        sub = block[sel]
        r, d = np.nonzero(sub >= 0)
        grid[r, col_of_day[d]] = _GRID_MARKS[sub[r, d]]
        header = ["序号", key_header, "姓名", *[str(k) for k in range(1, n_days + 1)]]
        cols = [np.arange(1, len(sel) + 1).astype(object), np.asarray(keys, dtype=object)[sel],
                np.asarray(names, dtype=object)[sel], *[grid[:, k] for k in range(n_days)]]
        above = [[f"{year}年{month}月学生考勤表"], [f"学校标识码：{code}"]]
        below = [["说明：√ 出勤，病 病假，事 事假，旷 旷课，空白为当日未点名"], [f"制表：{SIGNERS[0]}（班主任）"]]
        forms.append(Form(header, cols, above, below, name=str(code)))
    return forms


# ---------------------------------------------------------------------------------------------- census

def person_status(residence: np.ndarray, salt: np.ndarray) -> dict[str, np.ndarray]:
    """人员状态 正常/注销 with 注销原因 (迁出, some of them 出国; 死亡); 外出 stays 外出 (see module doc)."""
    res = np.asarray(residence, dtype=object)
    gone = (res == "迁出") | (res == "死亡")
    state = np.where(gone, "注销", np.where(res == "外出", "外出", "正常")).astype(object)
    abroad = (res == "迁出") & (np.asarray(salt, dtype=np.int64) % 5 == 0)
    reason = np.where(gone, np.where(abroad, "出国", res), "").astype(object)
    return {"人员状态": state, "注销原因": reason}


def household_addresses(prefix: str, town_names: np.ndarray, villages: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """户籍地址: district, township name, village and house number (no township code anywhere)."""
    number = np.asarray(salt, dtype=np.int64) % 97 + 1
    return np.array([f"{prefix}{t}{v}{k}号" for t, v, k in zip(town_names, villages, number)], dtype=object)


# ---------------------------------------------------------------------------------------------- exemptions

def term_ranges(start: np.ndarray, until: np.ndarray) -> np.ndarray:
    """缓学期限 ``2026.02-2026.12`` when the approval is a month's first day and the deferral ends on a month's
    last day; else with days (``2026.02.10-2026.05.15``), so "in force on the cut-off" is the same as the truth's."""
    a = np.datetime_as_string(np.asarray(start, dtype="datetime64[D]"), unit="D")
    b = np.datetime_as_string(np.asarray(until, dtype="datetime64[D]"), unit="D")
    out = []
    for x, y in zip(a, b):
        month_end = (np.datetime64(y) + 1).astype(str)[8:10] == "01"
        if x[8:10] == "01" and month_end:
            out.append(f"{x[:4]}.{x[5:7]}-{y[:4]}.{y[5:7]}")
        else:
            out.append(f"{x[:4]}.{x[5:7]}.{x[8:10]}-{y[:4]}.{y[5:7]}.{y[8:10]}")
    return np.array(out, dtype=object)


def split_small(n: int, share: float) -> list[tuple[int, int]]:
    """Row ranges of the files a small source is written as: one file when tidy, three when shaped."""
    if share <= 0 or n < SMALL_PARTS:
        return [(0, n)]
    bounds = [n * j // SMALL_PARTS for j in range(SMALL_PARTS + 1)]
    return list(zip(bounds, bounds[1:]))
