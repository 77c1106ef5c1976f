"""One report skeleton: a :class:`ReportSpec` per report (id, Chinese name, deps, cells query, sheet builder) and
:func:`report_asset`, the one factory that turns a spec into its Dagster asset.

Every report asset does the same things in the same order, here and nowhere else:

1. rebuild the report's rows of ``reports.cells`` from its cells query (``warehouse/sql/reports/<name>.sql``),
   so every number in the workbook is a count of cells and drills down to the cases behind it;
2. call the spec's sheet builder, which writes its workbook(s) through :meth:`ReportRun.write` (atomic, and
   ``…_草稿.xlsx`` with the notice sheet while the period's inputs are not whole);
3. remove older files of the period the report no longer writes (``stale_files``);
4. return the metadata: ``path``/``sha256`` of one workbook or ``files`` (each file's path, hash and scope codes,
   which the manifest copies), the row count, the source files and the report's own totals.

A new report is one spec module in ``assets/``: its SQL file(s), a builder and a :class:`ReportSpec` given to
:func:`register_report`. That registers the report (its id, asset and partition kind: monthly, quarterly or daily);
the definitions, the jobs (by group) and the period manifests collect the reports from the registry
(:func:`registered_reports`, which imports every module of the ``assets`` package once), and the manifest's report
id of each file comes from the registered spec (:func:`report_ids`). No other file names the report.
"""

# No postponed annotations: Dagster reads the types of the asset function's parameters (config, resources).
import dataclasses
import functools
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import dagster as dg
import pandas as pd

from assets.common import OWNERS, period_params
from assets.report_files import (
    cell_counts,
    current_district,
    draft_or_final,
    replace_cells,
    report_metadata,
    report_path,
    source_files_metadata,
)
from kongchuo.districts import district_name
from kongchuo.excel import Sheet, write_workbook
from kongchuo.labels import issuing_unit
from kongchuo.reports_catalog import AUDIENCES, REPORT_NAMES
from warehouse import sql
from warehouse.home import KongchuoHome
from warehouse.partitions import daily_partitions, monthly_partitions, period_of, quarterly_partitions
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.views import first_records_sql

NO_CELLS = "SELECT :period, :report, '', '', '' WHERE 1 = 0"  # a period without data: the report's cells go


def cell_text(value: Any) -> str:
    """A value as report text: '' for NULL/NaN."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


# The files person_sql renders, for the SQL_FILES of the reports that use it.
PERSON_SQL_FILES = ("reports/person", "matching/first_records", "matching/registry_persons")


def person_sql(keys: str) -> str:
    """Who each child of ``keys`` is (a query selecting ``person_key, id_number, student_no, school_code,
    township_code``): the registry record they are filed under (matching/first_records), else the census; for
    the reports that name children (R3, R4, R6)."""
    return sql.render("reports/person", keys=keys,
                      first_records=first_records_sql("p.person_key IN (SELECT person_key FROM k)"))


def column_total(counts: pd.DataFrame, column: str) -> int:
    """The sum of one column of :func:`assets.report_files.cell_counts` (0 when the report has no such cell)."""
    return int(counts[column].sum()) if not counts.empty and column in counts.columns else 0


@dataclasses.dataclass(frozen=True)
class Written:
    """One workbook a builder wrote: its path, SHA-256, body rows and scope codes (township, school) that the
    manifest records and the portal scopes by."""

    path: Path
    sha256: str
    rows: int = 0
    scope: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Built:
    """What a sheet builder returns: the files it wrote, the report's row count and its own metadata."""

    files: list[Written]
    rows: int
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ReportRun:
    """One materialization of a report: what its builder works with."""

    spec: "ReportSpec"
    context: dg.AssetExecutionContext
    home: KongchuoHome
    warehouse: WarehouseResource
    period: str
    config: Any = None
    params: dict[str, Any] | None = None  # the cells query's parameters (None: no data for the period)

    @property
    def title(self) -> str:
        return self.spec.title

    def counts(self) -> pd.DataFrame:
        """The report's cell counts per (row_key, column_key) for the period."""
        return cell_counts(self.warehouse, self.period, self.spec.report_id)

    def district_code(self) -> str:
        return current_district(self.warehouse)

    def district(self) -> str:
        return district_name(self.district_code())

    def unit(self) -> str:
        """The issuing unit (填报单位) of the region's reports."""
        return issuing_unit(self.district_code(), self.home.reference("districts.csv"))

    def path(self) -> Path:
        """``reports/<period>/<地区>_<期间>_<名称>[_草稿].xlsx`` (:func:`assets.report_files.report_path`)."""
        return report_path(self.home, self.warehouse, self.period, self.title)

    def write(self, sheets: Iterable[Sheet], final: Path | None = None, rows: int = 0, **scope: Any) -> Written:
        """Write one workbook atomically: at ``final`` (draft name while the inputs are not whole) or at the
        report's usual path."""
        if final is None:
            path = self.path()
        else:
            path = draft_or_final(final, self.warehouse, self.period) if self.spec.drafts else final
        return Written(path, write_workbook(path, sheets), rows, scope)


@dataclasses.dataclass(frozen=True)
class ReportSpec:
    """A report: everything that differs between reports. ``build`` writes the workbook(s) and says what it
    wrote; ``cells`` names its cells query (``warehouse/sql/reports/<cells>.sql``, selecting ``period, report,
    row_key, column_key, case_key``); ``params`` gives that query's parameters (None: no data, no cells)."""

    report_id: str
    key: dg.AssetKey
    description: str
    deps: Sequence[dg.AssetKey]
    build: Callable[[ReportRun], Built]
    cells: str | None = None
    params: Callable[[ReportRun], dict[str, Any] | None] = lambda run: period_params(run.period)
    cells_parts: Mapping[str, str] = dataclasses.field(default_factory=dict)  # render() placeholders
    partitions_def: dg.PartitionsDefinition = monthly_partitions
    group_name: str = "reports"
    kinds: frozenset[str] = frozenset({"excel", "openpyxl"})
    code_version: str = "1"
    config: type | None = None
    # "single": one workbook, metadata path/sha256; "files": several, metadata files/workbooks
    listing: str = "single"
    # the report's files of the period (any version): those this run did not write are removed
    stale_files: Callable[[ReportRun], Iterable[Path]] | None = None
    name: str | None = None  # the Chinese name; None: the catalogue's (kongchuo.reports_catalog.REPORT_NAMES)
    sources: bool = True  # metadata names the source files the report was built from
    file_counts: bool = True  # "files" listing: metadata also has workbooks and dagster/row_count
    drafts: bool = True  # …_草稿.xlsx while the period's inputs are not whole (not for R7's school days)
    # Who may read the files in the portal (the manifest records it; kongchuo.reports_catalog.AUDIENCES)
    audience: str = "district"

    @property
    def title(self) -> str:
        """The report's one Chinese name (:data:`kongchuo.reports_catalog.REPORT_NAMES`): titles, file names."""
        return self.name or REPORT_NAMES[self.report_id]

    @property
    def cells_sql(self) -> str | None:
        if self.cells is None:
            return None
        return sql.render(f"reports/{self.cells}", **self.cells_parts)


def period_files(run: ReportRun, pattern: str) -> list[Path]:
    """The files of the run's period folder matching ``pattern`` (none while the folder does not exist)."""
    folder = run.home.reports(run.period)
    return list(folder.glob(pattern)) if folder.exists() else []


def remove_stale(files: Iterable[Path], written: Iterable[Written]) -> None:
    """Files of an earlier run of the period that this run did not write (a county or township with nothing to
    report this time, the draft once the final is written) must not linger."""
    keep = {Path(w.path).name for w in written}
    for old in files:
        if old.name not in keep:
            old.unlink(missing_ok=True)


def materialize_report(spec: ReportSpec, context: dg.AssetExecutionContext, home: KongchuoHome,
                       warehouse: WarehouseResource, config: Any = None) -> dg.MaterializeResult:
    """The skeleton every report runs (see the module docstring)."""
    period = period_of(context)
    run = ReportRun(spec, context, home, warehouse, period, config)
    if spec.cells is not None:
        run.params = spec.params(run)
        cells = spec.cells_sql if run.params is not None else NO_CELLS
        replace_cells(warehouse, period, spec.report_id, cells, run.params or {})
    built = spec.build(run)
    if spec.stale_files is not None:
        remove_stale(spec.stale_files(run), built.files)
    return dg.MaterializeResult(metadata=report_result_metadata(spec, run, built))


def report_result_metadata(spec: ReportSpec, run: ReportRun, built: Built) -> dict[str, Any]:
    if spec.listing == "single":
        (only,) = built.files
        meta = report_metadata(only.path, only.sha256, built.rows, run.warehouse if spec.sources else None,
                               run.period)
    else:
        meta = {**(source_files_metadata(run.warehouse, run.period) if spec.sources else {}),
                "files": dg.MetadataValue.json([{"path": str(w.path), "sha256": w.sha256, **w.scope}
                                                for w in built.files])}
        if spec.file_counts:
            meta.update({"workbooks": len(built.files), "dagster/row_count": built.rows})
    meta.update(built.metadata)
    return meta


def _asset_name(key: dg.AssetKey) -> str:
    return re.sub(r"\W", "_", key.path[-1])


def report_asset(spec: ReportSpec, module: str) -> dg.AssetsDefinition:
    """The Dagster asset of a report. ``module`` (the spec's ``__name__``) becomes the compute function's module,
    so :mod:`pipelines.policies` fingerprints the SQL of the report's own module for its ``code_version``."""
    if spec.config is None:
        def compute(context: dg.AssetExecutionContext, home: KongchuoHome,
                    warehouse: WarehouseResource) -> dg.MaterializeResult:
            return materialize_report(spec, context, home, warehouse)
    else:
        def compute(context: dg.AssetExecutionContext, home: KongchuoHome, warehouse: WarehouseResource,
                    config) -> dg.MaterializeResult:
            return materialize_report(spec, context, home, warehouse, config)
        compute.__annotations__["config"] = spec.config
    compute.__name__ = compute.__qualname__ = _asset_name(spec.key)
    compute.__module__ = module
    compute.__doc__ = spec.description
    compute.report_spec = spec  # type: ignore[attr-defined]  (tests find every report's spec through it)
    return dg.asset(pool=WAREHOUSE_POOL, key=spec.key, deps=list(spec.deps), group_name=spec.group_name,
                    owners=OWNERS, partitions_def=spec.partitions_def, kinds=set(spec.kinds),
                    code_version=spec.code_version)(compute)


# --- the registry: each report module registers its spec; definitions and manifests collect reports from here ---

PARTITION_KINDS: dict[str, dg.PartitionsDefinition] = {
    "monthly": monthly_partitions, "quarterly": quarterly_partitions, "daily": daily_partitions}


@dataclasses.dataclass(frozen=True)
class Registered:
    """A registered report: its spec and its Dagster asset."""

    spec: ReportSpec
    asset: dg.AssetsDefinition

    @property
    def kind(self) -> str:
        """'monthly', 'quarterly' or 'daily': which period manifest lists the report's files."""
        return next(k for k, p in PARTITION_KINDS.items() if p == self.spec.partitions_def)


_REGISTRY: dict[dg.AssetKey, Registered] = {}


def register_report(spec: ReportSpec, module: str) -> dg.AssetsDefinition:
    """The report's asset (:func:`report_asset`), registered under its key (a module imported again replaces
    its entry). A report id may be registered once."""
    if spec.partitions_def not in PARTITION_KINDS.values():
        raise ValueError(f"{spec.report_id}: partitions must be one of {sorted(PARTITION_KINDS)}")
    if spec.audience not in AUDIENCES:
        raise ValueError(f"{spec.report_id}: audience must be one of {sorted(AUDIENCES)}")
    taken = {r.spec.report_id: key for key, r in _REGISTRY.items()}
    if taken.get(spec.report_id, spec.key) != spec.key:
        raise ValueError(f"report id {spec.report_id} is already registered for {taken[spec.report_id]}")
    asset = report_asset(spec, module)
    _REGISTRY[spec.key] = Registered(spec, asset)
    return asset


def unregister_report(key: dg.AssetKey) -> None:
    """Remove a report from the registry (tests that register a throw-away report)."""
    _REGISTRY.pop(key, None)


@functools.cache
def load_report_modules() -> tuple[str, ...]:
    """Import every module of the ``assets`` package once: each report module registers itself on import."""
    names = tuple(f"{__package__}.{m.name}" for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
    for name in names:
        importlib.import_module(name)
    return names


def registered_reports(kind: str | None = None) -> list[Registered]:
    """Every registered report (of one partition ``kind``), in report-id order."""
    load_report_modules()
    found = [r for r in _REGISTRY.values() if kind is None or r.kind == kind]
    return sorted(found, key=lambda r: (r.spec.report_id, r.spec.key.to_user_string()))


def report_ids() -> dict[str, str]:
    """Report asset (last part of its key) → report id (R1…R8), as the manifest records it and the portal reads."""
    return {r.spec.key.path[-1]: r.spec.report_id for r in registered_reports()}


def report_specs() -> dict[str, ReportSpec]:
    """Report asset (last part of its key) → its spec (the manifest records its id, name and audience)."""
    return {r.spec.key.path[-1]: r.spec for r in registered_reports()}
