"""Report folder hygiene: leftovers of a killed run are cleaned, work in progress is not."""

import os
import time
from pathlib import Path

import pandas as pd

from assets.manifest import write_manifest
from assets.report_files import STALE_PARTIAL_SECONDS


def test_manifest_removes_stale_partials_only(tmp_path: Path) -> None:
    folder = tmp_path / "2026-06"
    folder.mkdir()
    stale = folder / ".partial-old.xlsx"
    fresh = folder / ".partial-new.xlsx"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"writing")
    old = time.time() - STALE_PARTIAL_SECONDS - 60
    os.utime(stale, (old, old))

    write_manifest(folder, [], pd.DataFrame(columns=["source", "original_name", "file_sha"]), "411003")

    assert not stale.exists()
    assert fresh.exists()
    assert (folder / "manifest.json").exists()
