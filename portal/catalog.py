"""The report catalogue: what is under ``$KONGCHUO_HOME/reports/<period>/``, who may see it, and its status.

Only what the pipeline wrote is served: a period folder's ``manifest.json`` (assets/manifest.py) lists each
file the report assets wrote, with its report id (R1…R8), SHA-256 and, for R5, R7 and R8, its township code
(R7: also its school code). A workbook
is a catalogue entry when the manifest lists it and its bytes still have the listed hash; its kind is the
manifest's report id, never a word in the file name. Anything else in the folder (a workbook saved there by
hand, a file changed after the run, a run still in progress) is a stray file (未登记文件): never served,
shown by name to district staff only. Each sheet of an R5 workbook that carries a school code (its
sheet-scoped defined name ``KC_SCHOOL_CODE``) is also an entry of kind ``R5S`` (``R8S`` for R8 学籍异动梳理
workbooks): the school's own extract,
generated on the fly; which school receives it goes by that code, never by the sheet name.

Report ids are opaque: the first 32 hex digits of HMAC-SHA256(portal secret, "<period>/<file>#<sheet>").
They stay the same when a report is rebuilt, cannot be forged or guessed, and are looked up in the
catalogue; a download never takes a path from the request. Symlinks and partial files are ignored.
``rebuilt`` 补跑重建 marks a file written after the manifest of a later period: an earlier period was re-run,
so copies downloaded before are out of date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import stat
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from kongchuo.districts import month_label
from kongchuo.labels import SOURCE_LABELS
from kongchuo.reports_catalog import AUDIENCES, PORTAL_KIND_LABELS, REPORT_AUDIENCES, REPORT_NAMES

TZ = ZoneInfo("Asia/Shanghai")
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2]|Q[1-4])(-(0[1-9]|[12]\d|3[01]))?$")  # month, quarter, day (R7)
REPORT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_EXTRACTS = 2000  # cached school extracts (a few KB each)
SCHOOL_CODE_NAME = "KC_SCHOOL_CODE"  # written by assets/fix_list.py (school_code_label)
_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"

# One Chinese name per report (kongchuo/reports_catalog.py); R5S is one school's sheet of an R5 workbook.
KIND_LABELS: dict[str, str] = {**{k: v for k, v in PORTAL_KIND_LABELS.items() if k != "other"},
                               "R7": REPORT_NAMES["R7"]}
KIND_ORDER = {k: i for i, k in enumerate(KIND_LABELS)}
SCHOOL_SHEET_KINDS = {"R5": "R5S", "R8": "R8S"}  # workbooks with a sheet per school → the kind of one sheet
REPORT_KINDS = frozenset(KIND_LABELS) - set(SCHOOL_SHEET_KINDS.values())  # the reports this portal knows
# Any other report id is served when its manifest entry names its Chinese name and audience (a report added by
# one spec module: assets/report_skeleton.ReportSpec), else it is a stray.
NEW_REPORT_RE = re.compile(r"^R[0-9]{1,3}$")

STATUS_LABELS = {"current": "当前版本", "draft": "草稿（待补全）"}
STRAY_REASONS = {"unlisted": "未登记文件（不是本系统生成的文件，或生成尚未完成）",
                 "changed": "内容与清单不符（生成后被改动，或正在重新生成）"}


def period_key(period: str) -> tuple[int, int, int]:
    """Sort key: months by month; a day (R7) after its month's monthly folder; a quarter after its last month."""
    year, part, *day = period.split("-")
    if part.startswith("Q"):
        return int(year), int(part[1]) * 3, 99
    return int(year), int(part), int(day[0]) if day else 0


def period_label(period: str) -> str:
    if len(period) == 10:  # a day's R7 folder
        return f"{period[:4]}年{period[5:7]}月{period[8:10]}日"
    return month_label(period)


@dataclass(frozen=True)
class Report:
    id: str
    period: str
    kind: str
    file: str
    path: Path = field(repr=False)
    district: str
    title: str
    township: str | None
    sheet: str | None
    bytes: int | None          # size of what a download serves (an R5S extract: filled in by Catalogue.sized)
    mtime: float
    mtime_ns: int
    sha256: str                # of the file on disk, equal to the manifest's
    status: str
    rebuilt: bool
    manifest_sha256: str | None
    school_code: str | None = None
    township_code: str | None = None
    district_code: str | None = None
    school_name: str | None = None
    schools: tuple[str, ...] = ()   # R5: the school names of its sheets (catalogue search)
    sources: tuple[dict, ...] = field(default=(), repr=False)
    label: str | None = None        # the manifest's name of the report (else KIND_LABELS)
    audience: str = "district"      # who may read it (kongchuo.reports_catalog.AUDIENCES; may_access)

    @property
    def kind_label(self) -> str:
        return self.label or KIND_LABELS[self.kind]

    @property
    def period_label(self) -> str:
        return period_label(self.period)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def built_at(self) -> str:
        return dt.datetime.fromtimestamp(self.mtime, TZ).strftime("%Y-%m-%d %H:%M")

    @property
    def display_name(self) -> str:
        """The name a download is saved under."""
        if self.sheet is None:
            return self.file
        return f"{self.file[:-5]}_{self.school_code}.xlsx"

    @property
    def audit_file(self) -> str:
        return self.file if self.sheet is None else f"{self.file}#{self.sheet}"

    def matches(self, query: str) -> bool:
        """Catalogue search by school or township name (also file name and title)."""
        q = query.strip()
        words = (self.township or "", self.title, self.file, self.sheet or "", self.school_name or "", *self.schools)
        return not q or any(q in w for w in words)


@dataclass(frozen=True)
class Stray:
    """A workbook in a report folder that the manifest does not vouch for: never served."""

    period: str
    file: str
    bytes: int
    mtime: float
    reason: str

    @property
    def reason_label(self) -> str:
        return STRAY_REASONS[self.reason]

    @property
    def built_at(self) -> str:
        return dt.datetime.fromtimestamp(self.mtime, TZ).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Manifest:
    listed: dict[str, dict]          # file → {sha256, report, label, audience, township_code, school_code}
    mtime: float | None
    sources: tuple[dict, ...]
    district_code: str | None
    complete: bool = True            # False: built while a delivery was in quarantine (drafts, 草稿)


class Catalogue:
    """Scans the reports folder on every call (cheap); file hashes, R5 sheet codes and school extracts are
    cached per file version."""

    def __init__(self, reports_root: Path, secret: bytes, school_names=None):
        self.root = Path(reports_root)
        self._id_key = hmac.new(secret, b"kongchuo-portal-report-id", hashlib.sha256).digest()
        self._cache: dict[tuple[str, str], tuple[int, int, object]] = {}
        self._extracts: OrderedDict[tuple[str, str], bytes] = OrderedDict()  # least recently used dropped first
        self._lock = threading.Lock()
        self._school_names = school_names or (lambda code: None)

    def report_id(self, period: str, file: str, sheet: str | None = None) -> str:
        msg = f"{period}/{file}#{sheet or ''}".encode()
        return hmac.new(self._id_key, msg, hashlib.sha256).hexdigest()[:32]

    # ---- cached per file version
    def _cached(self, what: str, path: Path, st: os.stat_result, compute):
        key = (what, str(path))
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
                return hit[2]
        value = compute()
        with self._lock:
            self._cache[key] = (st.st_size, st.st_mtime_ns, value)
        return value

    def _sha(self, path: Path, st: os.stat_result) -> str:
        return self._cached("sha", path, st, lambda: _sha256_path(path))

    def _sheets(self, path: Path, st: os.stat_result) -> tuple[tuple[str, str | None], ...]:
        return self._cached("sheets", path, st, lambda: sheet_school_codes(path))

    # ---- the scan
    def _folders(self) -> list[os.DirEntry]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return [e for e in entries if PERIOD_RE.match(e.name) and e.is_dir(follow_symlinks=False)]

    def scan(self) -> list[Report]:
        return self.scan_all()[0]

    def scan_all(self) -> tuple[list[Report], list[Stray]]:
        """(served entries, stray files) of every period folder."""
        folders = sorted(self._folders(), key=lambda e: period_key(e.name))
        manifests = {f.name: _read_manifest(Path(f.path)) for f in folders}
        # Latest manifest time among later periods, for the "rebuilt" flag.
        later_manifest: dict[str, float] = {}
        latest = 0.0
        for f in reversed(folders):
            later_manifest[f.name] = latest
            latest = max(latest, manifests[f.name].mtime or 0.0)
        reports: list[Report] = []
        strays: list[Stray] = []
        for folder in folders:
            for entry in _workbooks(folder.path):
                found = self._entry(folder.name, entry, manifests[folder.name], later_manifest[folder.name])
                (strays if isinstance(found, Stray) else reports).extend(
                    [found] if isinstance(found, Stray) else found)
        reports.sort(key=lambda r: (tuple(-x for x in period_key(r.period)), kind_order(r.kind),
                                    r.township or "", r.file, r.sheet or ""))
        strays.sort(key=lambda s: (tuple(-x for x in period_key(s.period)), s.file))
        return reports, strays

    def _entry(self, period: str, entry: os.DirEntry, manifest: Manifest, later: float) -> list[Report] | Stray:
        path = Path(entry.path)
        st = entry.stat(follow_symlinks=False)
        listed = manifest.listed.get(entry.name)
        audience = listed_audience(listed)
        if audience is None:
            return Stray(period, entry.name, st.st_size, st.st_mtime, "unlisted")
        sha = self._sha(path, st)
        if listed.get("sha256") != sha:
            return Stray(period, entry.name, st.st_size, st.st_mtime, "changed")
        parts = entry.name[:-5].split("_")
        district, title = (parts[0], parts[2]) if len(parts) >= 3 else ("", entry.name[:-5])
        township = "_".join(parts[3:]) or None if len(parts) > 3 else None
        kind = str(listed["report"])
        scoped = audience in ("township", "school")
        common = dict(period=period, file=entry.name, path=path, district=district, title=title,
                      township=township, mtime=st.st_mtime, mtime_ns=st.st_mtime_ns, sha256=sha,
                      status="current" if manifest.complete else "draft",
                      rebuilt=bool(later) and st.st_mtime > later + 1.0, manifest_sha256=sha,
                      township_code=listed.get("township_code") if scoped else None,
                      district_code=manifest.district_code, sources=manifest.sources)
        label = listed.get("label") if kind not in KIND_LABELS else None
        if kind not in SCHOOL_SHEET_KINDS:  # one workbook (R7: per school, scoped by the school code listed)
            return [Report(id=self.report_id(period, entry.name), kind=kind, sheet=None, bytes=st.st_size,
                           school_code=listed.get("school_code") if audience == "school" else None,
                           label=label, audience=audience, **common)]
        sheets = [(sheet, code, self._school_names(code) or sheet) for sheet, code in self._sheets(path, st)]
        out = [Report(id=self.report_id(period, entry.name), kind=kind, sheet=None, bytes=st.st_size,
                      schools=tuple(name for _, _, name in sheets), audience=audience, **common)]
        out += [Report(id=self.report_id(period, entry.name, sheet), kind=SCHOOL_SHEET_KINDS[kind], sheet=sheet,
                       bytes=None, school_code=code, school_name=name, audience="school", **common)
                for sheet, code, name in sheets if code]
        return out

    def get(self, report_id: str) -> Report | None:
        if not REPORT_ID_RE.match(report_id or ""):
            return None
        for report in self.scan():
            if hmac.compare_digest(report.id, report_id):
                return report
        return None

    # ---- what a download serves
    def extract(self, report: Report, fh: IO[bytes]) -> bytes:
        """The school's own sheet of an R5 workbook (``fh``, already checked against the manifest hash);
        cached per workbook version, so the listed size is the size served."""
        key = (report.sha256, report.sheet or "")
        with self._lock:
            hit = self._extracts.get(key)
            if hit is not None:
                self._extracts.move_to_end(key)
        if hit is None:
            hit = school_extract(fh, report.sheet or "")
            with self._lock:
                self._extracts[key] = hit
                while len(self._extracts) > MAX_EXTRACTS:
                    self._extracts.popitem(last=False)
        return hit

    def sized(self, report: Report) -> Report:
        """``report`` with ``bytes`` = the size a download of it serves."""
        if report.bytes is not None:
            return report
        with open_report(report) as fh:
            if sha256_stream(fh) != report.sha256:
                return report
            return replace(report, bytes=len(self.extract(report, fh)))


def _workbooks(folder: str) -> list[os.DirEntry]:
    """Regular ``*.xlsx`` files of a folder (no symlinks, no ``.partial-*`` or other dot files)."""
    return [e for e in os.scandir(folder) if not e.name.startswith(".") and e.name.endswith(".xlsx")
            and e.is_file(follow_symlinks=False)]


def sheet_school_codes(path: Path) -> tuple[tuple[str, str | None], ...]:
    """(sheet name, school code) of each sheet, the code from the sheet's defined name ``KC_SCHOOL_CODE``
    (read from xl/workbook.xml; no cell text is consulted). A broken workbook lists no sheets."""
    try:
        with zipfile.ZipFile(path) as zf:
            root = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return ()
    names = [s.get("name") or "" for s in root.iter(f"{_SHEET_NS}sheet")]
    codes: dict[int, str] = {}
    for dn in root.iter(f"{_SHEET_NS}definedName"):
        local = dn.get("localSheetId")
        text = (dn.text or "").strip()
        if dn.get("name") == SCHOOL_CODE_NAME and local is not None and local.isdigit():
            m = re.fullmatch(r'"(\d{10})"', text)
            if m:
                codes[int(local)] = m.group(1)
    return tuple((name, codes.get(i)) for i, name in enumerate(names))


# ---------------------------------------------------------------------------------------------- access

def _in_district(user, report: Report) -> bool:
    if user.district_code:
        return report.district_code == user.district_code
    return not user.district  # a district name that did not resolve: nothing


def kind_order(kind: str) -> tuple[int, str]:
    """Catalogue order: the known reports in KIND_LABELS order, then new ones by id."""
    return KIND_ORDER.get(kind, len(KIND_ORDER)), kind


def listed_audience(listed: dict | None) -> str | None:
    """Who may read a manifest entry (kongchuo.reports_catalog.AUDIENCES); None: not a report the portal
    serves (a stray). A known report keeps its audience when an older manifest does not name one; a new report
    must carry its name and a known audience."""
    if not listed:
        return None
    kind, audience = str(listed.get("report")), listed.get("audience")
    if kind in REPORT_KINDS:
        return audience if audience in AUDIENCES else REPORT_AUDIENCES[kind]
    if NEW_REPORT_RE.match(kind) and audience in AUDIENCES and str(listed.get("label") or "").strip():
        return str(audience)
    return None


def may_access(user, report: Report) -> bool:
    """By codes only, from the report's audience (the manifest's, from its spec). District staff: everything
    (of their district, if the user names one). Township staff: district totals (R1, R2) and the files of their
    township code (R5, R7, R8 workbooks and their school sheets). School staff: files of the ``school`` audience
    carrying their school code (R5 and R8 sheets, R7 每日预警名单), nothing else; R8's district summary names no
    township and is for district staff. Auditors: district totals. A user whose names did not resolve: nothing."""
    if getattr(user, "scope_error", None) or not _in_district(user, report):
        return False
    audience = report.audience
    if user.role == "district":
        return True
    if user.role == "township":
        if audience == "district_totals":
            return True
        return (audience in ("township", "school") and bool(user.township_code)
                and report.township_code == user.township_code)
    if user.role == "school":
        return audience == "school" and bool(user.school_code) and report.school_code == user.school_code
    if user.role == "auditor":  # read-only: the district totals; cases are traced on the 追溯 pages, masked
        return audience == "district_totals"
    return False


def listed_for(user, reports: list[Report]) -> list[Report]:
    """What the catalogue page shows: accessible entries; school sheets only to school users (the others have
    the whole workbook)."""
    out = []
    for r in reports:
        if not may_access(user, r):
            continue
        if r.kind in ("R5S", "R8S") and user.role != "school":
            continue
        out.append(r)
    return out


def strays_for(user, strays: list[Stray]) -> list[Stray]:
    """Stray files are listed (never served) to district staff only."""
    return strays if user.role == "district" and not getattr(user, "scope_error", None) else []


# ---------------------------------------------------------------------------------------------- files

def open_report(report: Report) -> IO[bytes]:
    """Open the catalogued file (never a symlink); the caller streams it and closes it."""
    fd = os.open(report.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileNotFoundError(report.file)
    return os.fdopen(fd, "rb")


def sha256_stream(fh: IO[bytes]) -> str:
    h = hashlib.sha256()
    fh.seek(0)
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    fh.seek(0)
    return h.hexdigest()


def school_extract(fh: IO[bytes], sheet: str) -> bytes:
    """The township's R5 workbook reduced to one school's sheet (formatting kept)."""
    from openpyxl import load_workbook

    wb = load_workbook(fh)
    if sheet not in wb.sheetnames:
        raise FileNotFoundError(sheet)
    for ws in list(wb.worksheets):
        if ws.title != sheet:
            wb.remove(ws)
    wb.active = 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sha256_path(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def _read_manifest(folder: Path) -> Manifest:
    """A period folder's manifest; empty (nothing served) when missing or unreadable."""
    path = folder / "manifest.json"
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            return Manifest({}, None, (), None)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return Manifest({}, None, (), None)
    listed = {str(r.get("file")): {"sha256": str(r.get("sha256")), "report": r.get("report"),
                                   "township_code": r.get("township_code"), "school_code": r.get("school_code"),
                                   "label": r.get("label"), "audience": r.get("audience")}
              for r in data.get("reports", []) if isinstance(r, dict)}
    sources = tuple(
        {"source": str(s.get("source", "")), "label": SOURCE_LABELS.get(str(s.get("source")), str(s.get("source", ""))),
         "file": str(s.get("file", "")), "sha256": str(s.get("sha256", ""))}
        for s in data.get("sources", []) if isinstance(s, dict))
    district = data.get("district_code")
    return Manifest(listed, st.st_mtime, sources, str(district) if district else None,
                    data.get("complete", True) is not False)
