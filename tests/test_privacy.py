"""Privacy by design: a full monthly run on a generated district leaks no ID number and no full name into the
Dagster event log (messages, metadata, check previews, errors) or the captured stdout/stderr."""

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import pytest

from kongchuo.generate import Rates, generate
from kongchuo.masking import mask_id, mask_name
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

START, END = dt.date(2026, 3, 2), dt.date(2026, 4, 30)
PERIOD = "2026-04"


def _defs(home: Path) -> dg.Definitions:
    from pipelines.definitions import defs
    from pipelines.jobs import monthly_job

    resources = {"home": KongchuoHome(path=str(home)),
                 "warehouse": WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}")}
    return dg.Definitions(assets=list(defs.assets), asset_checks=list(defs.asset_checks), jobs=[monthly_job],
                          resources=resources)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "home"
    generate("411003", 800, 3, START, END, out,
             rates=Rates(DQ01=0.01, DQ02=0.01, DQ04=0.01, DQ06=0.01, DQ07=0.01, DQ08=0.005))
    monkeypatch.setenv("KONGCHUO_HOME", str(out))
    monkeypatch.delenv("KONGCHUO_WAREHOUSE_URL", raising=False)
    return out


def _secrets(wh: WarehouseResource) -> tuple[set[str], set[str]]:
    """Every ID number (normalised and raw) and every full name that came in through the landing files."""
    ids: set[str] = set()
    names: set[str] = set()
    for source, id_cols, name_cols in (("registry", ("id_number", "id_number_raw", "student_no"),
                                        ("name", "guardian_name")),
                                       ("census", ("id_number", "id_number_raw"), ("name",)),
                                       ("attendance", ("id_number", "id_number_raw", "student_no"), ()),
                                       ("casework", ("id_number", "id_number_raw"), ()),
                                       ("exemptions", ("id_number", "id_number_raw"), ()),
                                       ("home_teaching", ("id_number", "id_number_raw"), ("teacher",))):
        for col in id_cols:
            ids |= set(wh.query_df(f"SELECT DISTINCT {col} AS v FROM staged.{source} WHERE {col} IS NOT NULL")["v"])
        for col in name_cols:
            names |= set(wh.query_df(f"SELECT DISTINCT {col} AS v FROM staged.{source} WHERE {col} IS NOT NULL")["v"])
    ids = {str(i).strip() for i in ids if len(str(i).strip()) >= 15}
    return ids, {str(n).strip() for n in names if len(str(n).strip()) >= 2}


def test_full_run_leaks_no_id_or_name(home: Path, capfd):
    from pipelines.run import run_period

    instance = dg.DagsterInstance.ephemeral()
    outcome = run_period(PERIOD, defs=_defs(home), instance=instance)
    print(outcome.summary())
    captured = capfd.readouterr()
    records = instance.all_logs(outcome.run_id)
    assert len(records) > 50
    text = "\n".join([str(r) for r in records] + [captured.out, captured.err])
    ids, names = _secrets(WarehouseResource(url=f"duckdb:///{home / 'warehouse.duckdb'}"))
    assert len(ids) > 500 and len(names) > 500
    # the digits of an ID may also appear with spaces or full-width digits in raw values: compare runs of digits
    leaked_ids = sorted(i for i in ids if i in text)
    # a name counts as leaked when it appears as a whole token (not inside a longer place name)
    cjk = re.compile(r"[\u4e00-\u9fff]+")
    tokens = set(cjk.findall(text))
    leaked_names = sorted(n for n in names if n in tokens)
    assert not leaked_ids, f"{len(leaked_ids)} ID numbers leaked, e.g. {[mask_id(i) for i in leaked_ids[:5]]}"
    assert not leaked_names, f"{len(leaked_names)} names leaked, e.g. {[mask_name(n) for n in leaked_names[:5]]}"
    # three-character names must not appear even inside other text
    long_names = sorted(n for n in names if len(n) >= 3 and n in text)
    assert not long_names, f"{len(long_names)} names leaked, e.g. {[mask_name(n) for n in long_names[:5]]}"
    assert "dq01_valid_id_number" in text  # the checks ran in this run
    assert "offending_rows" in text and "*" in text  # check metadata (masked previews) is part of the text
    # no preview shows a birth date beside a masked ID (the birth date is exactly what the mask hides)
    masked = re.compile(r"\d{6}\*{8,}[0-9X]")
    rebuildable = [str(r)[:80] for r in records if masked.search(str(r)) and re.search(r"\|\s*birth_date", str(r))]
    assert not rebuildable, f"{len(rebuildable)} event(s) show birth_date beside a masked ID"
