"""Landing entries that were not read, as findings the bureau sees (issue 13).

A symlink (or a device, a FIFO) in ``landing/<source>/`` is refused and never followed
(:mod:`kongchuo.landing`); a log line alone would leave the bureau wondering why a delivery is missing. Each
refused entry becomes a ``checks.findings`` row of the ingest run — check ``DQ03`` (the delivery cannot be
read), source ``<source>:landing``, severity ``warn`` (it never blocks the other files), ``detail`` naming the
file (its display name: control characters replaced, ID numbers masked) and the reason — and the staged
asset's materialization lists them as ``refused_files`` / ``landing_findings``.
"""

from __future__ import annotations

import pandas as pd

from kongchuo.landing import LandingScan
from warehouse import findings as fnd
from warehouse.resource import WarehouseResource

CHECK_ID = "DQ03"


def landing_source(source: str) -> str:
    return f"{source}:landing"


def refused_frame(scan: LandingScan) -> pd.DataFrame:
    """One finding per refused landing entry (names are display names: sanitised and masked)."""
    return pd.DataFrame({
        "record_key": [None] * len(scan.refused),
        "detail": [f"文件 {name}：{reason}" for name, reason in scan.refused],
        "severity": ["warn"] * len(scan.refused),
    })


def record_refused(warehouse: WarehouseResource, run_id: str, period: str, source: str, scan: LandingScan) -> int:
    """Write this run's refused landing entries of ``source`` to ``checks.findings`` (replacing the run's
    earlier rows of the same source); returns how many."""
    frame = refused_frame(scan)
    fnd.write_findings(warehouse, run_id=run_id, period=period, check_id=CHECK_ID, source=landing_source(source),
                       findings=frame, passed=frame.empty)
    return len(frame)
