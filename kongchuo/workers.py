"""Worker processes for CPU-bound work inside a run (parsing landed files, writing R3 workbooks).

Workers are started with ``spawn``: the run's process holds DuckDB and Dagster threads, which ``fork`` would
copy in an inconsistent state. Two things every caller needs, kept here once:

- :func:`can_start_workers`: a daemonic process (a Celery prefork worker, a multiprocessing pool worker)
  may not start processes; callers then do the work in-process.
- :func:`main_script_hidden`: a spawned worker runs the parent's ``__main__`` script again (to find functions
  defined there) unless it cannot see the script's path. Our workers need nothing from it (their functions
  live in importable modules), and a script without an ``if __name__ == "__main__":`` guard that starts a
  run would run again in each worker (and wait there for the warehouse lock the parent holds).
"""

from __future__ import annotations

import contextlib
import multiprocessing
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
