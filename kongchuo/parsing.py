"""Parsing landed files into normalised Arrow parts, in this process or in worker processes.

Workers: :mod:`kongchuo.workers` (spawned; in-process in a daemonic process such as a Celery worker).
Reading and normalising a file (:mod:`kongchuo.readers`, :mod:`kongchuo.normalize`) is single-threaded
Python and pandas, and several times slower a row than loading the result into the warehouse (see
BENCHMARKS.md). So ingestion parses files in parallel worker processes (``spawn``: the parent holds
DuckDB and Dagster threads, which ``fork`` must not copy) while the parent loads finished files one at a
time, in landing order, each in its own transaction (:mod:`assets.ingest`).

A worker writes each normalised chunk as an Arrow IPC file (LZ4) under a scratch folder and returns a
:class:`ParsedFile` with their paths. Memory stays bounded in both processes: a worker holds one chunk; the
parent reads one part at a time. A problem with a file never raises in the worker: it comes back as the
loggable error message (file, row, column; no cell values) and whether it was the file's fault or the
machine's (disk full, out of memory), which decides between quarantine and a failed run.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.feather as feather

from kongchuo import masking
from kongchuo.normalize import MAIN_DATE_COLUMN, normalize_frame
from kongchuo.readers import CHUNK_ROWS, IngestError, open_source_file
from kongchuo.sources import SPECS
from kongchuo.workers import can_start_workers, main_script_hidden, spawn_executor

# Below this many bytes of new files, starting worker processes (each imports pandas, pyarrow ... afresh) costs
# more than it saves (KONGCHUO_PARALLEL_MIN_BYTES: 0 parses every delivery of 2+ files in workers, as a test of
# the CLI does).
PARALLEL_MIN_BYTES = int(os.environ.get("KONGCHUO_PARALLEL_MIN_BYTES") or 32 << 20)


@dataclass
class ParseJob:
    source: str
    raw_path: Path
    name: str  # the landing name, used in every message
    sha: str
    scratch: Path  # folder for this file's parts
    chunk_rows: int = CHUNK_ROWS
    # reference (township_code, township_name) pairs: census extracts may name the township only in the address
    townships: tuple[tuple[str, str], ...] = ()


@dataclass
class ParsedFile:
    job: ParseJob
    rows: int = 0
    min_date: object = None
    max_date: object = None
    encoding: str | None = None
    header_map: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    skipped_rows: dict[str, int] = field(default_factory=dict)  # total/note/blank lines per kind ('合计': 1)
    skipped_sheets: list[tuple[str, str]] = field(default_factory=list)  # (sheet, reason)
    parts: list[Path] = field(default_factory=list)
    error: str | None = None
    infrastructure: bool = False  # the machine's fault (disk, memory): fail the run, keep the file in landing

    def tables(self) -> Iterator[pa.Table]:
        """The normalised rows, one part at a time."""
        for part in self.parts:
            yield feather.read_table(part, memory_map=False)

    def discard(self) -> None:
        shutil.rmtree(self.job.scratch, ignore_errors=True)


_LONG_DIGITS = re.compile(r"[0-9０-９]{6,}[0-9Xx]?")


def safe_error(name: str, exc: BaseException) -> str:
    """A file error as a loggable message: ours are already safe; others lose quoted values and long numbers."""
    if isinstance(exc, IngestError):
        return str(exc)
    text = str(exc).split("\n")[0][:300]
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = _LONG_DIGITS.sub(lambda m: masking.mask_id(m.group(0)), text)
    return f"{name}: row ?, column ?: the file could not be loaded ({type(exc).__name__}: {text})"


def is_infrastructure_error(exc: BaseException) -> bool:
    """Errors of the machine, not of the file (disk, memory, DuckDB's own I/O); the warehouse adds its connection
    errors in :func:`warehouse.resource.is_infrastructure_error`."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, UnicodeError):
        return True
    try:
        import duckdb

        return isinstance(exc, (duckdb.IOException, duckdb.TransactionException))
    except ImportError:  # pragma: no cover
        return False


def parse_file(job: ParseJob) -> ParsedFile:
    """Read and normalise one raw file into Arrow parts under ``job.scratch``; never raises for a bad file."""
    out = ParsedFile(job)
    spec = SPECS[job.source]
    date_col = MAIN_DATE_COLUMN.get(job.source)
    try:
        job.scratch.mkdir(parents=True, exist_ok=True)
        opened = open_source_file(job.raw_path, spec, job.name)
        out.encoding, out.header_map, out.ignored_columns = (
            opened.encoding or job.raw_path.suffix.lower().lstrip("."), opened.header_map, opened.ignored_columns)
        out.skipped_sheets = list(opened.skipped_sheets)
        for i, cells in enumerate(opened.chunks(job.chunk_rows)):
            frame = normalize_frame(spec, cells.assign(file_sha=job.sha), job.townships)
            part = job.scratch / f"part-{i:05d}.arrow"
            feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), part, compression="lz4")
            out.parts.append(part)
            out.rows += len(frame)
            if date_col:
                dates = frame[date_col].dropna()
                if len(dates):
                    lo, hi = dates.min(), dates.max()
                    out.min_date = min(out.min_date, lo) if out.min_date else lo
                    out.max_date = max(out.max_date, hi) if out.max_date else hi
        out.skipped_rows = dict(opened.skipped_rows)
    except Exception as exc:  # noqa: BLE001 - every problem is reported, none escapes a worker
        out.error = safe_error(job.name, exc)
        out.infrastructure = is_infrastructure_error(exc)
        out.parts = []
        shutil.rmtree(job.scratch, ignore_errors=True)
    return out


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def parse_all(jobs: list[ParseJob], workers: int, min_bytes: int = PARALLEL_MIN_BYTES) -> Iterator[ParsedFile]:
    """Parse ``jobs`` and yield the results in the jobs' order (workers run ahead of the consumer).

    In-process when ``workers`` < 2, when there is only one file, or when the files are small together.
    """
    total = sum(j.raw_path.stat().st_size for j in jobs)
    if workers < 2 or len(jobs) < 2 or total < min_bytes or not can_start_workers():
        for job in jobs:
            yield parse_file(job)
        return
    with spawn_executor(min(workers, len(jobs))) as pool:
        with main_script_hidden():  # workers start in submit()
            futures: list[Future[ParsedFile]] = [pool.submit(parse_file, job) for job in jobs]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()
