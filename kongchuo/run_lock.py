"""One period's run at a time per ``KONGCHUO_HOME`` (issue 13).

A run refreshes the warehouse's current registry and census tables as of its period's last day
(``warehouse/views.py``: "the registry of month M is each scope's newest snapshot dated up to M's end"), and
every step after that reads them. Two direct ``kongchuo run`` of different periods at the same time would
interleave: October's reports read from September's registry. Runs queued by Dagster are limited to one by the
warehouse pool; runs started directly are not queued, so the CLI takes this lock (``fcntl.flock`` on
``$KONGCHUO_HOME/.run.lock``) around the whole run. A second run waits, saying which period is running; the
kernel releases the lock when the holder exits, however it exits (a killed run leaves no stale lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator

LOCK_NAME = ".run.lock"


def _holder(path: Path) -> str:
    """Who holds the lock (its period and pid), as it wrote into the lock file right after taking the lock."""
    for _ in range(10):  # the holder may have taken the lock a moment before writing its period
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if text:
            return text
        time.sleep(0.05)
    return "?"


def waiting_message(holder: str) -> str:
    return (f"另一个运行正在进行（{holder}），等待其结束后再开始 "
            f"(another kongchuo run is in progress: {holder}; waiting for it to finish)")


@contextlib.contextmanager
def period_lock(home: Path, period: str, say: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the run lock of ``home`` while the period runs; wait (saying so once) while another run holds it."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(waiting_message(_holder(path)))
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"期间 period {period}, pid {os.getpid()}\n".encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
