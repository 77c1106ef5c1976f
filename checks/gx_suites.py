"""Great Expectations 1.x suites run inside the asset checks (``dagster-ge`` supports only GX < 1.0).

GX is imported lazily (it costs ~4 s) with analytics off, and runs on what it is good at — column presence,
non-null, value sets, ID format, row-count bounds — on a bounded pandas frame read from the staged table
(at most :data:`MAX_ROWS` rows). Record-level findings come from warehouse SQL; GX results are reported as
counts only: GX's ``partial_unexpected_list`` can hold ID numbers and is never copied anywhere.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from checks.rules import GRADE_RANGE, VALUE_SETS
from kongchuo.sources import SPECS
from warehouse.layout import staged_columns

MAX_ROWS = 200_000
ID_REGEX = r"^[0-9]{17}[0-9X]$"

_lock = threading.Lock()
_context: Any = None


def _gx():
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    return gx


def preload() -> None:
    """Import Great Expectations and build its context in a background thread (~3 s of imports). The run
    calls this before it starts: ingestion mostly waits on its parse workers and DuckDB, so the import is
    done by the time the first DQ03 check needs it instead of being paid inside that check."""
    threading.Thread(target=_get_context, name="gx-preload", daemon=True).start()


def _get_context():
    global _context
    with _lock:
        if _context is None:
            gx = _gx()
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            _context = ctx
        return _context


@dataclass
class GxOutcome:
    success: bool
    rows: int
    sampled: bool
    results: list[dict[str, Any]] = field(default_factory=list)

    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]

    def markdown(self) -> str:
        if not self.results:
            return "(no expectations)"
        lines = ["| expectation | column | success | unexpected | unexpected % | observed |", "|---|---|---|---|---|---|"]
        for r in self.results:
            lines.append(f"| {r['expectation']} | {r['column'] or ''} | {r['success']} | "
                         f"{'' if r['unexpected_count'] is None else r['unexpected_count']} | "
                         f"{'' if r['unexpected_percent'] is None else round(r['unexpected_percent'], 2)} | "
                         f"{'' if r['observed'] is None else r['observed']} |")
        return "\n".join(lines)


def run_suite(name: str, frame: pd.DataFrame, expectations: list[Any], sampled: bool = False) -> GxOutcome:
    """Validate ``frame`` against ``expectations`` (GX expectation objects) in the shared ephemeral context."""
    gx = _gx()
    ctx = _get_context()
    with _lock:
        tag = f"{name}_{uuid.uuid4().hex[:8]}"
        ds = ctx.data_sources.add_pandas(name=tag)
        batch_def = ds.add_dataframe_asset(name=tag).add_batch_definition_whole_dataframe(tag)
        suite = gx.ExpectationSuite(name=tag)
        for e in expectations:
            suite.add_expectation(e)
        try:
            result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(
                suite, result_format="SUMMARY")
        finally:
            ctx.data_sources.delete(tag)
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        observed = res.get("observed_value")
        rows.append({
            "expectation": cfg.type,
            "column": cfg.kwargs.get("column"),
            "success": bool(r.success),
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": res.get("unexpected_percent"),
            # table-level observations only (row counts, column lists); never column values
            "observed": observed if isinstance(observed, (int, float, list)) else None,
        })
    return GxOutcome(success=bool(result.success), rows=len(frame), sampled=sampled, results=rows)


def _cast(frame: pd.DataFrame) -> pd.DataFrame:
    """GX on pandas 3: plain object columns compare most predictably."""
    out = frame.copy()
    for c in out.columns:
        if str(out[c].dtype) in ("str", "string"):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def dq03_expectations(source: str) -> list[Any]:
    """Columns present, required values non-null, codes in their value sets, grade in range."""
    gx = _gx()
    spec = SPECS[source]
    ex: list[Any] = [gx.expectations.ExpectTableColumnsToMatchSet(column_set=staged_columns(source), exact_match=False)]
    ex += [gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in spec.required]
    for (src, col), values in VALUE_SETS.items():
        if src == source and values:
            ex.append(gx.expectations.ExpectColumnValuesToBeInSet(column=col, value_set=list(values)))
    if source == "registry":
        ex.append(gx.expectations.ExpectColumnValuesToBeBetween(column="grade", min_value=GRADE_RANGE[0],
                                                                max_value=GRADE_RANGE[1]))
    return ex


def dq03_frame_columns(source: str) -> list[str]:
    return staged_columns(source)


def dq01_expectations(max_fail: float) -> list[Any]:
    gx = _gx()
    return [gx.expectations.ExpectColumnValuesToMatchRegex(column="id_number", regex=ID_REGEX, mostly=1 - max_fail)]


def dq09_expectations(previous: int, change: float) -> list[Any]:
    gx = _gx()
    return [gx.expectations.ExpectColumnValuesToBeBetween(
        column="row_count", min_value=int(previous * (1 - change)), max_value=int(previous * (1 + change)) + 1)]


def validate_sql_frame(name: str, warehouse, sql: str, params: dict[str, Any], expectations: list[Any]) -> GxOutcome:
    """Read at most :data:`MAX_ROWS` rows of ``sql`` and validate them."""
    frame = warehouse.query_columnar_df(f"SELECT * FROM ({sql}) q LIMIT {MAX_ROWS + 1}", params)
    sampled = len(frame) > MAX_ROWS
    return run_suite(name, _cast(frame.head(MAX_ROWS)), expectations, sampled=sampled)
