"""追溯 (trace): from a number in a report back to the cases, rules, evidence rows, source files and the Dagster
run behind it, read from the warehouse (``reports.cells``: one row per report, period, row, column and case).

Read-only: SELECTs only, on a connection closed after each page (DuckDB: the pipeline can take the file
between page views). Every person appears by masked ID (kongchuo.masking); names are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from kongchuo.masking import mask_id
from kongchuo.periods import period_bounds
from warehouse.sql import load

MAX_ROWS = 400        # rows of the count table on one page
MAX_CASES = 100       # cases listed for one number
MAX_EVIDENCE = 12     # evidence rows per case and source
_ID_IN_TEXT = re.compile(r"\d{17}[\dXx]|\d{15}")

SOURCE_LABELS = {"registry": "学籍", "attendance": "考勤", "census": "户籍人口", "casework": "劝返记录",
                 "exemptions": "延缓入学/休学", "home_teaching": "送教上门", "checks": "数据质量检查"}
RULE_LABELS = {"SD1": "SD1 连续或累计旷课", "SD2": "SD2 开学未返校", "SD3": "SD3 转出未接收", "SD4": "SD4 学籍辍学",
               "SD5": "SD5 空挂学籍（本月无考勤）", "SD6": "SD6", "OOS": "失学（户籍比对未入学）",
               "OOS?": "外出待核实（户籍比对）"}

# Evidence rows of one person: (source, file_sha, row_no, what the row says).
EVIDENCE_SQL = load("portal/evidence")


@dataclass(frozen=True)
class CaseTrace:
    masked: str
    when: str
    rules: list[str]
    evidence: list[dict]


class TraceReader:
    """Queries for the 追溯 pages, each on a short-lived connection."""

    def __init__(self, warehouse_url: str):
        from warehouse.resource import WarehouseResource

        self.warehouse = WarehouseResource(url=warehouse_url, lock_timeout_seconds=2.0)

    def _df(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        try:
            return self.warehouse.query_df(sql, params or {})
        finally:
            if self.warehouse.is_duckdb:
                self.warehouse.dispose()

    def choices(self) -> pd.DataFrame:
        """(report, period) pairs that have drill-down rows."""
        return self._df("SELECT DISTINCT report, period FROM reports.cells ORDER BY period DESC, report")

    def counts(self, report: str, period: str) -> pd.DataFrame:
        """row_key, column_key, n (distinct cases) of one report and period."""
        return self._df("SELECT row_key, column_key, count(DISTINCT case_key) AS n FROM reports.cells "
                        "WHERE report = :r AND period = :p GROUP BY row_key, column_key ORDER BY row_key, column_key",
                        {"r": report, "p": period})

    def runs(self, report: str, period: str) -> pd.DataFrame:
        try:
            return self._df("SELECT file, sha256, run_id, manifest_run_id FROM reports.report_runs "
                            "WHERE report = :r AND period = :p ORDER BY file", {"r": report, "p": period})
        except Exception:  # a warehouse from before run ids were recorded
            return pd.DataFrame(columns=["file", "sha256", "run_id", "manifest_run_id"])

    def cases(self, report: str, period: str, row: str, column: str) -> list[str]:
        df = self._df("SELECT DISTINCT case_key FROM reports.cells WHERE report = :r AND period = :p "
                      "AND row_key = :row AND column_key = :col ORDER BY case_key",
                      {"r": report, "p": period, "row": row, "col": column})
        return df["case_key"].tolist()

    def rules(self, period: str, people: list[str]) -> dict[str, list[str]]:
        """person → rule labels: suspected-dropout rules of the period, out-of-school findings."""
        if not people:
            return {}
        monthly = period.split("-")[1].isdigit()
        sd = self._df("SELECT person_key, rules FROM derived.suspected_dropouts WHERE period = :p", {"p": period}) \
            if monthly else pd.DataFrame(columns=["person_key", "rules"])
        oos = self._df("SELECT id_number, verify_elsewhere FROM derived.out_of_school WHERE period = :p",
                       {"p": period}) if monthly else pd.DataFrame(columns=["id_number", "verify_elsewhere"])
        wanted = set(people)
        out: dict[str, list[str]] = {p: [] for p in people}
        for person, rules in zip(sd["person_key"], sd["rules"]):
            if person in wanted:
                out[person] += [RULE_LABELS.get(r, r) for r in str(rules).split(",") if r]
        for person, elsewhere in zip(oos["id_number"], oos["verify_elsewhere"]):
            if person in wanted:
                out[person].append(RULE_LABELS["OOS?" if elsewhere else "OOS"])
        return out

    def evidence(self, person: str, period: str, start, end) -> pd.DataFrame:
        df = self._df(EVIDENCE_SQL + " ORDER BY source, file_sha, row_no",
                      {"person": person, "period": period, "start": start, "end": end})
        return df.groupby("source", sort=False).head(MAX_EVIDENCE) if len(df) else df

    def files(self, shas: list[str]) -> pd.DataFrame:
        """Source files by content hash: name, SHA-256, landing (ingest) time, ingest run id."""
        if not shas:
            return pd.DataFrame(columns=["file_sha", "source", "original_name", "ingested_at", "run_id"])
        marks = ", ".join(f":s{i}" for i in range(len(shas)))
        return self._df(f"SELECT file_sha, source, original_name, ingested_at, run_id FROM raw.files "
                        f"WHERE file_sha IN ({marks}) ORDER BY source, original_name",
                        {f"s{i}": s for i, s in enumerate(shas)})


def trace_cell(reader: TraceReader, report: str, period: str, row: str, column: str) -> dict:
    """Everything the cell page shows: masked cases with rules and evidence rows, the source files behind the
    evidence, and the runs that wrote the report."""

    start, end = period_bounds(period)
    keys = reader.cases(report, period, row, column)
    shown = keys[:MAX_CASES]
    people = [k.partition("@")[0] for k in shown]
    rules = reader.rules(period, people)
    cases, shas = [], set()
    for key, person in zip(shown, people):
        evidence = reader.evidence(person, period, start, end)
        shas.update(evidence["file_sha"].dropna().tolist() if len(evidence) else [])
        cases.append(CaseTrace(masked=mask_id(person), when=key.partition("@")[2], rules=rules.get(person, []),
                               evidence=evidence.to_dict("records") if len(evidence) else []))
    files = reader.files(sorted(shas))
    files["original_name"] = files["original_name"].map(masked_file_name)
    names = dict(zip(files["file_sha"], files["original_name"]))
    for case in cases:
        for ev in case.evidence:
            ev["file"] = names.get(ev["file_sha"], ev["file_sha"][:12])
            ev["label"] = SOURCE_LABELS.get(ev["source"], ev["source"])
            ev["note"] = _masked_note(str(ev.get("note") or ""))
    return {"total": len(keys), "cases": cases, "files": files.to_dict("records"),
            "runs": reader.runs(report, period).to_dict("records")}


def masked_file_name(name: object) -> str:
    """A source file's name with any ID number inside it masked (file names are typed by people)."""
    return _ID_IN_TEXT.sub(lambda m: mask_id(m.group()), str(name or ""))


def _masked_note(note: str) -> str:
    """Evidence notes hold codes, dates and states; mask anything that looks like an ID number anyway."""
    return " ".join(mask_id(w) if len(w) >= 15 and w[:6].isdigit() else w for w in note.split())
