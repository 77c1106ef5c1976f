"""Parsing in worker processes (kongchuo.parsing) loads exactly what parsing in the run's own process loads,
and a bad file among good ones is still quarantined with its file/row/column message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from assets.ingest import ingest_source
from kongchuo import settings
from warehouse.home import KongchuoHome
from warehouse.layout import staged_columns
from warehouse.resource import WarehouseResource

SAMPLE = settings.REPO_ROOT / "data" / "sample" / "landing"
SOURCES = ("registry", "attendance")


def _home(root: Path) -> tuple[KongchuoHome, WarehouseResource]:
    for source in SOURCES:
        shutil.copytree(SAMPLE / source, root / "landing" / source)
    return KongchuoHome(path=str(root)), WarehouseResource(url=f"duckdb:///{root / 'warehouse.duckdb'}")


def _staged(warehouse: WarehouseResource, source: str) -> pd.DataFrame:
    cols = staged_columns(source)
    frame = warehouse.query_df(f"SELECT {', '.join(cols)} FROM staged.{source} ORDER BY file_sha, row_no")
    return frame.astype(str)


def test_worker_processes_load_the_same_rows(tmp_path: Path) -> None:
    serial_home, serial_wh = _home(tmp_path / "serial")
    pooled_home, pooled_wh = _home(tmp_path / "pooled")
    for source in SOURCES:
        serial = ingest_source(serial_home, serial_wh, source, workers=1)
        pooled = ingest_source(pooled_home, pooled_wh, source, workers=2, parallel_min_bytes=0)
        assert [(o.name, o.status, o.rows) for o in pooled] == [(o.name, o.status, o.rows) for o in serial]
        assert all(o.status == "ingested" and o.rows > 0 for o in pooled)
        pd.testing.assert_frame_equal(_staged(pooled_wh, source), _staged(serial_wh, source))
        current = f"SELECT count(*) FROM staged.{source}_current"
        assert pooled_wh.scalar(current) == serial_wh.scalar(current) > 0
    assert not (tmp_path / "pooled" / ".ingest_scratch").exists() or not any(
        (tmp_path / "pooled" / ".ingest_scratch").iterdir())


def test_bad_file_in_a_worker_is_quarantined(tmp_path: Path) -> None:
    home, warehouse = _home(tmp_path / "home")
    good = sorted((tmp_path / "home" / "landing" / "registry").glob("*.csv"))[0]
    text = good.read_text(encoding="utf-8-sig").splitlines()
    text[3] = text[3] + ",extra,fields,here"
    bad = good.with_name("0_bad.csv")
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    outcomes = ingest_source(home, warehouse, "registry", workers=2, parallel_min_bytes=0)
    by_name = {o.name: o for o in outcomes}
    assert by_name["0_bad.csv"].status == "quarantined"
    assert by_name["0_bad.csv"].error.startswith("0_bad.csv: row 4, column ")
    assert (tmp_path / "home" / "quarantine" / "registry" / "0_bad.csv.error.txt").exists()
    assert not bad.exists()
    assert all(o.status == "ingested" for n, o in by_name.items() if n != "0_bad.csv")
    loaded = warehouse.scalar("SELECT count(DISTINCT file_sha) FROM staged.registry")
    assert loaded == len(outcomes) - 1


def test_parse_workers_do_not_rerun_an_unguarded_script(tmp_path: Path) -> None:
    """A script without an ``if __name__ == "__main__":`` guard that ingests with workers runs once
    (kongchuo.workers hides it from the spawned workers) and loads every file."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(f"""
import sys
print("SCRIPT RAN", flush=True)
from pathlib import Path
import shutil
from assets.ingest import ingest_source
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource
root = Path({str(tmp_path)!r}) / "home"
shutil.copytree({str(SAMPLE / "registry")!r}, root / "landing" / "registry")
out = ingest_source(KongchuoHome(path=str(root)), WarehouseResource(url=f"duckdb:///{{root}}/warehouse.duckdb"),
                    "registry", workers=2, parallel_min_bytes=0)
print("INGESTED", sum(o.status == "ingested" for o in out), len(out), flush=True)
""", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("SCRIPT RAN") == 1
    files = len(list((SAMPLE / "registry").iterdir()))
    assert f"INGESTED {files} {files}" in proc.stdout


def test_parts_left_by_a_killed_ingest_are_removed_later(tmp_path: Path) -> None:
    import os
    import time

    from assets.ingest import SCRATCH_DIR, STALE_SCRATCH_SECONDS

    home, warehouse = _home(tmp_path / "home")
    scratch = tmp_path / "home" / SCRATCH_DIR
    old, recent = scratch / "old-run", scratch / "running"
    for folder in (old, recent):
        (folder / "sha").mkdir(parents=True)
        (folder / "sha" / "part-00000.arrow").write_bytes(b"x")
    past = time.time() - STALE_SCRATCH_SECONDS - 60
    os.utime(old, (past, past))
    ingest_source(home, warehouse, "registry", workers=1)
    assert not old.exists()
    assert (recent / "sha" / "part-00000.arrow").exists()  # another ingest may still be using it
