"""DQ01/DQ02 for every source with ID numbers, and text stored as mojibake (issue 13).

DQ01 (valid 18-character resident ID, GB 11643-1999) and DQ02 (birth date and gender agree with it) ran on the
registry only (:mod:`checks.dq`). Here the same rules run on the census (DQ01, DQ02), attendance, casework,
exemptions and home teaching (DQ01: they carry no birth date or gender), over the rows the period looks at:
the current census, the period's roll call (one row per ID and file: the first), and the event rows dated in
the period (or whose date did not parse). Severity as in DESIGN.md: DQ01 is an error for a file when more than
5 % of its IDs fail, else a warning with the list; DQ02 warns. These checks do not block: a census file over 5 %
is quarantined at ingest like a registry one (kongchuo/delivery.py) and is listed here as the ERROR; the other
lists go to the schools and offices that must fix them.

``dq03_text_encoding``: a name written in UTF-8 inside a GBK file decodes without error into other characters
(``张三`` becomes ``寮犱笁``); the reader cannot see it, so each such value is a finding (warn) naming file, row
and column — never the value.
"""


import re
from typing import Any, Callable

import dagster as dg
import pandas as pd

from checks.dq import FINDING_COLUMNS as _COLS
from checks.dq import _iter_chunks, _params, _result, dq01_severity, id_problems, quarantined_files
from kongchuo.check_names import DQ01_VALID_ID_NUMBER, DQ02_ID_MATCHES_BIRTH_GENDER, DQ03_TEXT_ENCODING
from warehouse import findings as fnd
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.sql import load

# source -> (SELECT of record_key, school_code, file_sha, row_no, id_number, birth_date, gender; DQ02 applies)
ID_ROWS: dict[str, tuple[str, bool]] = {
    source: (load(f"checks/id_rows_{source}"), source == "census")
    for source in ("census", "attendance", "casework", "exemptions", "home_teaching")}


def _problem_text(why: pd.Series) -> pd.Series:
    return "身份证件号无效 invalid ID number (GB 11643-1999): " + why.astype(str)


Problems = Callable[[str], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]


def _dq01_spec(source: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DQ01_VALID_ID_NUMBER, asset=dg.AssetKey(["staged", source]), blocking=False, metadata={"check_id": "DQ01"},
        description=f"DQ01 {source}: 身份证件号有效（GB 11643-1999）。某文件无效率超过 5% 为错误，否则为警告并列出。\n\n"
                    f"DQ01 {source}: valid resident ID numbers; error for a file over 5 %, else a warning.")


def _dq01(source: str):
    def _fn(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
            p: dict[str, Any], problems: Problems) -> dg.AssetCheckResult:
        found, _, per_file = problems(source)
        found, error_files, total = dq01_severity(found.copy(), per_file)
        # a census file over 5 % was quarantined at ingest (kongchuo.delivery): listed as this check's ERROR
        held = quarantined_files(warehouse, p, source, "DQ01")
        found = pd.concat([found, held], ignore_index=True) if len(held) else found
        extra = {"ids_checked": total, "files_over_5_percent": len(error_files) + len(held),
                 "files_quarantined": len(held)}
        return _result(context, warehouse, p, asset=dg.AssetKey(["staged", source]), name=DQ01_VALID_ID_NUMBER,
                       source=source, findings=found, error=bool(error_files) or len(held) > 0, extra=extra,
                       passed=found.empty)

    return _fn


def _dq02_spec(source: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DQ02_ID_MATCHES_BIRTH_GENDER, asset=dg.AssetKey(["staged", source]), blocking=False,
        metadata={"check_id": "DQ02"},
        description=f"DQ02 {source}: 出生日期、性别与身份证件号一致。警告。\n\n"
                    f"DQ02 {source}: birth date and gender agree with the ID number. Warning.")


def _dq02(source: str):
    def _fn(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
            p: dict[str, Any], problems: Problems) -> dg.AssetCheckResult:
        _, found, _ = problems(source)
        return _result(context, warehouse, p, asset=dg.AssetKey(["staged", source]),
                       name=DQ02_ID_MATCHES_BIRTH_GENDER, source=source, findings=found, error=False)

    return _fn


# --- text stored as mojibake -------------------------------------------------------------------------------

TEXT_COLUMNS = {"registry": ("name", "guardian_name", "school_name", "class_name"), "census": ("name", "village")}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def utf8_inside_gbk(text: object) -> bool:
    """True when ``text`` (decoded as GBK) is really UTF-8 bytes: re-encoded, they decode as UTF-8 Chinese."""
    if not isinstance(text, str) or text.isascii():
        return False
    try:
        again = text.encode("gb18030").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return again != text and bool(_CJK.search(again))


def mojibake_findings(warehouse: WarehouseResource, source: str) -> pd.DataFrame:
    key = "coalesce(t.student_no, t.id_number)" if source == "registry" else "t.id_number"
    school = "t.school_code" if source == "registry" else "CAST(NULL AS TEXT)"
    cols = TEXT_COLUMNS[source]
    sql = (f"SELECT {key} AS record_key, {school} AS school_code, t.file_sha, t.row_no, f.original_name, "
           f"{', '.join('t.' + c for c in cols)} FROM staged.{source}_current t JOIN raw.files f "
           f"ON f.file_sha = t.file_sha WHERE lower(coalesce(f.encoding, '')) LIKE 'gb%' "
           f"OR lower(coalesce(f.encoding, '')) = 'cp936'")
    out = []
    for chunk in _iter_chunks(warehouse, sql, {}):
        for col in cols:
            hit = chunk[col].map(utf8_inside_gbk).to_numpy(dtype=bool)
            if hit.any():
                rows = chunk.loc[hit, _COLS[:4] + ["original_name"]].copy()
                rows["detail"] = [f"文件 {n} 第{r}行 列「{col}」: GBK 文件中出现 UTF-8 文字，存为乱码 "
                                  f"(UTF-8 text inside a GBK file: stored garbled; fix the encoding and resend)"
                                  for n, r in zip(rows["original_name"], rows["row_no"])]
                out.append(rows.drop(columns=["original_name"]))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=_COLS)


def _dq03_encoding_spec(source: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DQ03_TEXT_ENCODING, asset=dg.AssetKey(["staged", source]), blocking=False, metadata={"check_id": "DQ03"},
        description=f"DQ03 {source}: GBK 文件中的 UTF-8 文字（乱码）逐条列出。警告。\n\n"
                    f"DQ03 {source}: UTF-8 text inside a GBK file (stored garbled), listed. Warning.")


def _dq03_encoding(source: str):
    def _fn(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
            p: dict[str, Any], problems: Problems) -> dg.AssetCheckResult:
        found = mojibake_findings(warehouse, source).assign(severity="warn")
        ok = found.empty
        fnd.write_findings(warehouse, run_id=p["run_id"], period=p["period"], check_id="DQ03",
                           source=f"{source}:encoding", findings=found, passed=ok)
        meta = fnd.result_metadata(found, {"check_id": "DQ03", "period": p["period"], "source": source})
        return dg.AssetCheckResult(asset_key=dg.AssetKey(["staged", source]), check_name=DQ03_TEXT_ENCODING,
                                   passed=ok, severity=dg.AssetCheckSeverity.WARN, metadata=meta)

    return _fn


# (spec, evaluation) of every check here: each keeps its own check name on its own staged asset (the UI, the
# findings and the run outcome list them one by one as before), but they run as ONE step. Each takes 0.1–0.3 s
# on a district; as eight steps Dagster's per-step cost (~0.2 s each: events, storage, compute-log capture)
# was as large as the work.
_ID_CHECKS: list[tuple[dg.AssetCheckSpec, Any]] = [
    *[(_dq01_spec(s), _dq01(s)) for s in ID_ROWS],
    (_dq02_spec("census"), _dq02("census")),
    *[(_dq03_encoding_spec(s), _dq03_encoding(s)) for s in TEXT_COLUMNS],
]


@dg.multi_asset_check(specs=[spec for spec, _ in _ID_CHECKS], can_subset=True, pool=WAREHOUSE_POOL,
                      name="staged__id_checks",
                      description="DQ01/DQ02 对每个含身份证件号的来源、GBK 乱码（DQ03 text_encoding），一个步骤内逐项检查。\n\n"
                                  "DQ01/DQ02 on every source with ID numbers and the GBK mojibake check (DQ03 "
                                  "text_encoding), each reported as its own check, run in one step.")
def staged_id_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    fnd.ensure_tables(warehouse)
    p = _params(context)
    selected = context.selected_asset_check_keys
    found: dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = {}

    def problems(source: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """One pass over a source's IDs per step: census DQ01 and DQ02 read the same rows."""
        if source not in found:
            sql, person = ID_ROWS[source]
            found[source] = id_problems(warehouse, sql, p, person=person, problem_text=_problem_text)
        return found[source]

    for spec, evaluate in _ID_CHECKS:
        if spec.key in selected:
            yield evaluate(context, warehouse, p, problems)


id_checks: list[dg.AssetChecksDefinition] = [staged_id_checks]
