"""The report catalogue: what is under ``$KONGCHUO_HOME/reports/<period>/``, who may see it, and its status.

Each ``*.xlsx`` in a period folder (``2026-06``, ``2026-Q2``) is one entry; its kind comes from the title part
of the file name ``<区>_<YYYY年MM月>_<标题>[_<乡镇>].xlsx``. Each sheet of an R5 workbook (one per school) is
also an entry of kind ``R5S``: the per-school extract that school users download, generated on the fly.

Report ids are opaque: the first 32 hex digits of HMAC-SHA256(portal secret, "<period>/<file>#<sheet>").
They stay the same when a report is rebuilt, cannot be forged or guessed, and are looked up in the
catalogue; a download never takes a path from the request. Symlinks and partial files are ignored.

Status of an entry (``manifest.json`` is written by the pipeline after every report of the period):
- ``current`` 当前版本 — the manifest lists the file with this SHA-256;
- ``stale`` 已被新版本替代 — the manifest lists the file with another SHA-256, or a manifest newer than the
  file does not list it (left over from an earlier run that no longer produces it);
- ``pending`` 待登记 — no manifest yet, or the file is newer than the manifest and not in it (a run in progress).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from kongchuo.districts import month_label

TZ = ZoneInfo("Asia/Shanghai")
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2]|Q[1-4])$")
REPORT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SCHOOL_CODE_RE = re.compile(r"学校标识码\s*[：:]\s*(\d{10})")

KIND_LABELS: dict[str, str] = {
    "R1": "控辍保学月报",
    "R2": "控辍保学排查整改工作情况统计表（季度）",
    "R3": "一生一表",
    "R4": "劝返升级名单",
    "R5": "人籍不一致整改清单（数据质量）",
    "R5S": "人籍不一致整改清单（本校）",
    "R6": "送教上门落实情况",
    "other": "其他",
}
KIND_ORDER = {k: i for i, k in enumerate(KIND_LABELS)}
# First match wins; the title part of the file name decides the kind.
_KIND_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("R5", "人籍不一致"), ("R3", "一生一表"), ("R4", "劝返"), ("R6", "送教上门"),
    ("R2", "统计表"), ("R1", "月报"),
)
# R1 and R2 are district totals: township users may read them.
DISTRICT_TOTALS = frozenset({"R1", "R2"})

STATUS_LABELS = {"current": "当前版本", "stale": "已被新版本替代", "pending": "待登记（生成中）"}
SOURCE_LABELS = {"registry": "学籍", "attendance": "考勤", "census": "户籍人口", "casework": "劝返记录",
                 "exemptions": "延缓入学/休学", "home_teaching": "送教上门"}


def kind_of(title: str) -> str:
    for kind, keyword in _KIND_KEYWORDS:
        if keyword in title:
            return kind
    return "other"


def period_key(period: str) -> tuple[int, int, int]:
    """Sort key: months by month; a quarter right after its last month."""
    year, part = period.split("-")
    if part.startswith("Q"):
        return int(year), int(part[1]) * 3, 1
    return int(year), int(part), 0


def period_label(period: str) -> str:
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
    bytes: int
    mtime: float
    mtime_ns: int
    sha256: str
    status: str
    rebuilt: bool
    manifest_sha256: str | None
    school_code: str | None = None
    sources: tuple[dict, ...] = field(default=(), repr=False)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

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
        return f"{self.file[:-5]}_{self.sheet}.xlsx"

    @property
    def audit_file(self) -> str:
        return self.file if self.sheet is None else f"{self.file}#{self.sheet}"


class Catalogue:
    """Scans the reports folder on every call (cheap); file hashes and R5 sheet names are cached per
    (path, size, mtime)."""

    def __init__(self, reports_root: Path, secret: bytes):
        self.root = Path(reports_root)
        self._id_key = hmac.new(secret, b"kongchuo-portal-report-id", hashlib.sha256).digest()
        self._cache: dict[tuple[str, str], tuple[int, int, object]] = {}
        self._lock = threading.Lock()

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
        """(sheet name, school code) of each sheet; the code is read from the sheet's heading lines
        (``学校标识码：2410030069``) when present."""
        def compute() -> tuple[tuple[str, str | None], ...]:
            from openpyxl import load_workbook

            try:
                wb = load_workbook(path, read_only=True)
            except Exception:  # a broken workbook lists no sheets rather than breaking the catalogue
                return ()
            try:
                out = []
                for ws in wb.worksheets:
                    code = None
                    for row in ws.iter_rows(min_row=1, max_row=4, values_only=True):
                        m = SCHOOL_CODE_RE.search(" ".join(str(v) for v in row if v is not None))
                        if m:
                            code = m.group(1)
                            break
                    out.append((ws.title, code))
                return tuple(out)
            finally:
                wb.close()

        return self._cached("sheets", path, st, compute)

    # ---- the scan
    def _folders(self) -> list[os.DirEntry]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return [e for e in entries if PERIOD_RE.match(e.name) and e.is_dir(follow_symlinks=False)]

    def scan(self) -> list[Report]:
        folders = sorted(self._folders(), key=lambda e: period_key(e.name))
        manifests = {f.name: _read_manifest(Path(f.path)) for f in folders}
        # Latest manifest time among later periods, for the "rebuilt" flag.
        later_manifest: dict[str, float] = {}
        latest = 0.0
        for f in reversed(folders):
            later_manifest[f.name] = latest
            mtime = manifests[f.name][1]
            latest = max(latest, mtime or 0.0)

        reports: list[Report] = []
        for folder in folders:
            period = folder.name
            listed, manifest_mtime, sources = manifests[period]
            for entry in os.scandir(folder.path):
                if entry.name.startswith(".") or not entry.name.endswith(".xlsx"):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                path = Path(entry.path)
                st = entry.stat(follow_symlinks=False)
                sha = self._sha(path, st)
                parts = entry.name[:-5].split("_")
                district, title = (parts[0], parts[2]) if len(parts) >= 3 else ("", entry.name[:-5])
                township = "_".join(parts[3:]) or None if len(parts) > 3 else None
                kind = kind_of(title)
                manifest_sha = listed.get(entry.name)
                if manifest_sha is not None:
                    status = "current" if manifest_sha == sha else "stale"
                elif manifest_mtime is not None and manifest_mtime >= st.st_mtime:
                    status = "stale"
                else:
                    status = "pending"
                rebuilt = bool(later_manifest[period]) and st.st_mtime > later_manifest[period] + 1.0
                common = dict(period=period, file=entry.name, path=path, district=district, title=title,
                              township=township, bytes=st.st_size, mtime=st.st_mtime, mtime_ns=st.st_mtime_ns,
                              sha256=sha, status=status, rebuilt=rebuilt, manifest_sha256=manifest_sha,
                              sources=sources)
                reports.append(Report(id=self.report_id(period, entry.name), kind=kind, sheet=None, **common))
                if kind == "R5":
                    for sheet, code in self._sheets(path, st):
                        reports.append(Report(id=self.report_id(period, entry.name, sheet), kind="R5S",
                                              sheet=sheet, school_code=code, **common))
        reports.sort(key=lambda r: (tuple(-x for x in period_key(r.period)), KIND_ORDER[r.kind],
                                    r.township or "", r.file, r.sheet or ""))
        return reports

    def get(self, report_id: str) -> Report | None:
        if not REPORT_ID_RE.match(report_id or ""):
            return None
        for report in self.scan():
            if hmac.compare_digest(report.id, report_id):
                return report
        return None


# ---------------------------------------------------------------------------------------------- access

def _school_matches(user, report: Report) -> bool:
    """A school's sheet: its 10-digit code (from the sheet heading, or in the sheet name) when the user names
    one, else the sheet name equal to the school name."""
    sheet = report.sheet
    if not sheet:
        return False
    if user.school_code:
        return user.school_code == report.school_code or user.school_code in sheet
    return bool(user.school) and sheet in (user.school, user.school[:31])


def may_access(user, report: Report) -> bool:
    """District staff: everything (of their district, if the user names one). Township staff: R1 and R2 (district
    totals), their township's R5 workbook and its school sheets. School staff: their school's R5 sheet only."""
    if user.district and report.district != user.district:
        return False
    if user.role == "district":
        return True
    if user.role == "township":
        if report.kind in DISTRICT_TOTALS:
            return True
        return report.kind in ("R5", "R5S") and report.township == user.township
    if user.role == "school":
        return report.kind == "R5S" and report.township == user.township and _school_matches(user, report)
    return False


def listed_for(user, reports: list[Report]) -> list[Report]:
    """What the catalogue page shows: accessible entries; school sheets only to school users (the others have
    the whole workbook)."""
    out = []
    for r in reports:
        if not may_access(user, r):
            continue
        if r.kind == "R5S" and user.role != "school":
            continue
        out.append(r)
    return out


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


def _read_manifest(folder: Path) -> tuple[dict[str, str], float | None, tuple[dict, ...]]:
    """(file → sha256, manifest mtime, sources) of a period folder; empty when missing or unreadable."""
    path = folder / "manifest.json"
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            return {}, None, ()
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}, None, ()
    listed = {str(r.get("file")): str(r.get("sha256")) for r in data.get("reports", []) if isinstance(r, dict)}
    sources = tuple(
        {"source": str(s.get("source", "")), "label": SOURCE_LABELS.get(str(s.get("source")), str(s.get("source", ""))),
         "file": str(s.get("file", "")), "sha256": str(s.get("sha256", ""))}
        for s in data.get("sources", []) if isinstance(s, dict))
    return listed, st.st_mtime, sources
