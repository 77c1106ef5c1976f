"""Reports of a generated district (district_run), read back with pandas + calamine (not openpyxl): totals
equal warehouse counts and the ground truth, every R2 count equals its drill-down cells, the workbooks are
named for people, listed in the manifests, masked where they should be, and convert to PDF with LibreOffice."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from district_run import MONTHS, QUARTER, assert_same, district_run

MONTH = "2026-06"
REFERENCE = Path(__file__).resolve().parents[1] / "kongchuo" / "reference"
ID18 = re.compile(r"\d{17}[\dXx]")


@pytest.fixture(scope="module")
def run():
    return district_run()


def _read(path, sheet=0) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=sheet, header=None, engine="calamine")


def _table(path, header_labels: list[str], sheet=0) -> tuple[pd.DataFrame, pd.Series]:
    """(data rows, totals row) of a report sheet, columns named by the header row that holds the labels."""
    raw = _read(path, sheet)
    header_idx = next(i for i, row in raw.iterrows() if set(header_labels) <= set(map(str, row.dropna())))
    total_idx = next(i for i in range(header_idx + 1, len(raw)) if str(raw.iloc[i, 0]) == "合计")
    body = raw.iloc[header_idx + 1:total_idx].reset_index(drop=True)
    return body, raw.iloc[total_idx]


def _file(run, period: str, title: str):
    from kongchuo.districts import month_label

    path = run.reports(period) / f"建安区_{month_label(period)}_{title}.xlsx"
    assert path.exists(), f"missing report {path.name}"
    return path


def _scalar(run, sql: str, **params) -> int:
    return int(run.warehouse.scalar(sql, params) or 0)


def _r1(path) -> tuple[list[str], pd.DataFrame, pd.Series]:
    """R1 read back with calamine: (column keys, body rows incl. 小计 rows, 合计 row); the two-level header is
    the row starting 乡镇（街道） and the label row below it."""
    from assets.report_r1 import COLUMNS

    raw = _read(path)
    top = next(i for i in range(len(raw)) if str(raw.iloc[i, 0]) == "乡镇（街道）")
    total = next(i for i in range(top + 2, len(raw)) if str(raw.iloc[i, 0]) == "合计")
    labels = [str(v) for v in raw.iloc[top + 1, 4:4 + len(COLUMNS) - 1]]
    assert labels == [label for _, label in COLUMNS[1:]]
    assert str(raw.iloc[top, 3]) == COLUMNS[0][1]
    keys = [k for k, _ in COLUMNS]
    return keys, raw.iloc[top + 2:total].reset_index(drop=True), raw.iloc[total]


def _first_rule(rules: set[str]) -> str:
    from kongchuo.labels import RULE_ORDER

    return next(r for r in RULE_ORDER if r in rules)


@pytest.mark.parametrize("period", MONTHS)
def test_r1_totals_equal_warehouse_counts(run, period):
    from assets.ledger import state_as_of_sql
    from kongchuo.labels import RULE_ORDER

    keys, _, totals = _r1(_file(run, period, "控辍保学月报"))
    total = {key: int(totals.iloc[3 + i]) for i, key in enumerate(keys)}
    sd = "SELECT count(*) FROM derived.suspected_dropouts WHERE period = :p"
    assert total["suspected"] == _scalar(run, sd, p=period) > 0
    # each child once, under the first rule that fired (SD4, SD3, SD6, SD2, SD1, SD5), from the ground truth
    fired: dict[str, set[str]] = {}
    for rule in RULE_ORDER:
        for p, person in run.truth_pairs(rule):
            if p == period:
                fired.setdefault(person, set()).add(rule)
    first = [_first_rule(rules) for rules in fired.values()]
    for rule in RULE_ORDER:
        assert total[rule] == first.count(rule), rule
    assert sum(total[r] for r in RULE_ORDER) == total["suspected"] == len(fired)
    states = run.warehouse.query_df(f"SELECT state, count(*) AS n FROM ({state_as_of_sql(before=False)}) s "
                                    "GROUP BY state", {"period": period})
    n_state = dict(zip(states["state"], states["n"]))
    for state in ("confirmed", "persuading", "escalated"):
        assert total[state] == int(n_state.get(state, 0)), state
    assert total["escalated"] == len({k for p, k in run.truth_pairs("ESC") if p == period})
    oos = "SELECT count(*) FROM derived.out_of_school WHERE period = :p AND "
    assert total["out_of_school"] == _scalar(run, oos + "NOT verify_elsewhere", p=period)
    assert total["verify_elsewhere"] == _scalar(run, oos + "verify_elsewhere", p=period)
    assert total["enrolled"] == _scalar(
        run, "SELECT count(*) FROM derived.roster WHERE period = :p AND status = 'active'", p=period)


@pytest.mark.parametrize("period", MONTHS)
def test_r1_breakdown_adds_up_and_subtotals_add_up(run, period):
    """Read back with calamine: on every row the rule columns add up to the suspected total; every township's
    小计 is the sum of its rows; 合计 is the sum of the 小计 rows; every school of the district is listed."""
    from assets.report_r1 import SUBTOTAL
    from kongchuo.labels import RULE_ORDER

    keys, body, totals = _r1(_file(run, period, "控辍保学月报"))
    counts = body.iloc[:, 3:3 + len(keys)].astype(int).to_numpy()
    suspected, rules = keys.index("suspected"), [keys.index(r) for r in RULE_ORDER]
    assert (counts[:, rules].sum(axis=1) == counts[:, suspected]).all()
    subtotal_rows, town_start = [], 0
    for i in range(len(body)):
        if str(body.iloc[i, 1]) == SUBTOTAL:
            assert set(body.iloc[town_start:i, 0]) == {body.iloc[i, 0]}
            assert (counts[town_start:i].sum(axis=0) == counts[i]).all(), body.iloc[i, 0]
            subtotal_rows.append(i)
            town_start = i + 1
    towns = _scalar(run, "SELECT count(DISTINCT township_code) FROM staged.townships WHERE district_code = '411003'")
    assert len(subtotal_rows) == towns and town_start == len(body)
    assert (counts[subtotal_rows].sum(axis=0) == totals.iloc[3:3 + len(keys)].astype(int).to_numpy()).all()
    schools = {str(v) for v in body.iloc[:, 2] if str(v) not in ("", "nan")}
    assert schools == set(run.warehouse.query_df(
        "SELECT s.school_code FROM staged.schools s JOIN staged.townships t USING (township_code) "
        "WHERE t.district_code = '411003'")["school_code"])


def test_r2_totals_equal_warehouse_counts_and_cells(run):
    from assets.report_r2 import COLUMNS, PRIORITY, TITLE

    path = _file(run, QUARTER, TITLE)
    raw = _read(path)
    assert "2026年第二季度" in str(raw.iloc[0, 0]) and TITLE in str(raw.iloc[0, 0])
    text = " ".join(str(v) for v in raw.fillna("").to_numpy().ravel())
    for line in ("填表人", "审核人", "填报日期", "填报单位", "单位：人"):
        assert line in text, line
    labels = [label for _, label, _ in COLUMNS]
    body, totals = _table(path, ["户籍适龄儿童数", "在籍适龄儿童数", "入学率(%)"])
    total = {key: totals.iloc[1 + i] for i, (key, _, _) in enumerate(COLUMNS)}
    rates = run.warehouse.query_df("SELECT * FROM derived.township_rates WHERE period = :p", {"p": QUARTER})
    for key, column in (("school_age", "school_age_children"), ("enrolled", "enrolled_school_age"),
                        ("out_of_school", "out_of_school"), ("verify_elsewhere", "verify_elsewhere"),
                        ("still_out", "still_out"), ("suspected", "suspected")):
        assert int(total[key]) == int(rates[column].sum()), key
    assert int(total["school_age"]) > 0
    assert float(total["rate"]) == round(100 * int(total["enrolled"]) / int(total["school_age"]), 2)
    suspected = _scalar(run, "SELECT count(DISTINCT person_key) FROM derived.quarterly_suspected WHERE period = :p",
                        p=QUARTER)
    assert suspected > 0 and int(total["suspected"]) == suspected
    assert int(total["suspected_primary"]) + int(total["suspected_junior"]) == suspected
    # priority groups, counted independently from the registry flags
    flags = {"poverty": "is_poverty_family", "left_behind": "is_left_behind", "migrant": "is_migrant",
             "disabled": "is_disabled", "difficulty": "is_in_difficulty"}
    for key, _ in PRIORITY:
        want = _scalar(run, f"""
            SELECT count(DISTINCT q.person_key) FROM derived.quarterly_suspected q WHERE q.period = :p AND (
              EXISTS (SELECT 1 FROM staged.registry_current r
                      WHERE coalesce(r.id_number, r.student_no) = q.person_key AND r.{flags[key]})
              {"OR EXISTS (SELECT 1 FROM staged.census_current c WHERE c.id_number = q.person_key AND c."
               + flags[key] + ")" if key in ("poverty", "disabled") else ""})""", p=QUARTER)
        assert int(total[key]) == want, key
    # every count cell of every township row equals count(DISTINCT case_key) of its drill-down cells
    cells = run.warehouse.query_df(
        "SELECT row_key, column_key, count(DISTINCT case_key) AS n FROM reports.cells WHERE period = :p "
        "AND report = 'R2' GROUP BY row_key, column_key", {"p": QUARTER})
    names = run.warehouse.query_df("SELECT township_code, township_name FROM staged.townships")
    code_of = dict(zip(names["township_name"], names["township_code"]))
    n = {(r, c): int(v) for r, c, v in cells.itertuples(index=False)}
    for _, row in body.iterrows():
        code = code_of.get(str(row.iloc[0]), "unknown")
        for i, (key, _, _) in enumerate(COLUMNS):
            if key != "rate":
                assert int(row.iloc[1 + i]) == n.get((f"township:{code}", key), 0), (row.iloc[0], key)
    assert len(labels) == len(COLUMNS)


def test_r3_one_sheet_per_open_case_with_history(run):
    from assets.ledger import state_as_of_sql

    open_cases = run.warehouse.query_df(f"SELECT * FROM ({state_as_of_sql(before=False)}) s WHERE state <> 'closed'",
                                        {"period": MONTH})
    path = _file(run, MONTH, "一生一表")
    sheets = pd.ExcelFile(path, engine="calamine").sheet_names
    assert sheets[0] == "目录" and len(sheets) == 1 + len(open_cases) > 1
    index, totals = _table(path, ["序号", "姓名", "当前状态"], sheet="目录")
    assert len(index) == len(open_cases) and int(totals.iloc[3]) == len(open_cases)
    events = run.warehouse.query_df(
        "SELECT person_key, count(*) AS n FROM ledger.case_events WHERE created_for_period <= :p GROUP BY person_key",
        {"p": MONTH})
    per_person = dict(zip(events["person_key"], events["n"]))
    ids = set(open_cases["id_number"].dropna())
    checked = attempts = 0
    for sheet in sheets[1:]:
        raw = _read(path, sheet)
        history, header = _table_no_totals(raw)
        # full ID allowed in R3: the sheet names its child's ID, and holds the whole history of the case
        sheet_ids = set(ID18.findall(" ".join(map(str, raw.iloc[:6, 0].fillna(""))))) & ids
        if len(sheet_ids) != 1:
            continue
        (person,) = [k for k in open_cases["person_key"] if k in sheet_ids]
        assert len(history) == per_person[person], sheet
        attempts += _assert_history_in_chinese(history, header)
        checked += 1
    assert checked > 0 and attempts > 0


def _assert_history_in_chinese(history: pd.DataFrame, header: pd.Series) -> int:
    """Sources in Chinese, source files by landing name (persuasion records with their row), no English code;
    the number of persuasion rows."""
    from kongchuo.labels import SOURCE_LABELS

    col = {str(v): i for i, v in enumerate(header)}
    sources = set(history.iloc[:, col["来源"]].fillna(""))
    assert sources <= {*SOURCE_LABELS.values(), ""}, sources
    files = history.iloc[:, col["来源文件"]].fillna("").astype(str)
    assert all(re.search(r"\.(csv|xlsx|xls)( 第\d+行)?$", f) for f in files if f), "source files by name"
    attempts = history.iloc[:, col["事项"]] == "劝返"
    assert all(re.search(r"第\d+行$", f) for f in files[attempts]), "a persuasion record names its row"
    text = " ".join(str(v) for v in history.fillna("").to_numpy().ravel())
    assert not re.search(r"\b(visit|phone|joint|legal_notice|attendance|registry|casework|census)\b", text)
    return int(attempts.sum())


def _table_no_totals(raw: pd.DataFrame):
    header_idx = next(i for i, row in raw.iterrows() if "事项" in set(map(str, row.dropna())))
    end = next((i for i in range(header_idx + 1, len(raw)) if str(raw.iloc[i, 0]).startswith("填表人")), len(raw))
    return raw.iloc[header_idx + 1:end], raw.iloc[header_idx]


@pytest.mark.parametrize("period", MONTHS)
def test_r4_escalation_list_equals_ground_truth(run, period):
    body, totals = _table(_file(run, period, "劝返无效上报名单"), ["序号", "姓名", "劝返次数"])
    want = len({k for p, k in run.truth_pairs("ESC") if p == period})
    assert len(body) == want == int(totals.iloc[3])
    full_ids = len(ID18.findall(" ".join(map(str, body.to_numpy().ravel()))))
    assert full_ids == 0, "R4 must not carry full ID numbers"


@pytest.mark.parametrize("period", MONTHS)
def test_r6_home_teaching_equals_ground_truth(run, period):
    body, _ = _table(_file(run, period, "送教上门情况表"), ["序号", "本月送教次数", "是否达标"])
    rows = _scalar(run, "SELECT count(*) FROM derived.home_teaching_compliance WHERE period = :p", p=period)
    want = len({k for p, k in run.truth_pairs("HT_NONCOMPLIANT", "id_number") if p == period})
    assert len(body) == rows > 0
    assert int((body.iloc[:, -1] == "未达标").sum()) == want
    full_ids = len(ID18.findall(" ".join(map(str, body.to_numpy().ravel()))))
    assert full_ids == 0, "R6 must not carry full ID numbers"


def test_manifests_list_every_report(run):
    for period in (*MONTHS, QUARTER):
        folder = run.reports(period)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        listed = {r["file"] for r in manifest["reports"]}
        assert listed == {p.name for p in folder.glob("*.xlsx")} and listed
    names = {p.name for p in run.reports(MONTH).glob("*.xlsx")}
    for title in ("控辍保学月报", "一生一表", "劝返无效上报名单", "送教上门情况表"):
        assert f"建安区_2026年06月_{title}.xlsx" in names


def test_reports_are_reproducible(run):
    """Re-running R2 with the same inputs writes the same bytes (manifest SHA-256 unchanged)."""
    import dagster as dg
    from district_run import definitions_for

    from assets.report_r2 import r2_statistics
    from assets.rules import RuleConfig  # noqa: F401  (the asset's config class; defaults)

    path = _file(run, QUARTER, "控辍保学排查整改工作情况统计表")
    before = path.read_bytes()
    resources = definitions_for(run.home).resources
    result = dg.materialize([r2_statistics], partition_key="2026-04-01", resources=resources, instance=run.instance)
    assert result.success
    assert path.read_bytes() == before


@pytest.mark.skipif(not (shutil.which("libreoffice") or shutil.which("soffice")),
                    reason="LibreOffice is not installed (apt-get install -y --no-install-recommends libreoffice-calc)")
def test_reports_convert_to_pdf(run, tmp_path):
    binary = shutil.which("libreoffice") or shutil.which("soffice")
    files = sorted(run.reports(MONTH).glob("*.xlsx")) + sorted(run.reports(QUARTER).glob("*.xlsx"))
    assert files
    for path in files:
        proc = subprocess.run(
            [binary, "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--convert-to", "pdf",
             "--outdir", str(tmp_path), str(path)], capture_output=True, text=True, timeout=300)
        pdf = tmp_path / (path.stem + ".pdf")
        assert proc.returncode == 0 and pdf.exists() and pdf.stat().st_size > 1000, (path.name, proc.stderr[-500:])
        assert pdf.read_bytes().startswith(b"%PDF")


def test_logs_and_metadata_never_carry_full_ids(run):
    """Run logs and asset metadata of the district run hold no full ID number of the district."""
    ids = set(run.truth.loc[run.truth["id_number"].str.len() == 18, "id_number"])
    leaked = set()
    for dagster_run in run.instance.get_runs():
        for entry in run.instance.all_logs(dagster_run.run_id):
            text = f"{entry.user_message} {entry.dagster_event.event_specific_data if entry.dagster_event else ''}"
            leaked |= set(ID18.findall(text)) & ids
    assert len(ids) > 0
    assert_same("full IDs in logs or metadata", leaked, set())


def test_labels_translate_codes_and_name_the_issuing_unit(tmp_path):
    from kongchuo.labels import grade_label, issuing_unit, period_label, rules_text, translate
    from kongchuo.reports_catalog import REPORT_NAMES, kind_of_file

    assert translate("visit，五女店镇政府，厌学") == "上门，五女店镇政府，厌学"
    assert translate("legal_notice") == "司法文书" and translate("joint") == "联合劝返"
    assert translate("规则 SD1,SD5") == "规则：SD1 连续或累计旷课、SD5 空挂学籍"
    assert rules_text("SD6") == "SD6 小升初未升学"
    assert [grade_label(g) for g in (1, "7", 9.0, None)] == ["一年级", "七年级", "九年级", ""]
    assert period_label("2026-06") == "2026年06月" and period_label("2026-Q2") == "2026年第二季度"
    assert issuing_unit("411003") == "建安区教育体育局" and issuing_unit("411002") == "魏都区教育局"
    own = tmp_path / "districts.csv"
    own.write_text("district_code,district_name,issuing_unit\n411002,魏都区,许昌市魏都区教育局\n", encoding="utf-8")
    assert issuing_unit("411002", own) == "许昌市魏都区教育局" and issuing_unit("411003", own) == "建安区教育局"
    for report_id, name in REPORT_NAMES.items():
        assert kind_of_file(f"建安区_2026年06月_{name}.xlsx") == report_id


# ---- R2 scoped to the district in the data, and R1 / R2 agreeing on 失学 (the bundled sample, make demo) ----

def _r2_totals(path) -> tuple[pd.DataFrame, dict]:
    from assets.report_r2 import COLUMNS

    body, totals = _table(path, ["户籍适龄儿童数", "在籍适龄儿童数", "入学率(%)"])
    return body, {key: totals.iloc[1 + i] for i, (key, _, _) in enumerate(COLUMNS)}


def test_r2_lists_only_the_townships_of_the_district_in_the_data():
    """The sample's run uses the bundled reference data (建安区 and 宣州区): R2 lists 建安区's townships only."""
    from test_ledger_backlog import sample_run

    from assets.report_r2 import TITLE
    from kongchuo.settings import SAMPLE_DIR

    home = sample_run()
    bundled = pd.read_csv(REFERENCE / "townships.csv", dtype=str)
    assert set(bundled["district_code"]) >= {"411003", "341802"}
    body, _ = _r2_totals(home / "reports" / QUARTER / f"建安区_2026年第二季度_{TITLE}.xlsx")
    names = list(body.iloc[:, 0].astype(str))
    jianan = bundled[bundled["district_code"] == "411003"].sort_values("township_code")["township_name"]
    assert names == list(jianan)
    sample_towns = pd.read_csv(SAMPLE_DIR / "reference" / "townships.csv", dtype=str)
    assert list(sample_towns.sort_values("township_code")["township_name"]) == names  # what its README says


def test_r1_and_r2_agree_on_out_of_school_at_the_cut_off():
    """An exemption that expired during the quarter no longer keeps a child out of the 失学 count: R1 of June
    and R2 of the quarter list the same children (and the sample has such an exemption)."""
    from test_ledger_backlog import sample_run, warehouse_of

    from assets.report_r2 import TITLE

    home = sample_run()
    wh = warehouse_of(home)
    r1 = home / "reports" / MONTH / "建安区_2026年06月_控辍保学月报.xlsx"
    keys, _, r1_totals = _r1(r1)
    r1_total = {key: int(r1_totals.iloc[3 + i]) for i, key in enumerate(keys)}
    _, r2_total = _r2_totals(home / "reports" / QUARTER / f"建安区_2026年第二季度_{TITLE}.xlsx")
    assert int(r2_total["out_of_school"]) == r1_total["out_of_school"] > 0
    assert int(r2_total["verify_elsewhere"]) == r1_total["verify_elsewhere"]
    r1_children = set(wh.query_df("SELECT id_number FROM derived.out_of_school WHERE period = :p "
                                  "AND NOT verify_elsewhere", {"p": MONTH})["id_number"])
    r2_children = set(wh.query_df("SELECT case_key FROM reports.cells WHERE period = :p AND report = 'R2' "
                                  "AND column_key = 'out_of_school'", {"p": QUARTER})["case_key"])
    assert_same("失学 R2 vs R1", r2_children, r1_children)
    expired = int(wh.scalar(
        "SELECT count(*) FROM staged.exemptions e JOIN derived.out_of_school o ON o.id_number = e.id_number "
        "WHERE o.period = :p AND e.valid_until BETWEEN DATE '2026-04-01' AND DATE '2026-06-24'", {"p": MONTH}))
    assert expired > 0
