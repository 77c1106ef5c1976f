"""The bundled sample (data/sample, ``--profile demo``) shows real-looking work in ``make demo`` (issue 14 item 5)
and an auditor can follow its numbers with the README's ``kongchuo explain`` lines (issue 15).

The properties are computed from the sample's ``ground_truth.csv`` (what the generator planted) and its reference
data, never from pipeline output; the README's explain lines are then run on a ``make demo``-like run
(test_ledger_backlog.sample_run: June alone, then 2026-Q2) and each count is checked against the truth and
against the number printed in the workbook (read back with calamine). Messages carry counts, codes and names
of schools/townships only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from kongchuo.settings import REPO_ROOT, SAMPLE_DIR

MONTHS = ("2026-03", "2026-04", "2026-05", "2026-06")
JUNE, QUARTER = "2026-06", "2026-Q2"
QUARTER_MONTHS = ("2026-04", "2026-05", "2026-06")
SD_RULES = ("SD1", "SD2", "SD3", "SD4", "SD5", "SD6")
# R1 counts each child once, under its first rule in this order (assets/report_r1.py, kongchuo.labels.RULE_ORDER)
FIRST_RULE_ORDER = ("SD4", "SD3", "SD6", "SD2", "SD1", "SD5")


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "ground_truth.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, pd.DataFrame]:
    schools = pd.read_csv(SAMPLE_DIR / "reference" / "schools.csv", dtype=str)
    towns = pd.read_csv(SAMPLE_DIR / "reference" / "townships.csv", dtype=str)
    return schools, towns


def _cases(truth: pd.DataFrame, cases, period: str) -> pd.DataFrame:
    cases = (cases,) if isinstance(cases, str) else cases
    return truth[truth["case"].isin(cases) & (truth["period"] == period)]


# ---- the sample's properties, from ground_truth.csv -------------------------------------------------------------

def test_demo_sample_is_generated_with_the_demo_profile_over_every_school(reference):
    meta = json.loads((SAMPLE_DIR / "meta.json").read_text(encoding="utf-8"))
    schools, towns = reference
    assert meta["profile"] == "demo" and meta["periods"] == list(MONTHS)
    # R1 lists every school of the district (零报告): the sample has pupils in each one, not in 5 of 149
    assert meta["schools"] == len(schools) == 149 and len(towns) == 17


def test_demo_sample_has_suspected_dropouts_in_many_schools_and_townships_every_month(truth):
    for month in MONTHS:
        sd = _cases(truth, SD_RULES, month)
        schools, towns = sd["school_code"].nunique(), sd["township_code"].replace("", pd.NA).dropna().nunique()
        assert schools >= 30 and towns >= 15, (month, schools, towns)
        # the rules that hold every month fire every month; each fires in more than one school
        for rule in ("SD1", "SD3", "SD4", "SD5"):
            assert _cases(truth, rule, month)["school_code"].nunique() >= 2, (month, rule)
    # the term-start rule fires in the term's first month, 小升初 in the months it is evaluated
    assert _cases(truth, "SD2", MONTHS[0])["school_code"].nunique() >= 5
    assert sum(len(_cases(truth, "SD6", m)) > 0 for m in MONTHS) >= 2


def test_demo_sample_has_out_of_school_children_in_many_townships_every_month(truth):
    for month in MONTHS:
        towns = _cases(truth, "OOS", month)["township_code"].nunique()
        away = len(_cases(truth, "OOS_AWAY", month))
        assert towns >= 8 and away > 0, (month, towns, away)


def test_demo_sample_casework_falls_in_every_month(truth):
    """New escalations (R4) and new returns every month: persuasion work is spread over the term, and a case
    that changes state in a month had an attempt in that month."""
    escalated = [set(_cases(truth, "ESC", m)["person_key"]) for m in MONTHS]
    returned = [set(_cases(truth, "RETURNED", m)["person_key"]) for m in MONTHS]
    assert escalated[0] and returned[0], "nothing escalated or returned in the first month"
    for before, now in zip(escalated, escalated[1:]):
        assert before <= now and len(now - before) >= 1, (len(before), len(now))
    for before, now in zip(returned, returned[1:]):
        assert len(now - before) >= 1, (len(before), len(now))
    # escalated children are in several schools and townships (R4 is a district list, not one school's)
    june = _cases(truth, "ESC", JUNE)
    assert june["school_code"].nunique() >= 5 and june["township_code"].nunique() >= 5


def test_demo_sample_has_home_teaching_and_fix_list_rows(truth):
    meta = json.loads((SAMPLE_DIR / "meta.json").read_text(encoding="utf-8"))
    visits = sum(f["rows"] for f in meta["files"] if f["source"] == "home_teaching")
    assert visits >= 20  # R6: the home-taught children and their visits
    assert sum(len(_cases(truth, "HT_NONCOMPLIANT", m)) > 0 for m in MONTHS) >= 2
    for month in MONTHS:  # R5: per-township fix lists of present-but-unregistered and registered-but-absent
        for case in ("DQ05", "DQ06"):
            rows = _cases(truth, case, month)
            assert rows["school_code"].nunique() >= 5, (month, case)
    for case in ("DQ01", "DQ02", "DQ04", "DQ07"):
        assert (truth["case"] == case).sum() >= 5, case


# ---- the documented command regenerates the committed sample byte for byte ------------------------------------

def _readme_generate_args() -> list[str]:
    text = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    command = re.search(r"python -m kongchuo\.generate (.+?--out data/sample)", text.replace("\\\n", " "), re.S)
    assert command, "data/sample/README.md has no generate command"
    return shlex.split(command.group(1))


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"}


def test_readme_command_regenerates_the_sample_byte_identically(tmp_path):
    from kongchuo.generate.__main__ import main

    args = _readme_generate_args()
    assert args[-2:] == ["--out", "data/sample"] and "--profile" in args
    with redirect_stdout(io.StringIO()):
        assert main([*args[:-1], str(tmp_path / "sample")]) == 0
    assert _digests(tmp_path / "sample") == _digests(SAMPLE_DIR)


# ---- the README's auditor lines, on a make-demo run -------------------------------------------------------------

def _readme_explain_lines() -> list[list[str]]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("After `make demo`"):]
    lines = [ln.strip() for ln in section.splitlines() if ln.strip().startswith(".venv/bin/kongchuo explain")]
    return [shlex.split(ln)[1:] for ln in lines[:4]]


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _expected(truth, reference, argv) -> int:
    """What the number must be, worked out from the planted cases (DESIGN.md: R1 counts a child under its first
    rule; 失学 = OOS of the township; 已上报 = ESC by the month's end; R2 疑似辍学 = children flagged in any month
    of the quarter, by the township of their record)."""
    schools, towns = reference
    school_code = dict(zip(schools["school_name"], schools["school_code"]))
    town_code = dict(zip(towns["township_name"], towns["township_code"]))
    period, report, row, column = (_option(argv, k) for k in ("--period", "--report", "--row", "--column"))
    if report == "R1" and "(SD" in column:
        rule = re.search(r"\((SD\d)\)", column).group(1)
        sd = _cases(truth, FIRST_RULE_ORDER, period).copy()
        sd["order"] = sd["case"].map(FIRST_RULE_ORDER.index)
        first = sd.sort_values("order").drop_duplicates("person_key")
        return int(((first["case"] == rule) & (first["school_code"] == school_code[row])).sum())
    if report == "R1" and column == "失学儿童人数":
        return int((_cases(truth, "OOS", period)["township_code"] == town_code[row]).sum())
    if report == "R1" and column == "已上报联控联保工作组" and row == "合计":
        return len(_cases(truth, "ESC", period))
    if report == "R2" and column == "疑似辍学人数/合计":
        sd = truth[truth["case"].isin(SD_RULES) & truth["period"].isin(QUARTER_MONTHS)]
        return sd.loc[sd["township_code"] == town_code[row], "person_key"].nunique()
    raise AssertionError(f"no hand-worked expectation for {argv}")


def _workbook_number(home: Path, period: str, report: str, row: str, column: str) -> int:
    """The number printed in the workbook at (row, column): row by its school/township name (or 合计; a township
    name in R1 is its 小计 row), column by its header (group/label for two-level headers)."""
    pattern = {"R1": "*_控辍保学月报.xlsx", "R2": "*_控辍保学排查整改工作情况统计表.xlsx"}[report]
    [path] = list((home / "reports" / period).glob(pattern))
    df = pd.read_excel(path, header=None, engine="calamine", dtype=object).fillna("").astype(str)
    top = next(i for i in range(len(df)) if "乡镇（街道）" in list(df.iloc[i]))
    groups, labels = list(df.iloc[top]), list(df.iloc[top + 1])
    group, headers = "", []
    for g, label in zip(groups, labels):
        group = g or group
        headers.append({f"{group}/{label}", label} if label else {g})
    col = next(i for i, names in enumerate(headers) if column in names)
    for i in range(top + 2, len(df)):
        cells = list(df.iloc[i])
        name_hit = row in cells[:2] if report == "R2" else (
            cells[1] == row or (cells[0] == row and cells[1] in ("小计", "")) or (row == "合计" and cells[0] == "合计"))
        if name_hit:
            return int(float(cells[col]))
    raise AssertionError(f"{row} not in {path.name}")


def test_readme_explain_lines_follow_demo_numbers_to_their_source_rows(truth, reference, capsys, monkeypatch):
    from test_ledger_backlog import sample_run, warehouse_of

    from pipelines import cli

    lines = _readme_explain_lines()
    assert len(lines) == 4 and [_option(a, "--report") for a in lines].count("R1") == 3
    home = sample_run()
    monkeypatch.setenv("KONGCHUO_WAREHOUSE_URL", warehouse_of(home).url)
    for argv in lines:
        capsys.readouterr()
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out
        count = int(re.search(r"共 (\d+) 人/次", out).group(1))
        want = _expected(truth, reference, argv)
        printed = _workbook_number(home, *(_option(argv, k) for k in ("--period", "--report", "--row", "--column")))
        assert count == want == printed > 0, (argv[1:8], count, want, printed)
        assert not re.search(r"\d{17}[\dXx]", out)  # masked IDs only
        assert len(re.findall(r"第 \d+ 行", out)) >= count  # every case shows source rows (file name + row)
