"""The current tables merged in file by file (incremental refresh) equal a rebuild from every staged row:
the newest snapshot of a school replaces its records, a record without a school code goes with its file."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pandas as pd

from assets.ingest import ingest_source
from kongchuo import settings
from kongchuo.readers import open_source_file
from kongchuo.sources import SPECS
from warehouse.home import KongchuoHome
from warehouse.layout import staged_columns
from warehouse.resource import WarehouseResource
from warehouse.views import CURRENT_VIEWS, SCOPES_TABLE, current_select_sql, refresh_current

SAMPLE = settings.REPO_ROOT / "data" / "sample" / "landing"


def _rows(warehouse: WarehouseResource, sql: str, view: str) -> pd.DataFrame:
    cols = [*staged_columns(CURRENT_VIEWS[view][0]), "person_key"]
    frame = warehouse.query_df(f"SELECT {', '.join(cols)} FROM ({sql}) t").astype(str)
    return frame.sort_values(cols).reset_index(drop=True)


def _resend_with_blank_school(source_file: Path, target: Path, rows: int) -> None:
    """The first ``rows`` data rows of a CSV again (a correction re-sent later), the first one without school."""
    opened = open_source_file(source_file, SPECS["registry"])
    text = source_file.read_text(encoding=opened.encoding)
    records = list(csv.reader(io.StringIO(text), delimiter=opened.delimiter))
    head, body = records[: opened.header_row], records[opened.header_row: opened.header_row + rows]
    body[0][opened.positions["school_code"]] = ""
    out = io.StringIO()
    csv.writer(out, delimiter=opened.delimiter, lineterminator="\n").writerows(head + body)
    target.write_text(out.getvalue(), encoding="utf-8")


def test_incremental_refresh_equals_full_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "home"
    home = KongchuoHome(path=str(root))
    warehouse = WarehouseResource(url=f"duckdb:///{root / 'warehouse.duckdb'}")
    landing = root / "landing" / "registry"
    landing.mkdir(parents=True)
    confirmations = root / "landing" / "confirmations"
    confirmations.mkdir()  # the re-sends hold a few records of each school: a > 50 % drop, applied once confirmed
    (confirmations / "确认.txt").write_text("zz_resend_1.csv\nzz_resend_2.csv\n", encoding="utf-8")
    files = sorted((SAMPLE / "registry").iterdir())
    # the re-sent file: the first CSV with more than 60 records (re-sends of 40 and 60 records must differ; the
    # sample's first file holds one small school alone)
    resent = next(f for f in files if f.suffix == ".csv" and len(f.read_bytes().splitlines()) > 61)
    for i, f in enumerate(files):  # one file per ingest: every refresh after the first merges one file in
        shutil.copy(f, landing / f.name)
        if i == 1:  # a file re-sent twice with its first record moved to "no school", then corrected
            _resend_with_blank_school(resent, landing / "zz_resend_1.csv", 40)
        ingest_source(home, warehouse, "registry", workers=1)
    # re-sent again, longer, still without a school for the first record: (person, no school) is one key
    _resend_with_blank_school(resent, landing / "zz_resend_2.csv", 60)
    ingest_source(home, warehouse, "registry", workers=1)

    view = "staged.registry_current"
    incremental = _rows(warehouse, f"SELECT * FROM {view}", view)
    full = _rows(warehouse, current_select_sql(view), view)
    pd.testing.assert_frame_equal(incremental, full)
    # the re-sent file superseded earlier rows: every key appears once, and the latest file holds them
    keys = warehouse.scalar(f"SELECT count(*) FROM (SELECT DISTINCT person_key, school_code FROM {view}) k")
    assert keys == len(incremental) > 0
    ingested = warehouse.scalar("SELECT count(*) FROM raw.files WHERE source = 'registry' AND status = 'ingested'")
    assert ingested == len(files) + 2
    # snapshots: the re-sent file (dated by its landing, so the newest) replaced every record of the schools it
    # holds, the record it holds without a school included; the other schools keep their sample snapshot
    latest = warehouse.scalar("SELECT file_sha FROM raw.files WHERE original_name = 'zz_resend_2.csv'")
    by_school = warehouse.query_df(
        f"SELECT coalesce(school_code, '-') AS school, count(*) AS n, count(DISTINCT file_sha) AS files, "
        f"max(file_sha) AS sha FROM {view} GROUP BY 1")
    mine = set(warehouse.query_df("SELECT DISTINCT coalesce(school_code, '-') AS s FROM staged.registry "
                                  "WHERE file_sha = :f", {"f": latest})["s"])
    assert "-" in mine and len(mine) > 1
    for row in by_school.itertuples(index=False):
        if row.school in mine:  # replaced: only the re-sent file's rows
            assert (row.files, row.sha) == (1, latest), row.school
        else:  # a sample snapshot may hold one school in several files of the same date: all stay
            assert row.sha != latest, row.school
    resent = warehouse.scalar(f"SELECT count(*) FROM {view} WHERE file_sha = :f", {"f": latest})
    assert resent == warehouse.scalar("SELECT count(*) FROM staged.registry WHERE file_sha = :f", {"f": latest})
    held = warehouse.query_df(f"SELECT DISTINCT scope_code, file_sha FROM {view}")  # what the table holds ...
    tracked = warehouse.query_df(f"SELECT scope_code, file_sha FROM {SCOPES_TABLE} WHERE view_name = :v", {"v": view})
    assert set(map(tuple, held.to_numpy())) <= set(map(tuple, tracked.to_numpy()))  # ... is what was applied

    refresh_current(warehouse, ["registry"], full=True)  # the rebuild gives the same table
    pd.testing.assert_frame_equal(_rows(warehouse, f"SELECT * FROM {view}", view), full)
