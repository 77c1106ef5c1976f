"""What may enter from ``landing/``, and how it is read safely (DESIGN.md "Snapshots, and publishing only what
is whole", last paragraph).

- Regular files only: a symlink (to a file or a folder) or a device/FIFO is refused with a finding and never
  followed; files are opened with ``O_NOFOLLOW`` and checked with ``fstat``, so a file swapped for a link
  between the listing and the read is refused too.
- Sub-folders are read (their files carry ``sub/name.csv`` as display name); names starting with ``.`` or
  ``~$`` and ``*.tmp``/``*.part``/``*.crdownload`` copies are listed as ignored, with the reason.
- A file still being written waits for the next run: a file modified within the last ``settle`` seconds is
  looked at again once its last change is ``settle`` seconds old, and a changed size or time means "not yet";
  a landing of files all older than that is read without any wait. The copy into raw/ is
  hashed while it is written and compared with the hash taken before, so a change after the second look is
  caught too.
- Archives (XLSX is a zip) are bounded before any reader inflates them: the sum of the members' declared
  sizes, and the inflation ratio of large members.
- Any file name is handled: non-UTF-8 bytes, control characters (a newline would forge a log line), 255-byte
  names, an ID number inside. People and logs see :func:`display_name` (sanitised, ID numbers masked,
  shortened); quarantine copies get :func:`quarantine_name` (short, safe, unique by hash).
- raw/ and quarantine/ files are readable by their owner and group only (minors' records).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import time
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from kongchuo import masking
from kongchuo.readers import IngestError

IGNORED_PREFIXES = (".", "~$")
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".error.txt")
FILE_MODE, DIR_MODE = 0o640, 0o750
DISPLAY_MAX_CHARS = 120
QUARANTINE_NAME_MAX_BYTES = 120  # far below the 255-byte limit of a file name, with room for ".error.txt"
MAX_INFLATED_BYTES = 1 << 30  # sum of an archive's uncompressed members
MAX_RATIO = 200  # a large member inflating more than this is a bomb, not a spreadsheet
RATIO_MIN_BYTES = 16 << 20  # small members may compress as well as they like
DEFAULT_SETTLE_SECONDS = 3.0


def settle_seconds() -> float:
    """How long a recently modified file is watched before it is read (``KONGCHUO_LANDING_SETTLE_SECONDS``)."""
    return float(os.environ.get("KONGCHUO_LANDING_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS))


def max_inflated_bytes() -> int:
    return int(os.environ.get("KONGCHUO_MAX_INFLATED_BYTES", MAX_INFLATED_BYTES))


# --- names ----------------------------------------------------------------------------------------------

def _text_of(name: str) -> str:
    """A file name as text. Bytes that are not UTF-8 (kept by Python as surrogates) are most often a GBK name
    from a Windows share: read as GB18030 if that fits, else the bad bytes become U+FFFD."""
    raw = os.fsencode(name)
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _no_controls(text: str) -> str:
    """Control and format characters (newlines, escapes, bidi overrides) become '?'."""
    return "".join("?" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    stem, dot, suffix = text.rpartition(".")
    tail = f"{dot}{suffix}" if dot and len(suffix) <= 8 else ""
    return text[: limit - len(tail) - 1] + "…" + tail


def display_name(relative: str) -> str:
    """The name shown to people, logs, metadata and the warehouse: sanitised, ID numbers masked, ≤ 120 chars."""
    return _shorten(masking.mask_file_name(_no_controls(_text_of(relative))), DISPLAY_MAX_CHARS)


def quarantine_name(display: str, sha: str) -> str:
    """The display name itself when it is short and plain (people find their file); otherwise
    ``<sha12>_<name>``: short, only safe characters, the suffix kept, unique per content."""
    base = display.replace("/", "_")
    safe = re.sub(r"[^\w.\-（）()]", "_", base)
    if safe == base and len(base.encode()) <= QUARANTINE_NAME_MAX_BYTES and not base.startswith("."):
        return base
    stem, dot, suffix = safe.rpartition(".")
    suffix = f".{suffix[:8]}" if dot else ""
    stem = stem if dot else safe
    budget = QUARANTINE_NAME_MAX_BYTES - 13 - len(suffix.encode())
    while len(stem.encode()) > budget:
        stem = stem[:-1]
    return f"{sha[:12]}_{stem}{suffix}"


# --- the listing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Landed:
    path: Path
    display: str
    size: int
    mtime_ns: int


@dataclass
class LandingScan:
    ready: list[Landed] = field(default_factory=list)
    waiting: list[Landed] = field(default_factory=list)  # still being written: next run
    refused: list[tuple[str, str]] = field(default_factory=list)  # (display name, reason): links, devices
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (display name, reason): temp and hidden files


def _ignored_reason(name: str, is_dir: bool) -> str | None:
    if name.startswith("~$"):
        return "Excel 锁定文件，已忽略 (Excel lock file, ignored)"
    if name.startswith("."):
        return ("隐藏文件夹，已忽略 (hidden folder, ignored)" if is_dir
                else "隐藏文件（名称以 . 开头），已忽略 (hidden file, ignored; rename it to be read)")
    if not is_dir and name.lower().endswith(IGNORED_SUFFIXES):
        return "临时或未完成的副本，已忽略 (temporary or incomplete copy, ignored)"
    return None


def _walk(folder: Path, prefix: str, scan: LandingScan, found: list[Landed]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
    except OSError:
        return
    for entry in entries:
        relative = f"{prefix}{entry.name}"
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # removed while listing
        if stat.S_ISLNK(info.st_mode):
            scan.refused.append((display_name(relative), "符号链接，拒绝读取 (symbolic link refused, not followed)"))
            continue
        is_dir = stat.S_ISDIR(info.st_mode)
        reason = _ignored_reason(entry.name, is_dir)
        if reason:
            scan.ignored.append((display_name(relative), reason))
        elif is_dir:
            _walk(Path(entry.path), f"{relative}/", scan, found)
        elif not stat.S_ISREG(info.st_mode):
            scan.refused.append((display_name(relative), "不是普通文件，拒绝读取 (not a regular file, refused)"))
        else:
            found.append(Landed(Path(entry.path), display_name(relative), info.st_size, info.st_mtime_ns))


def scan_landing(folder: Path, settle: float | None = None) -> LandingScan:
    """Every regular file under ``folder`` (sub-folders included), in byte order of their paths; files modified
    in the last ``settle`` seconds are looked at again when the youngest of them is ``settle`` seconds old (at
    most ``settle`` seconds later), and wait if they changed; with none so recent there is no wait."""
    scan = LandingScan()
    if not folder.is_dir():
        return scan
    found: list[Landed] = []
    _walk(folder, "", scan, found)
    settle = settle_seconds() if settle is None else settle
    now = time.time_ns()
    recent = [f for f in found if now - f.mtime_ns < settle * 1e9]
    if recent and settle > 0:
        # Look again once the youngest file has been quiet for ``settle`` seconds (unchanged then = settled),
        # not a whole window after the listing: files older than the window are never waited for at all.
        time.sleep(max(0.0, min(settle, max(settle - (now - f.mtime_ns) / 1e9 for f in recent))))
    for f in found:
        if f in recent and _changed(f):
            scan.waiting.append(f)
        else:
            scan.ready.append(f)
    return scan


def _changed(f: Landed) -> bool:
    try:
        info = os.lstat(f.path)
    except OSError:
        return True
    return (info.st_size, info.st_mtime_ns) != (f.size, f.mtime_ns) or not stat.S_ISREG(info.st_mode)


# --- reading without following links -------------------------------------------------------------------

class NotRegularFile(Exception):
    """The landing entry is no longer a regular file (swapped for a link or a folder after the listing)."""


@contextlib.contextmanager
def open_regular(path: Path):
    """Open ``path`` for reading only if it is a regular file itself (``O_NOFOLLOW``; never a link's target)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno in (40, 20, 6):  # ELOOP (a link), ENOTDIR, ENXIO (a FIFO without writer)
            raise NotRegularFile(str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(str(path))
        with os.fdopen(fd, "rb", closefd=False) as fh:
            yield fh
    finally:
        os.close(fd)


def sha256_regular(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and parents) readable by owner and group only."""
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    with contextlib.suppress(OSError):
        os.chmod(folder, DIR_MODE)
    return folder


def copy_private(path: Path, dst: Path, expected_sha: str | None = None) -> str:
    """Copy the regular file ``path`` to ``dst`` (mode 0640) via a short temporary name and a rename; returns the
    copy's SHA-256. With ``expected_sha``: a different hash (the file changed meanwhile) raises
    :class:`FileChanged` and leaves nothing behind."""
    private_dir(dst.parent)
    tmp = dst.parent / f".{uuid.uuid4().hex}.tmp"
    h = hashlib.sha256()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as out, open_regular(path) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)  # the umask may have removed bits; never add "others"
        if expected_sha is not None and h.hexdigest() != expected_sha:
            raise FileChanged(str(path))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return h.hexdigest()


class FileChanged(Exception):
    """The landing file changed while it was copied: it is still being written."""


def write_private_text(path: Path, text: str) -> None:
    private_dir(path.parent)
    tmp = path.parent / f".{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- archive bombs --------------------------------------------------------------------------------------

def check_archive(path: Path, display: str, limit: int | None = None) -> None:
    """Refuse a zip (XLSX) whose members would inflate beyond ``limit`` bytes together, or a large member
    inflating more than :data:`MAX_RATIO` times, before any reader opens it (calamine inflates shared strings
    into memory). Declared sizes are what Python's zip reader and calamine stop at."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"PK":
            return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # not a readable zip: the reader says what it is
    limit = max_inflated_bytes() if limit is None else limit
    total = sum(m.file_size for m in members)
    if total > limit:
        raise IngestError(f"{display}: row 1, column A: 压缩包解压后共 {total:,} 字节，超过上限 {limit:,} 字节，拒绝读取 "
                          f"(the archive inflates to {total:,} bytes, over the limit of {limit:,})")
    for m in members:
        if m.file_size > RATIO_MIN_BYTES and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise IngestError(
                f"{display}: row 1, column A: 压缩包成员 {m.filename[:60]!r} 压缩比 {m.file_size // max(m.compress_size, 1):,} 倍，"
                f"疑似压缩炸弹，拒绝读取 (member inflates {m.file_size // max(m.compress_size, 1):,} times: an archive bomb)")


# --- leftovers of killed runs ---------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PID_PART = re.compile(r"^(?:\.partial-)?(\d+)-")


def owner_pid(name: str) -> int | None:
    """The process id a scratch folder or partial file was named with (``<pid>-…`` or ``.partial-<pid>-…``)."""
    m = _PID_PART.match(name)
    return int(m.group(1)) if m else None


def remove_dead_leftovers(folder: Path, pattern: str, older_than: float) -> list[str]:
    """Entries of ``folder`` matching ``pattern`` whose owning process is gone (named with its pid), or, for
    unnamed ones, older than ``older_than`` seconds: removed. A live run's files are never touched."""
    removed: list[str] = []
    for p in folder.glob(pattern) if folder.is_dir() else []:
        pid = owner_pid(p.name)
        with contextlib.suppress(OSError):
            stale = (pid is not None and pid != os.getpid() and not pid_alive(pid)) or (
                pid is None and time.time() - p.lstat().st_mtime > older_than)
            if not stale:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def remove_report_partials(reports_root: Path, older_than: float = 3600) -> list[str]:
    """``reports/<period>/.partial-*`` left by a run killed while writing a report."""
    removed: list[str] = []
    for period in reports_root.iterdir() if reports_root.is_dir() else []:
        if period.is_dir() and not period.is_symlink():
            removed += remove_dead_leftovers(period, ".partial-*", older_than)
    return removed


# --- confirmations --------------------------------------------------------------------------------------

CONFIRMATION_MAX_BYTES = 64 << 10


def confirmation_texts(folder: Path) -> list[str]:
    """The names and contents (first 64 KiB, UTF-8 or GBK) of the files in ``landing/confirmations/``: a held
    snapshot is confirmed by a file naming it (its file name or the first 12 characters of its SHA-256)."""
    scan = scan_landing(folder, settle=0)
    texts = []
    for f in scan.ready:
        texts.append(_text_of(f.path.name))
        with contextlib.suppress(OSError, NotRegularFile):
            with open_regular(f.path) as fh:
                data = fh.read(CONFIRMATION_MAX_BYTES)
            for encoding in ("utf-8-sig", "gb18030"):
                try:
                    texts.append(data.decode(encoding))
                    break
                except UnicodeDecodeError:
                    continue
    return texts
