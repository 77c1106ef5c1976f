"""Drill-down: the (masked) cases behind one report cell, from ``reports.cells``."""

from __future__ import annotations

from kongchuo import settings
from kongchuo.masking import mask_id
from warehouse.resource import WarehouseResource


def cell_cases(warehouse: WarehouseResource, period: str, report: str, row: str, column: str) -> list[str]:
    df = warehouse.query_df(
        "SELECT DISTINCT case_key FROM reports.cells WHERE period = :p AND report = :r AND row_key = :row "
        "AND column_key = :col ORDER BY case_key", {"p": period, "r": report, "row": row, "col": column})
    return df["case_key"].tolist()


def explain(period: str, report: str, row: str, column: str, warehouse: WarehouseResource | None = None) -> str:
    warehouse = warehouse or WarehouseResource(url=settings.warehouse_url())
    cases = cell_cases(warehouse, period, report, row, column)
    lines = [f"{report} {period} 行 row={row} 列 column={column}: {len(cases)} 个 case(s)"]
    for key in cases:
        person, _, when = key.partition("@")
        lines.append(f"  {mask_id(person)}{'@' + when if when else ''}")
    return "\n".join(lines)
