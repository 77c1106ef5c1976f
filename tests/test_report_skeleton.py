"""Issue 17 item 3, one report skeleton: every report asset (R1–R8) is built by the one factory
(:func:`assets.report_skeleton.report_asset`) from a spec; each report's cells query is a ``.sql`` file under
``warehouse/sql/reports/`` loaded by name; report modules share public pieces, never each other's private names.

The factory's behaviour (cells recorded, workbook written atomically, metadata) is exercised end to end on a
generated district in ``tests/test_fast_tier.py`` (a new report made of one spec) and by every report test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dagster as dg
import pytest

from kongchuo.reports_catalog import REPORT_NAMES

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[1]
REPORT_MODULES = ("report_r1", "report_r2", "report_r3", "report_r4", "fix_list", "report_r6", "early_warning",
                  "report_r8")


def _report_specs() -> dict[dg.AssetKey, object]:
    """The spec behind each report asset of the definitions (manifests excluded: they list, not report)."""
    from pipelines.definitions import defs

    specs = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        for key in assets_def.keys:
            if key.path[0] != "reports" or key.path[-1].endswith("manifest"):
                continue
            fn = assets_def.op.compute_fn.decorated_fn
            specs[key] = getattr(fn, "report_spec", None)
    return specs


def test_every_report_asset_is_made_by_the_factory_from_one_spec():
    specs = _report_specs()
    assert None not in specs.values(), sorted(k.to_user_string() for k, s in specs.items() if s is None)
    ids = sorted(s.report_id for s in specs.values())
    assert ids == sorted(REPORT_NAMES), ids  # R1…R8, each once
    for key, spec in specs.items():
        assert spec.key == key
        assert spec.title == REPORT_NAMES[spec.report_id]
        assert spec.description.startswith(("R", REPORT_NAMES[spec.report_id]))


def test_cells_queries_are_sql_files_that_render_whole():
    from warehouse import sql

    with_cells = [s for s in _report_specs().values() if s.cells is not None]
    # R5 (findings) and R7 (a day's warnings) have no drill-down cells; the other six do
    assert sorted(s.report_id for s in with_cells) == ["R1", "R2", "R3", "R4", "R6", "R8"]
    for spec in with_cells:
        assert sql.path_of(f"reports/{spec.cells}").is_file()
        text = spec.cells_sql
        assert not re.search(r"\{\w+\}", text), (spec.report_id, "placeholder left")
        # the five columns of reports.cells, every row tagged with the bound period and report
        assert text.count(":report") >= 1 and text.count(":period") >= 1


def test_report_modules_do_not_import_each_others_private_names():
    offenders = []
    for name in (*REPORT_MODULES, "report_skeleton", "report_files", "manifest"):
        path = REPO / "assets" / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("assets."):
                offenders += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert offenders == []


def test_no_report_module_builds_its_own_asset():
    """The ``@dg.asset`` of a report lives in the factory only (manifests and non-report assets aside)."""
    own = []
    for name in REPORT_MODULES:
        tree = ast.parse((REPO / "assets" / f"{name}.py").read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and any("asset" in ast.unparse(d) for d in fn.decorator_list):
                if fn.name.startswith("r") and fn.name[1].isdigit():
                    own.append(f"{name}.{fn.name}")
    assert own == []


def test_every_report_sql_file_counts_in_a_code_version():
    """Each file of warehouse/sql/reports is named in the SQL_FILES of a report module (pipelines.policies
    fingerprints them into the asset's code_version), and each spec's cells file in its own module's."""
    import importlib

    from warehouse import sql

    named = {}
    for name in REPORT_MODULES:
        module = importlib.import_module(f"assets.{name}")
        for f in getattr(module, "SQL_FILES", ()):
            named.setdefault(f, set()).add(name)
    on_disk = {f"reports/{p.stem}" for p in (sql.ROOT / "reports").glob("*.sql")}
    assert on_disk - set(named) == set()
    for spec in _report_specs().values():
        if spec.cells is not None:
            fn_module = importlib.import_module(spec.build.__module__)
            assert f"reports/{spec.cells}" in fn_module.SQL_FILES, spec.report_id
