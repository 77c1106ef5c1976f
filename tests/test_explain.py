"""An auditor's trail (issue 15): `kongchuo explain` follows a number of the generated district's workbooks to its
cases and their source rows, in the workbook's own words, and refuses questions that name nothing.

The numbers come from the workbooks read back with calamine (not from reports.cells), so a drill-down that
disagrees with the printed number fails here."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from district_run import MONTHS, QUARTER, district_run

from assets import report_r1
from pipelines import cli
from pipelines.explain import QuestionError, answer, explain

PERIOD = MONTHS[-1]
_FULL_ID = re.compile(r"\d{17}[\dXx]")


@pytest.fixture(scope="module")
def run():
    return district_run()


@pytest.fixture()
def cli_env(run, monkeypatch):
    monkeypatch.setenv("KONGCHUO_WAREHOUSE_URL", run.warehouse.url)
    return run


def _workbook(folder: Path, pattern: str) -> pd.DataFrame:
    [path] = [p for p in folder.glob(pattern) if "草稿" not in p.name]
    return pd.read_excel(path, header=None, engine="calamine", dtype=object)


def _number(value) -> int:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
    return int(float(text)) if re.fullmatch(r"\d+(\.0)?", text) else 0


def _r1_cells(run) -> tuple[list[str], list[tuple[str, str, int]]]:
    """(headers, [(school name, header, number)]) of R1's school rows with a non-zero count. A header is what
    the workbook shows: the label under its group header as 组/列 (two-level headers), else the single header."""
    df = _workbook(run.reports(PERIOD), "*_控辍保学月报.xlsx")
    top = next(i for i in range(len(df)) if "学校名称" in [str(v) for v in df.iloc[i].tolist()])

    def text(v) -> str:
        return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()

    groups, labels = [text(v) for v in df.iloc[top].tolist()], [text(v) for v in df.iloc[top + 1].tolist()]
    headers, group = [], ""
    for g, label in zip(groups, labels):
        group = g or group
        headers.append(f"{group}/{label}" if label and group else (label or g))
    school_col = groups.index("学校名称")
    schools = set(run.warehouse.query_df("SELECT school_name FROM staged.schools")["school_name"])
    cells = []
    for i in range(top + 2, len(df)):
        row = df.iloc[i].tolist()
        name = text(row[school_col])
        if name not in schools:
            continue
        for col, header in enumerate(headers):
            if header and col > school_col + 1 and _number(row[col]) > 0:
                cells.append((name, header, _number(row[col])))
    return headers, cells


def test_three_r1_numbers_by_school_name_and_chinese_header_match_the_workbook(run):
    _, cells = _r1_cells(run)
    picked = ([c for c in cells if c[1].startswith("疑似辍学人数") and c[1].endswith("/合计")][:1]
              + [c for c in cells if "(SD" in c[1]][:1] + [c for c in cells if c[1].endswith("本月劝返人次")][:1])
    assert len(picked) == 3, "the district run has too few non-zero R1 cells to follow"
    for school, header, number in picked:
        ans = answer(PERIOD, "R1", school, header, warehouse=run.warehouse)
        assert len(ans.cases) == number, (school, header)
        for case in ans.cases:
            assert case.evidence, f"{case.masked_id}: no evidence rows for {header}"


def test_every_suspected_case_names_its_rules_and_source_rows(run):
    _, cells = _r1_cells(run)
    school, header, number = next(c for c in cells if c[1].startswith("疑似辍学人数") and c[1].endswith("/合计"))
    ans = answer(PERIOD, "R1", school, header, warehouse=run.warehouse)
    assert len(ans.cases) == number
    landed = set(run.warehouse.query_df("SELECT original_name FROM raw.files")["original_name"])
    for case in ans.cases:
        assert case.rules and all(re.fullmatch(r"SD[1-6]", r) for r in case.rules)
        assert any(ev.source == "学籍" for ev in case.evidence)
        for ev in case.evidence:
            assert ev.file in landed and ev.row_no >= 2
        if "SD1" in case.rules:
            absences = [ev for ev in case.evidence if ev.source == "考勤"]
            assert absences and any("旷课" in ev.detail for ev in absences)
            assert all(re.match(r"\d{4}-\d{2}-\d{2} ", ev.detail) for ev in absences)


def test_totals_and_township_rows_of_r2_r4_r6(run):
    wh = run.warehouse
    for period, report in ((QUARTER, "R2"), (PERIOD, "R4"), (PERIOD, "R6")):
        stored = wh.query_df("SELECT column_key, count(DISTINCT case_key) AS n FROM reports.cells "
                             "WHERE period = :p AND report = :r GROUP BY column_key", {"p": period, "r": report})
        assert len(stored), f"{report} has no cells in {period}"
        for key, n in stored.itertuples(index=False):
            assert len(answer(period, report, "合计", key, warehouse=wh, with_evidence=False).cases) == n
    r2 = _workbook(run.reports(QUARTER), "*_控辍保学排查整改工作情况统计表.xlsx")
    towns = dict(wh.query_df("SELECT township_name, township_code FROM staged.townships").itertuples(index=False))
    row = next(r for r in r2.itertuples(index=False) if str(r[0]) in towns)
    by_name = answer(QUARTER, "R2", str(row[0]), "疑似辍学人数/合计", warehouse=wh, with_evidence=False)
    by_key = answer(QUARTER, "R2", "township:" + towns[str(row[0])], "suspected", warehouse=wh, with_evidence=False)
    assert [c.case_key for c in by_name.cases] == [c.case_key for c in by_key.cases]


@pytest.mark.parametrize("period,report,row,column,needle", [
    ("2031-01", "R1", "合计", "suspected", "2026-06"),
    (PERIOD, "R9", "合计", "suspected", "R1"),
    (PERIOD, "R1", "不存在的学校", "suspected", "合计"),
    (PERIOD, "R1", "合计", "疑似失踪人数", "疑似辍学人数"),
])
def test_wrong_questions_are_refused_with_the_choices(cli_env, capsys, period, report, row, column, needle):
    with pytest.raises(QuestionError) as err:
        answer(period, report, row, column, warehouse=cli_env.warehouse)
    assert needle in str(err.value)
    status = cli.main(["explain", "--period", period, "--report", report, "--row", row, "--column", column])
    out = capsys.readouterr()
    assert status == 2 and out.out == "" and needle in out.err


def test_cli_text_and_csv_never_print_full_ids(cli_env, capsys):
    assert cli.main(["explain", "--period", PERIOD, "--report", "R1", "--row", "合计", "--column",
                     "疑似辍学人数"]) == 0
    text = capsys.readouterr().out
    n = len(answer(PERIOD, "R1", "合计", "suspected", warehouse=cli_env.warehouse, with_evidence=False).cases)
    assert f"共 {n} 人/次" in text and n > 0
    sd1_period = cli_env.warehouse.query_df(
        "SELECT period FROM reports.cells WHERE report = 'R1' AND column_key = 'SD1' GROUP BY period "
        "ORDER BY count(*) DESC, period LIMIT 1")["period"].iloc[0]
    assert cli.main(["explain", "--period", sd1_period, "--report", "R1", "--row", "合计", "--column",
                     dict(report_r1.COLUMNS)["SD1"], "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    table = pd.read_csv(io.StringIO(csv_text), dtype=str)
    assert list(table.columns[:6]) == ["期间", "报表", "行", "列", "个案", "规则"]
    assert (table["来源"] == "考勤").any() and table["规则"].str.contains("SD1").all()
    for out in (text, csv_text):
        assert not _FULL_ID.search(out)
    assert explain(PERIOD, "R1", "合计", "suspected", warehouse=cli_env.warehouse).count("\n") >= n
