"""`kongchuo run` leaves no process behind (issue 16): the parse workers it spawns, their resource tracker and
Dagster's compute-log helpers (``tail -F``, ``watch_orphans``) are all gone, reaped, when the CLI exits.

The real CLI runs the bundled sample in its own session (so its process group is its own) with every delivery
of two or more files parsed in worker processes (``KONGCHUO_PARALLEL_MIN_BYTES=0``); the group is watched
while it runs (workers must have been there, or the test proves nothing) and right after it exits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def _group(pgid: int) -> list[tuple[int, str, str]]:
    """(pid, status, command line) of every process of the group, zombies included."""
    out = []
    for p in psutil.process_iter(["pid", "status", "cmdline"]):
        try:
            if os.getpgid(p.pid) == pgid:
                out.append((p.pid, p.info["status"], " ".join(p.info["cmdline"] or [])[:120]))
        except (ProcessLookupError, psutil.Error):
            continue
    return out


def test_kongchuo_run_leaves_no_process_of_its_group(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "KONGCHUO_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "KONGCHUO_PARALLEL_MIN_BYTES": "0", "KONGCHUO_INGEST_WORKERS": "2", "DAGSTER_DISABLE_TELEMETRY": "true"}
    env.pop("KONGCHUO_WAREHOUSE_URL", None)
    cli = Path(sys.executable).parent / "kongchuo"
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(cli), "run", "--sample", "--period", "2026-06"], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        seen: set[str] = set()
        while proc.poll() is None:
            seen |= {cmd for pid, _, cmd in _group(proc.pid) if pid != proc.pid}
            time.sleep(0.1)
    assert proc.returncode == 0, log.read_text(encoding="utf-8", errors="replace")[-2000:]
    assert any("spawn_main" in cmd for cmd in seen), sorted(seen)  # the run did start worker processes
    left = _group(proc.pid)
    time.sleep(0.5)
    left += _group(proc.pid)
    assert left == [], left
