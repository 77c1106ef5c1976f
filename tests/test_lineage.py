"""Lineage an auditor can follow (issue 5): asset policies, column lineage, data versions and staleness, the
cell drill-down against the Excel files, and the asset graph and check results through a real webserver.

Two generated districts: the shared session run of :mod:`district_run` (four months and a quarter) for the
drill-down, and this module's own smaller run of 2026-06 in a persistent Dagster instance (``DAGSTER_HOME``
in a temp folder), which the webserver reads and which the staleness test changes (a new file is ingested).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.instance.ref import InstanceRef
from dagster._time import get_current_datetime
from district_run import END, MONTHS, QUARTER, START, district_run, install_district, kongchuo_env, run_periods

from kongchuo.settings import SOURCES, default_warehouse_url
from pipelines import lineage, policies
from pipelines.definitions import defs
from pipelines.explain import cell_cases
from warehouse.resource import WarehouseResource

REPO = Path(__file__).resolve().parent.parent
PERIOD = "2026-06"
R1 = dg.AssetKey(["reports", "r1_monthly"])
EXTRACTS = [dg.AssetKey(["staged", s]) for s in SOURCES]
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _graph():
    return defs.resolve_asset_graph()


# --- definitions: every asset carries the policy attributes -----------------------------------------

def test_every_asset_has_group_owners_kinds_bilingual_description_and_code_version():
    graph = _graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.path)
    assert len(keys) >= 20
    problems = []
    for key in keys:
        node = graph.get(key)
        desc = node.description or ""
        if node.group_name not in policies.GROUPS:
            problems.append((key.to_user_string(), "group", node.group_name))
        if not node.owners or not all(o.startswith("team:") or "@" in o for o in node.owners):
            problems.append((key.to_user_string(), "owners", node.owners))
        if not node.kinds:
            problems.append((key.to_user_string(), "kinds", node.kinds))
        if not _CJK.search(desc) or not re.search(r"[A-Za-z]{4,}", desc):
            problems.append((key.to_user_string(), "description (Chinese and English)", desc[:40]))
        if not node.code_version:
            problems.append((key.to_user_string(), "code_version", node.code_version))
    assert problems == []


def test_tables_have_column_schema_and_derived_tables_column_lineage():
    graph = _graph()
    for key in graph.get_all_asset_keys():
        md = graph.get(key).metadata
        if key.path[0] in ("staged", "derived", "ledger"):
            assert isinstance(md.get("dagster/column_schema"), dg.TableSchema), key
            assert md.get("dagster/table_name"), key
        if key.path[0] in ("derived", "ledger"):
            assert isinstance(md.get("dagster/column_lineage"), dg.TableColumnLineage), key
    for key in (R1, lineage.R2):
        assert isinstance(graph.get(key).metadata.get("dagster/column_lineage"), dg.TableColumnLineage)


def test_column_lineage_names_real_upstream_columns_of_real_dependencies():
    graph = _graph()
    checked = 0
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        col_lineage = node.metadata.get("dagster/column_lineage")
        if col_lineage is None:
            continue
        own = {c.name for c in node.metadata["dagster/column_schema"].columns}
        for column, deps in col_lineage.deps_by_column.items():
            assert column in own, (key, column)
            for dep in deps:
                assert dep.asset_key in node.parent_keys, (key, column, dep.asset_key)
                upstream = {c.name for c in graph.get(dep.asset_key).metadata["dagster/column_schema"].columns}
                assert dep.column_name in upstream, (key, column, dep.asset_key, dep.column_name)
                checked += 1
    assert checked > 150


def test_code_version_follows_the_rule_sql(tmp_path, monkeypatch):
    import assets.derived as derived
    import warehouse.sql as sql_files

    graph = _graph()
    fingerprint = policies.rule_fingerprint(policies.rule_texts(derived))
    assert set(derived.SQL_FILES) >= {"rules/roster", "rules/suspected_dropouts", "rules/out_of_school"}
    assert graph.get(lineage.ROSTER).code_version == policies.code_version_for("1", fingerprint)
    # a changed rule file (a copy of warehouse/sql with one condition of the roster changed) changes the version
    shutil.copytree(sql_files.ROOT, tmp_path / "sql")
    roster = tmp_path / "sql" / "rules" / "roster.sql"
    text = roster.read_text(encoding="utf-8")
    assert "BETWEEN :term_first AND :term_tenth" in text
    roster.write_text(text.replace("BETWEEN :term_first AND :term_tenth", "BETWEEN :term_first AND :end"),
                      encoding="utf-8")
    monkeypatch.setattr(sql_files, "ROOT", tmp_path / "sql")
    sql_files.load.cache_clear()
    try:
        assert policies.rule_fingerprint(policies.rule_texts(derived)) != fingerprint
    finally:
        monkeypatch.undo()
        sql_files.load.cache_clear()
    assert policies.rule_fingerprint(policies.rule_texts(derived)) == fingerprint
    # so do the rule thresholds
    changed = types.ModuleType("changed")
    changed.__dict__.update(vars(derived))
    changed.RuleConfig = type("RuleConfig", (derived.RuleConfig,), {"__annotations__": {"consecutive_days": int},
                                                                   "consecutive_days": 4})
    assert policies.rule_fingerprint(policies.rule_texts(changed)) != fingerprint


# --- drill-down: every non-zero cell of R1 and R2 lists exactly as many cases --------------------------

def _read_report(folder: Path, pattern: str) -> pd.DataFrame:
    [path] = folder.glob(pattern)
    return pd.read_excel(path, header=None, engine="calamine", dtype=object)


def _body(df: pd.DataFrame, header_row: int) -> pd.DataFrame:
    first = df[0].astype(str).tolist()
    end = first.index("合计")
    return df.iloc[header_row + 1:end]


def _text(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).removesuffix(".0").strip()


def _assert_cells_match(warehouse, period, report, rows: list[tuple[str, list]], keys: list[str]) -> int:
    mismatches, nonzero = [], 0
    for row_key, values in rows:
        for col_key, value in zip(keys, values):
            if col_key == "rate" or _text(value) in ("", "0", "—"):
                continue
            nonzero += 1
            n = len(cell_cases(warehouse, period, report, row_key, col_key))
            if n != int(float(value)):
                mismatches.append((period, report, row_key, col_key, int(float(value)), n))
    assert mismatches == []
    return nonzero


def test_drilldown_lists_as_many_cases_as_every_nonzero_cell_of_r1_and_r2():
    from assets import report_r1, report_r2

    run = district_run()
    wh = run.warehouse
    towns = wh.query_df("SELECT township_code, township_name FROM staged.townships")
    code_of = dict(zip(towns["township_name"], towns["township_code"]))
    total = 0
    keys = [k for k, _ in report_r1.COLUMNS]
    for period in MONTHS:
        df = _read_report(run.reports(period), "*_控辍保学月报.xlsx")
        header = df.index[df[0] == "乡镇（街道）"][0] + 1  # group header row, then the label row
        rows = []
        for r in _body(df, header).itertuples(index=False):
            if _text(r[1]) == report_r1.SUBTOTAL:
                continue  # a township's 小计 adds up its rows (tests/test_reports.py)
            school = _text(r[2])
            rows.append((school or report_r1.OOS_ROW_PREFIX + code_of[r[0]], list(r[3:3 + len(keys)])))
        total += _assert_cells_match(wh, period, "R1", rows, keys)
    df = _read_report(run.reports(QUARTER), "*_控辍保学排查整改工作情况统计表.xlsx")
    header = df.index[df[0] == "乡镇（街道）"][0] + 1  # group header row, then the label row
    keys = [k for k, _, _ in report_r2.COLUMNS]
    rows = [(report_r2.ROW_PREFIX + code_of.get(r[0], "unknown"), list(r[1:1 + len(keys)]))
            for r in _body(df, header).itertuples(index=False)]
    r2_nonzero = _assert_cells_match(wh, QUARTER, "R2", rows, keys)
    assert total > 20 and r2_nonzero > 10


# --- a persistent instance of our own: GraphQL through the real webserver, then staleness -----------------

@dataclass
class LineageRun:
    home: Path
    dagster_home: Path
    instance: dg.DagsterInstance
    outcome: object

    @property
    def warehouse(self) -> WarehouseResource:
        return WarehouseResource(url=default_warehouse_url(self.home))


@pytest.fixture(scope="module")
def lineage_run(tmp_path_factory: pytest.TempPathFactory):
    from kongchuo.generate import generate

    root = tmp_path_factory.mktemp("lineage")
    generated, home, dagster_home = root / "generated", root / "home", root / "dagster"
    generate("411003", 1500, 11, START, END, generated)  # the shared run's district: no blocking DQ errors
    install_district(generated, home)
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        outcome = run_periods(home, (PERIOD,), instance)[PERIOD]
        assert outcome.success, outcome.summary()
        yield LineageRun(home, dagster_home, instance, outcome)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(lineage_run: LineageRun):
    """The real ``dagster-webserver`` (read-only, as auditors get it) on this module's instance and data."""
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(lineage_run.dagster_home), "KONGCHUO_HOME": str(lineage_run.home),
           "DAGSTER_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false"}
    env.pop("KONGCHUO_WAREHOUSE_URL", None)
    log = (lineage_run.dagster_home / "webserver.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml",
                             "-h", "127.0.0.1", "-p", str(port), "--read-only"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "dagster-webserver exited; see webserver.log in the test's DAGSTER_HOME"
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "dagster-webserver did not come up in 180 s"
            time.sleep(0.5)
        _wait_for_location(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        out = json.loads(resp.read())
    assert "errors" not in out, out.get("errors")
    return out["data"]


def _wait_for_location(url: str) -> None:
    deadline = time.monotonic() + 120
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
                locationOrLoadError { __typename } } } } }"""
    while time.monotonic() < deadline:
        entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
            return
        time.sleep(0.5)
    raise AssertionError("code location did not load in 120 s")


ASSET_NODES = """
query Nodes($partition: String) {
  assetNodes {
    assetKey { path }
    groupName description opVersion kinds
    owners { __typename ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    dependencyKeys { path }
    metadataEntries { label __typename }
    staleStatus(partition: $partition)
    staleCauses(partition: $partition) { key { path } category reason dependency { path } }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking
        executionForLatestMaterialization { status runId partition evaluation { success severity } } } }
    }
  }
}"""


def _nodes(url: str, partition: str | None = PERIOD) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in graphql(url, ASSET_NODES, {"partition": partition})["assetNodes"]}


def _upstream(nodes: dict[str, dict], key: str) -> set[str]:
    seen, todo = set(), [key]
    while todo:
        for dep in nodes[todo.pop()]["dependencyKeys"]:
            name = "/".join(dep["path"])
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def test_graphql_every_extract_reaches_the_reports_it_feeds(webserver: str):
    nodes = _nodes(webserver)
    reports = sorted(k for k in nodes if k.startswith("reports/") and not k.endswith("manifest"))
    assert {"reports/r1_monthly", "reports/quarterly/r2_statistics", "reports/r3_one_student_one_form",
            "reports/r4_escalations", "reports/r5_fix_list", "reports/r6_home_teaching"} <= set(reports)
    reach = {report: {k for k in _upstream(nodes, report) if k.startswith("staged/")} for report in reports}
    # R1, R2 and R3 (the case files) rest on every extract; the others on the ones their rules read.
    everything = {f"staged/{s}" for s in (*SOURCES, "reference")}
    for report in ("reports/r1_monthly", "reports/quarterly/r2_statistics", "reports/r3_one_student_one_form"):
        assert reach[report] == everything, (report, everything - reach[report])
    assert {"staged/casework", "staged/registry", "staged/attendance"} <= reach["reports/r4_escalations"]
    assert {"staged/registry", "staged/attendance"} <= reach["reports/r5_fix_list"]
    assert {"staged/home_teaching", "staged/registry"} <= reach["reports/r6_home_teaching"]
    for extract in EXTRACTS:
        assert any(extract.to_user_string() in r for r in reach.values()), extract
    # the manifests list every report of their period
    assert _upstream(nodes, "reports/monthly_manifest") >= {r for r in reports if "quarterly" not in r
                                                            and r != "reports/r7_daily"}
    assert "reports/r7_daily" in _upstream(nodes, "reports/daily_manifest")
    assert "reports/quarterly/r2_statistics" in _upstream(nodes, "reports/quarterly/manifest")


def test_graphql_every_asset_has_owners_kinds_description_code_version_and_lineage(webserver: str):
    nodes = _nodes(webserver)
    assert set(nodes) == {k.to_user_string() for k in _graph().get_all_asset_keys()}
    for key, node in nodes.items():
        assert node["owners"] and node["owners"][0]["__typename"] == "TeamAssetOwner", key
        assert node["kinds"], key
        assert node["description"] and _CJK.search(node["description"]), key
        assert node["opVersion"], key
        labels = {m["label"] for m in node["metadataEntries"]}
        if key.startswith(("derived/", "ledger/")):
            assert {"dagster/column_schema", "dagster/column_lineage"} <= labels, (key, labels)
    roster_lineage = [m for m in nodes["derived/roster"]["metadataEntries"] if m["label"] == "dagster/column_lineage"]
    assert roster_lineage[0]["__typename"] == "TableColumnLineageMetadataEntry"


def test_graphql_asset_checks_show_their_last_results(webserver: str, lineage_run: LineageRun):
    nodes = _nodes(webserver)
    expected = {(c.asset_key.to_user_string(), c.name) for ch in defs.asset_checks for c in ch.check_keys}
    assert len(expected) >= 10
    seen = {}
    for key, node in nodes.items():
        checks = node["assetChecksOrError"]
        if checks["__typename"] != "AssetChecks":
            continue
        for check in checks["checks"]:
            seen[(key, check["name"])] = check["executionForLatestMaterialization"]
    assert set(seen) == expected
    run_ids = {e["runId"] for e in seen.values() if e}
    missing = sorted(k for k, e in seen.items() if not e or not e["evaluation"])
    assert missing == []
    assert run_ids == {lineage_run.outcome.run_id}
    assert {e["status"] for e in seen.values()} <= {"SUCCEEDED", "FAILED"}
    failed = {(k[1], e["evaluation"]["severity"]) for k, e in seen.items() if not e["evaluation"]["success"]}
    assert failed == {(check, sev) for _, check, sev in lineage_run.outcome.failed_checks}


def _stale(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str = PERIOD):
    """Dagster's own stale status of one partition (what the UI shows), from the instance's event log."""
    graph = _graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    return resolver.get_status(key, partition), resolver.get_stale_root_causes(key, partition)


def test_a_new_source_file_makes_the_reports_stale(lineage_run: LineageRun, webserver: str):
    """Last in the module: it changes the instance the other tests read."""
    instance, home = lineage_run.instance, lineage_run.home
    assert _stale(instance, R1)[0] == StaleStatus.FRESH
    assert _nodes(webserver)["reports/r1_monthly"]["staleStatus"] == "FRESH"

    # Re-ingesting with nothing new keeps the data versions, so nothing downstream goes stale.
    with kongchuo_env(home):
        from pipelines.run import run_period

        again = run_period(PERIOD, job="ingest_job", instance=instance, defs=_defs_for(home))
    assert again.success, again.summary()
    assert _stale(instance, R1)[0] == StaleStatus.FRESH

    # A new casework file (same rows, saved as CSV: new content hash) changes staged/casework's data version.
    [xlsx] = (home / "landing" / "casework").glob("*.xlsx")
    pd.read_excel(xlsx, engine="calamine", dtype=str).to_csv(
        home / "landing" / "casework" / "劝返记录_补报.csv", index=False, encoding="utf-8")
    with kongchuo_env(home):
        outcome = run_period(PERIOD, job="ingest_job", instance=instance, defs=_defs_for(home))
    assert outcome.success, outcome.summary()
    status, causes = _stale(instance, R1)
    assert status == StaleStatus.STALE
    assert [(c.key.asset_key, c.key.partition_key, c.reason) for c in causes] == [
        (dg.AssetKey(["staged", "casework"]), PERIOD, "has a new data version")]
    r3 = dg.AssetKey(["reports", "r3_one_student_one_form"])
    for key in (lineage.CASE_EVENTS, dg.AssetKey(["reports", "r4_escalations"])):
        assert _stale(instance, key)[0] == StaleStatus.STALE, key
    # Dagster's staleness is one hop: R3 reads casework only through the ledger, and goes stale once the
    # ledger is brought up to date (its new data version then differs from the one R3 was built from).
    # An asset that does not read casework at all stays fresh.
    assert _stale(instance, r3)[0] == StaleStatus.FRESH
    assert _stale(instance, lineage.OUT_OF_SCHOOL)[0] == StaleStatus.FRESH
    project = _defs_for(home)
    with kongchuo_env(home):
        result = dg.materialize(list(project.assets), selection=[lineage.CASE_EVENTS], partition_key=PERIOD,
                                instance=instance, resources=project.resources)
    assert result.success
    assert _stale(instance, lineage.CASE_EVENTS)[0] == StaleStatus.FRESH
    assert _stale(instance, r3)[0] == StaleStatus.STALE

    nodes = _nodes(webserver)
    assert nodes["reports/r1_monthly"]["staleStatus"] == "STALE"
    assert nodes["derived/out_of_school"]["staleStatus"] == "FRESH"
    meta = instance.get_latest_materialization_event(dg.AssetKey(["staged", "casework"])).asset_materialization
    assert meta.metadata["period"].value == PERIOD


def _defs_for(home: Path) -> dg.Definitions:
    from district_run import definitions_for

    return definitions_for(home)
