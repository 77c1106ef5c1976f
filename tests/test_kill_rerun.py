"""Faults (issue 8): a run killed with SIGKILL while it writes the warehouse and the reports, then run again,
ends exactly where an uninterrupted run ends; and no half-written report is ever visible under its name.

One generated district (June 2026, small) is copied into two KONGCHUO_HOMEs:

- ``clean``: ``kongchuo run --period 2026-06`` once, undisturbed;
- ``killed``: the same command, SIGKILLed (1) in the middle of ingestion, when the first roll-call file has
  been copied to raw/ and its transaction is open, then (2) again in the middle of writing the reports, when
  a ``.partial-*`` temp file appears in ``reports/2026-06/`` (or, if that write was too quick to catch, right
  after the first report appears), then run once more to completion.

Both homes run side by side (two CPUs are enough). A watcher thread polls both report folders all along
and opens every final-named workbook with calamine: none may ever fail to open. At the end the two homes
must agree on derived tables, ledger events and cases, staged row counts per file, report cell values and
report bytes (the manifest's SHA-256 of every report).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from kongchuo.settings import REPO_ROOT

PERIOD = "2026-06"
TIMEOUT = 240


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KONGCHUO_WAREHOUSE_URL", "DAGSTER_HOME")}
    env.update(KONGCHUO_HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def _start(home: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "--period", PERIOD]
    out = open(log, "ab")
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=_env(home), stdout=out, stderr=subprocess.STDOUT)


def _wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before the kill point: {what}"
        assert time.monotonic() < deadline, f"kill point never reached: {what}"
        time.sleep(0.005)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


class Watcher(threading.Thread):
    """Opens every final-named report as soon as it appears (and whenever it changes) with calamine."""

    def __init__(self, folders: list[Path]):
        super().__init__(daemon=True)
        self.folders, self.stop, self.failures, self.opened = folders, threading.Event(), [], 0
        self.seen: dict[Path, tuple] = {}

    def run(self) -> None:
        from python_calamine import CalamineWorkbook

        while not self.stop.is_set():
            for folder in self.folders:
                if not folder.is_dir():
                    continue
                for path in folder.glob("*.xlsx"):
                    if path.name.startswith("."):
                        continue
                    try:
                        st = path.stat()
                    except FileNotFoundError:
                        continue
                    key = (st.st_ino, st.st_mtime_ns, st.st_size)
                    if self.seen.get(path) == key:
                        continue
                    try:
                        book = CalamineWorkbook.from_path(str(path))
                        for name in book.sheet_names:
                            book.get_sheet_by_name(name).to_python()
                        self.opened += 1
                    except Exception as exc:  # noqa: BLE001 - any failure is the finding
                        self.failures.append(f"{path.name}: {type(exc).__name__}")
                    self.seen[path] = key
            time.sleep(0.005)


def _tables(home: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        out = {}
        for table in ("derived.suspected_dropouts", "derived.out_of_school", "ledger.case_events", "ledger.cases",
                      "derived.roster"):
            out[table] = sorted(map(repr, con.execute(f"SELECT * FROM {table}").fetchall()))
        out["staged rows per file"] = sorted(con.execute(
            "SELECT f.source, f.file_sha, f.status, f.row_count, (SELECT count(*) FROM staged.attendance a "
            "WHERE a.file_sha = f.file_sha) + (SELECT count(*) FROM staged.registry r WHERE r.file_sha = f.file_sha) "
            "+ (SELECT count(*) FROM staged.census c WHERE c.file_sha = f.file_sha) FROM raw.files f").fetchall())
        return out
    finally:
        con.close()


def _cells(path: Path) -> list:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    return [(name, book.get_sheet_by_name(name).to_python()) for name in book.sheet_names]


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("district")
    generate(district="411003", students=150, seed=11, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30), out=out)
    return out


def _home(district: Path, home: Path) -> Path:
    for part in ("landing", "reference"):
        shutil.copytree(district / part, home / part)
    return home


def test_sigkill_mid_run_then_rerun_matches_clean_run(district: Path, tmp_path: Path):
    clean, killed = _home(district, tmp_path / "clean"), _home(district, tmp_path / "killed")
    reports = {h: h / "reports" / PERIOD for h in (clean, killed)}
    watcher = Watcher(list(reports.values()))
    watcher.start()
    try:
        clean_proc = _start(clean, tmp_path / "clean.log")

        # kill 1: in the middle of ingesting roll call (raw copy made, transaction open)
        proc = _start(killed, tmp_path / "killed.log")
        _wait_for(proc, lambda: any((killed / "raw" / "attendance").glob("*")), "first raw/attendance copy")
        _kill(proc)
        assert not reports[killed].exists() or not any(reports[killed].glob("*.xlsx"))

        # kill 2: in the middle of writing the reports
        proc = _start(killed, tmp_path / "killed.log")
        folder = reports[killed]
        _wait_for(proc, lambda: folder.is_dir() and any(folder.glob("*.xlsx")) or
                  (folder.is_dir() and any(folder.glob(".partial-*"))), "a report being written")
        _kill(proc)

        # run again to completion
        proc = _start(killed, tmp_path / "killed.log")
        assert proc.wait(timeout=TIMEOUT) == 0, (tmp_path / "killed.log").read_text(errors="replace")[-3000:]
        assert clean_proc.wait(timeout=TIMEOUT) == 0, (tmp_path / "clean.log").read_text(errors="replace")[-3000:]
    finally:
        time.sleep(0.05)
        watcher.stop.set()
        watcher.join(timeout=10)

    assert watcher.failures == [], watcher.failures  # a final-named report that did not open
    assert watcher.opened >= 2 * 6

    # the same warehouse content
    a, b = _tables(clean), _tables(killed)
    for table in a:
        assert a[table] == b[table], f"{table} differs after kill and re-run"
    assert a["derived.suspected_dropouts"] and a["ledger.case_events"]

    # the same reports: names, bytes (manifest SHA-256), cell values; leftovers only as hidden temp files
    finals = {h: sorted(p.name for p in reports[h].iterdir() if not p.name.startswith(".")) for h in reports}
    assert finals[clean] == finals[killed] and "manifest.json" in finals[clean]
    manifest = {h: json.loads((reports[h] / "manifest.json").read_text(encoding="utf-8")) for h in reports}
    assert manifest[clean] == manifest[killed]
    assert {r["file"] for r in manifest[clean]["reports"]} == {n for n in finals[clean] if n.endswith(".xlsx")}
    for name in finals[clean]:
        if name.endswith(".xlsx"):
            assert (reports[clean] / name).read_bytes() == (reports[killed] / name).read_bytes(), name
            assert _cells(reports[clean] / name) == _cells(reports[killed] / name), name
    # issue 13: the killed runs' half-written reports (.partial-<pid>-*.xlsx) and parsed roll-call parts
    # (.ingest_scratch/<pid>-*) are removed by the next run, not left for hours
    leftovers = [p.name for p in reports[killed].iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers
    scratch = killed / ".ingest_scratch"
    assert not scratch.exists() or not any(scratch.iterdir()), sorted(p.name for p in scratch.iterdir())
