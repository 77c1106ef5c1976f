"""Worker processes for CPU-bound work inside a run (parsing landed files, writing R3 workbooks).

Workers are started with ``spawn``: the run's process holds DuckDB and Dagster threads, which ``fork`` would
copy in an inconsistent state. Two things every caller needs, kept here once:

- :func:`can_start_workers`: a daemonic process (a Celery prefork worker, a multiprocessing pool worker)
  may not start processes; callers then do the work in-process.
- :func:`main_script_hidden`: a spawned worker runs the parent's ``__main__`` script again (to find functions
  defined there) unless it cannot see the script's path. Our workers need nothing from it (their functions
  live in importable modules), and a script without an ``if __name__ == "__main__":`` guard that starts a
  run would run again in each worker (and wait there for the warehouse lock the parent holds).
- :func:`end_children`: what a command leaves running when it is done (the multiprocessing resource tracker the
  spawned workers started, Dagster's compute-log ``tail``/``watch_orphans`` helpers, a worker that has not been
  reaped yet) is ended and reaped before the CLI exits, so nothing of its process group outlives it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator


def can_start_workers() -> bool:
    return not multiprocessing.current_process().daemon


@contextlib.contextmanager
def main_script_hidden() -> Iterator[None]:
    """Hide ``__main__.__file__`` while workers start (they start in ``ProcessPoolExecutor.submit``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(main, "__spec__", None) is not None:  # run with -m: imported by name
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def spawn_executor(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def end_children(timeout: float = 3.0) -> list[int]:
    """End and reap every process this one started that is still there; returns their pids.

    The resource tracker ignores SIGTERM and stops when its pipe closes, so it is stopped that way (and waited
    for); the rest get SIGTERM, then SIGKILL after ``timeout`` seconds. Only this process's own descendants are
    touched, never the rest of its process group (a shell pipeline such as ``kongchuo run | tee log``)."""
    from multiprocessing import resource_tracker

    with contextlib.suppress(Exception):  # private API (3.8+): closing the fd ends it; _stop waits for it
        resource_tracker._resource_tracker._stop()
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=timeout)
    with contextlib.suppress(ChildProcessError):  # zombies whose parent (a worker) is already gone
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    return [c.pid for c in children]
