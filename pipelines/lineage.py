"""Dagster's view of :mod:`kongchuo.lineage`: the declared tables and column lineage keyed by ``AssetKey``, and
the ``dagster/column_schema`` / ``dagster/column_lineage`` metadata :mod:`pipelines.policies` attaches to every asset.

Column lineage is stored by open-source Dagster (definition metadata, GraphQL) but drawn only by the hosted
product (the portal's 追溯 page draws it); tests check that every column named here exists upstream and that
upstream is a dependency.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import dagster as dg

from assets.common import table_schema
from kongchuo import lineage as declared


def _key(path: str) -> dg.AssetKey:
    return dg.AssetKey(path.split("/"))


STAGED = {source: _key(path) for source, path in declared.STAGED.items()}
ROSTER, SUSPECTED, OUT_OF_SCHOOL = _key(declared.ROSTER), _key(declared.SUSPECTED), _key(declared.OUT_OF_SCHOOL)
HOME_TEACHING, QUARTERLY_SUSPECTED = _key(declared.HOME_TEACHING), _key(declared.QUARTERLY_SUSPECTED)
TOWNSHIP_RATES, CASE_EVENTS = _key(declared.TOWNSHIP_RATES), _key(declared.CASE_EVENTS)
EARLY_WARNINGS, R1, R2 = _key(declared.EARLY_WARNINGS), _key(declared.R1), _key(declared.R2)

TABLES: dict[dg.AssetKey, tuple[str, ...]] = {_key(k): v for k, v in declared.TABLES.items()}
REPORT_COLUMNS: dict[dg.AssetKey, tuple[tuple[str, str], ...]] = {
    _key(k): v for k, v in declared.REPORT_COLUMNS.items()}
COLUMN_LINEAGE: dict[dg.AssetKey, dict[str, list[tuple[dg.AssetKey, str]]]] = {
    _key(k): {column: [(_key(a), c) for a, c in upstream] for column, upstream in columns.items()}
    for k, columns in declared.COLUMN_LINEAGE.items()}


def column_schema(key: dg.AssetKey) -> dg.TableSchema | None:
    """The ``dagster/column_schema`` of an asset: its tables' columns (union, in order), or a report's columns."""
    if key in REPORT_COLUMNS:
        return dg.TableSchema(columns=[dg.TableColumn(k, "int" if k != "school_code" else "string", description=label)
                                       for k, label in REPORT_COLUMNS[key]])
    if key not in TABLES:
        return None
    seen: dict[str, dg.TableColumn] = {}
    for table in TABLES[key]:
        for col in table_schema(table).columns:
            seen.setdefault(col.name, col)
    return dg.TableSchema(columns=list(seen.values()))


def column_lineage(key: dg.AssetKey) -> dg.TableColumnLineage | None:
    deps: Mapping[str, Sequence[tuple[dg.AssetKey, str]]] | None = COLUMN_LINEAGE.get(key)
    if not deps:
        return None
    return dg.TableColumnLineage(deps_by_column={
        column: [dg.TableColumnDep(asset_key=a, column_name=c) for a, c in dict.fromkeys(upstream)]
        for column, upstream in deps.items()
    })
