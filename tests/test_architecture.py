"""The layers import one way: kongchuo (domain, no Dagster, no warehouse) -> warehouse -> assets | checks ->
pipelines; the portal uses kongchuo and warehouse only. The contracts are in pyproject.toml ([tool.importlinter]);
this runs import-linter on them, so a wrong import fails the suite with the import chain that broke it. Also: no
sys.path patches, no project imports hidden in functions, ruff clean, and no function outside tests/ over 100
lines (so each reads top-down on one screen or two)."""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # make check

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kongchuo", "warehouse", "assets", "checks", "pipelines", "portal")


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_nothing_patches_sys_path():
    offenders = []
    for pkg in (*PACKAGES, "tests"):
        for path in (REPO / pkg).rglob("*.py"):
            if path.name == Path(__file__).name:
                continue
            if "sys.path" in path.read_text(encoding="utf-8"):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def _late_project_imports(path: Path) -> list[str]:
    """Project imports inside function bodies (the old way to dodge import cycles)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            mod = (node.module if isinstance(node, ast.ImportFrom) else
                   node.names[0].name if isinstance(node, ast.Import) else None)
            if mod and mod.split(".")[0] in PACKAGES:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {mod}")
    return found


# Late imports that are deliberate, not cycle dodges: the CLI loads Dagster only for the commands that run it
# (``kongchuo generate`` starts in a fraction of the time); ``pipelines.definitions`` reads KONGCHUO_HOME and the
# warehouse URL when imported, so run_period imports it after the CLI has set them; the portal keeps Dagster (which
# the warehouse resource imports) off its start-up.
ALLOWED_LATE = {"pipelines/cli.py", "pipelines/bench.py", "pipelines/run.py pipelines.definitions",
                "portal/audit.py warehouse.resource", "portal/trace.py warehouse.resource"}


def test_no_project_imports_hidden_in_functions():
    late = [hit for pkg in PACKAGES for path in sorted((REPO / pkg).rglob("*.py"))
            if str(path.relative_to(REPO)) not in ALLOWED_LATE for hit in _late_project_imports(path)
            if f"{path.relative_to(REPO)} {hit.split()[-1]}" not in ALLOWED_LATE]
    assert late == []


def test_ruff_passes():
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]



MAX_FUNCTION_LINES = 100


def _long_functions(source: str, name: str) -> list[str]:
    """Functions (methods and nested functions too) longer than MAX_FUNCTION_LINES, counted from ``def`` to the
    last line of the body (decorators are configuration, not body)."""
    return [f"{name}:{fn.lineno} {fn.name} ({fn.end_lineno - fn.lineno + 1} lines)"
            for fn in ast.walk(ast.parse(source)) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            and fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES]


def test_long_functions_are_found():
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    source = f"def short():\n    return 1\n\n\nclass A:\n    @property\n    def long(self):\n{body}\n        return 0\n"
    assert _long_functions(source, "probe.py") == ["probe.py:7 long (101 lines)"]
    assert _long_functions(source.replace("        x0 = 0\n", ""), "probe.py") == []


def test_no_function_over_100_lines_outside_tests():
    long = [hit for pkg in (*PACKAGES, "docs") for path in sorted((REPO / pkg).rglob("*.py"))
            for hit in _long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert long == []


# --- SQL in files: warehouse/sql/<area>/<name>.sql, one statement each, parsed under both warehouse dialects ---

SQL_ROOT = REPO / "warehouse" / "sql"
_PLACEHOLDER = re.compile(r"(?:(?<![:\w]):|\{)(\w+)\}?")  # as param_regex in .sqlfluff


def _sql_files() -> list[Path]:
    return sorted(SQL_ROOT.rglob("*.sql"))


def _header_and_body(path: Path) -> tuple[list[str], str]:
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    header = []
    while lines and lines[0].startswith("--"):
        header.append(lines.pop(0))
    return header, "\n".join(lines)


def test_sql_files_are_one_documented_statement_each():
    from warehouse import sql

    files = _sql_files()
    assert len(files) >= 10
    placeholder_values = configparser.ConfigParser()
    placeholder_values.read(REPO / ".sqlfluff", encoding="utf-8")
    values = placeholder_values["sqlfluff:templater:placeholder"]
    for path in files:
        name = str(path.relative_to(SQL_ROOT).with_suffix(""))
        header, body = _header_and_body(path)
        assert header and header[0].startswith(f"-- {name}"), f"{name}: the header names the file and says what it computes"
        code = re.sub(r"--[^\n]*|'(?:[^']|'')*'", "", sql.load(name))  # without comments and string literals
        assert ";" not in code, f"{name}: one statement per file"
        parts = set(re.findall(r"\{(\w+)\}", body))
        declared = {m.group(1) for line in header if (m := re.match(r"-- Part (\w+) \((\w+)\): \S", line))}
        assert parts == declared, f"{name}: every {{part}} is documented in the header (-- Part name (kind): ...)"
        missing = {p for p in _PLACEHOLDER.findall(body) if p not in values}
        assert not missing, f"{name}: .sqlfluff [sqlfluff:templater:placeholder] has no value for {sorted(missing)}"


MAX_INLINE_SQL_LINES = 3
_SQL_WORDS = re.compile(r"\b(SELECT|INSERT INTO|DELETE FROM|UPDATE \w+ SET|CREATE (OR REPLACE )?(TABLE|VIEW))\b")


def _inline_sql(source: str, name: str) -> list[str]:
    """String literals (f-strings too, docstrings not) holding an SQL statement longer than MAX_INLINE_SQL_LINES."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        else:
            continue
        if _SQL_WORDS.search(text) and text.strip().count("\n") + 1 > MAX_INLINE_SQL_LINES:
            found.append(f"{name}:{node.lineno}")
    return found


def test_inline_sql_is_found():
    code = 'def f():\n    """SELECT a\n    FROM b\n    WHERE c\n    AND d"""\n    return """SELECT a\n    FROM b\n    WHERE c\n    AND d"""\n'
    assert _inline_sql(code, "x.py") == ["x.py:6"]


def test_statements_live_in_sql_files_not_python_strings():
    """Issue 17: a statement longer than a few lines is a warehouse/sql file (loaded by name, linted, hashed into
    its asset's code_version); Python keeps only one-line glue (DELETE … WHERE period = :p)."""
    found = [hit for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             for hit in _inline_sql(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert found == []


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_sql_files_parse_and_lint_under_both_dialects(dialect):
    """The warehouse runs on DuckDB or PostgreSQL: every statement parses in both (placeholder templater for
    :params and {parts}) and passes the small rule set of .sqlfluff."""
    from sqlfluff.core import FluffConfig, Linter

    config = FluffConfig.from_path(str(REPO), overrides={"dialect": dialect})
    result = Linter(config=config).lint_paths((str(SQL_ROOT),))
    problems = [f"{Path(rec['filepath']).relative_to(REPO)}:{v['start_line_no']} {v['code']} {v['description']}"
                for rec in result.as_records() for v in rec["violations"]]
    assert len(result.as_records()) == len(_sql_files())
    assert problems == []
