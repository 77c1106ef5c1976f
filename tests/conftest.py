"""Shared fixtures: a temporary KONGCHUO_HOME with a real DuckDB warehouse, and helpers to drop extracts.

- ``kongchuo_home``: ``tmp_path/home`` with ``landing/<source>/`` folders; ``KONGCHUO_HOME`` points at it and
  ``KONGCHUO_WAREHOUSE_URL`` is unset for the test.
- ``warehouse``: a :class:`WarehouseResource` on ``home/warehouse.duckdb`` with the layout created.
- ``resources``: ``{"home": KongchuoHome, "warehouse": WarehouseResource}`` for ``dagster.materialize``.
- ``drop``: ``drop(source, name, rows, *, encoding="utf-8", title=None)`` writes a CSV (``rows`` = header row
  first, then data rows; ``encoding`` "utf-8", "utf-8-sig" or "gbk") or an XLSX (cells may be dates or
  numbers; ``title`` puts a title row above the header) into ``landing/<source>/`` and returns the path.
  ``drop(source, name, data=b"...")`` writes raw bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from kongchuo.settings import SOURCES, default_warehouse_url
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

REPO_ROOT = Path(__file__).resolve().parent.parent

# Landing waits this long for a file still being written; tests write their files just before a run (read when
# a landing scan runs, not at import).
os.environ.setdefault("KONGCHUO_LANDING_SETTLE_SECONDS", "0.2")


def use_home(home: Path, monkeypatch: pytest.MonkeyPatch, copy_of: Path | None = None) -> Path:
    """Make ``home`` this test's KONGCHUO_HOME (a copy of ``copy_of`` when given), with the default warehouse."""
    if copy_of is not None:
        shutil.copytree(copy_of, home)
    monkeypatch.setenv("KONGCHUO_HOME", str(home))
    monkeypatch.delenv("KONGCHUO_WAREHOUSE_URL", raising=False)
    return home


@pytest.fixture
def kongchuo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for source in SOURCES:
        (home / "landing" / source).mkdir(parents=True)
    return use_home(home, monkeypatch)


@pytest.fixture
def warehouse(kongchuo_home: Path) -> WarehouseResource:
    resource = WarehouseResource(url=default_warehouse_url(kongchuo_home))
    resource.ensure_layout()
    return resource


@pytest.fixture
def resources(kongchuo_home: Path, warehouse: WarehouseResource) -> dict[str, Any]:
    return {"home": KongchuoHome(path=str(kongchuo_home)), "warehouse": warehouse}


def write_extract(path: Path, rows: Sequence[Sequence[Any]] | None = None, *, data: bytes | None = None,
                  encoding: str = "utf-8", title: str | None = None) -> Path:
    """Write ``rows`` as CSV or XLSX (by suffix), or raw ``data`` bytes, to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        path.write_bytes(data)
    elif path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        if title:
            sheet.append([title])
        for row in rows or []:
            sheet.append(list(row))
        book.save(path)
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if title:
            writer.writerow([title])
        writer.writerows(rows or [])
        path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def drop(kongchuo_home: Path) -> Callable[..., Path]:
    def _drop(source: str, name: str, rows: Sequence[Sequence[Any]] | None = None, **kwargs: Any) -> Path:
        return write_extract(kongchuo_home / "landing" / source / name, rows, **kwargs)

    return _drop


@pytest.fixture(scope="session")
def autumn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 200-pupil autumn district (Sept–Oct 2026), generated once per session; tests copy it into their
    own KONGCHUO_HOME (``use_home(..., copy_of=autumn)``) and never write to it."""
    from kongchuo.generate import generate

    out = tmp_path_factory.mktemp("autumn") / "generated"
    generate("411003", 200, 7, dt.date(2026, 9, 1), dt.date(2026, 10, 31), out)
    return out


@pytest.fixture(scope="session")
def dagster_instance():
    """One ephemeral Dagster instance for the session (creating one costs ~0.4 s)."""
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as instance:
        yield instance
