"""Small helpers every asset module shares: asset metadata conventions and table schemas."""

from __future__ import annotations

from typing import Any

import dagster as dg

from assets.report_files import source_files_metadata
from kongchuo.masking import preview_markdown
from warehouse.layout import TABLES
from warehouse.partitions import period_bounds, school_year_reference_date
from warehouse.resource import WarehouseResource

OWNERS = ["team:data-engineering"]
_SQL_TYPES = {"TEXT": "string", "DATE": "date", "INTEGER": "int", "BIGINT": "int", "BOOLEAN": "bool",
              "DOUBLE": "float", "TIMESTAMP": "timestamp"}


def table_schema(table: str) -> dg.TableSchema:
    """``dagster/column_schema`` of a warehouse table, read from the one layout definition."""
    cols = []
    for part in TABLES[table].replace("\n", " ").split(","):
        bits = part.split()
        if bits:
            cols.append(dg.TableColumn(bits[0], _SQL_TYPES.get(bits[1].upper(), bits[1].lower())))
    return dg.TableSchema(columns=cols)


def period_params(period: str) -> dict[str, Any]:
    start, end = period_bounds(period)
    return {"period": period, "start": start, "end": end, "ref_date": school_year_reference_date(start)}


def table_metadata(warehouse: WarehouseResource, table: str, period: str, preview_columns: str = "*") -> dict[str, Any]:
    """Row count, schema, partition, source files (by SHA-256) and a masked preview of one period of a derived table."""
    count = int(warehouse.scalar(f"SELECT count(*) FROM {table} WHERE period = :p", {"p": period}))
    sample = warehouse.query_df(f"SELECT {preview_columns} FROM {table} WHERE period = :p LIMIT 10", {"p": period})

    return {
        **source_files_metadata(warehouse, period),
        "dagster/row_count": count,
        "dagster/column_schema": table_schema(table),
        "dagster/table_name": table,
        "period": period,
        "preview": dg.MetadataValue.md(preview_markdown(sample)),
    }
