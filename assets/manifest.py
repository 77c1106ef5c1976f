"""The per-period manifest (``reports/<period>/manifest.json``), built after every report of the period."""


from pipelines.pools import WAREHOUSE_POOL
from typing import Sequence

import dagster as dg

from assets import completeness
from assets.common import OWNERS
from assets.report_files import source_files, source_files_metadata, write_manifest
from kongchuo.excel import sha256_file
from pipelines.partitions import period_bounds, period_of
from pipelines.resources import KongchuoHome
from warehouse.resource import WarehouseResource


def build_manifest_asset(name: str, report_keys: Sequence[dg.AssetKey],
                         partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(pool=WAREHOUSE_POOL, key=dg.AssetKey(["reports", name]), deps=list(report_keys), group_name="reports", owners=OWNERS,
              partitions_def=partitions_def, kinds={"json"}, code_version="1")
    def _manifest(context: dg.AssetExecutionContext, home: KongchuoHome,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
        """报表清单 Manifest: every report file of the period with its SHA-256 and the source files
        (by content hash) it was built from."""
        period = period_of(context)
        sources = source_files(warehouse, period_bounds(period)[1])
        done = completeness.state(warehouse, period)  # draft hook: incomplete inputs make a draft manifest
        path = write_manifest(home.reports(period), sources, done.as_manifest())
        return dg.MaterializeResult(metadata={
            **source_files_metadata(warehouse, period),
            "path": dg.MetadataValue.path(str(path)),
            "sha256": sha256_file(path),
            "source_files": dg.MetadataValue.md(sources[["source", "original_name", "file_sha"]].to_markdown(index=False)
                                                if len(sources) else "(none)"),
            "dagster/row_count": len(sources),
            "complete": done.complete,
        })

    return _manifest
