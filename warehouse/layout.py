"""Table layout of the warehouse (DESIGN.md, Interfaces). Portable SQL for DuckDB and PostgreSQL.

Schemas: ``raw`` (file register), ``staged`` (typed, normalised rows of every ingested file),
``derived`` (per-period findings), ``checks`` (findings of DQ checks per run), ``ledger`` (case events),
``reports`` (cell drill-down, manifests). Every per-period table has a text ``period`` column
('2026-10' or '2026-Q4'); per-period writes delete the period's rows, then insert (idempotent).
"""

from __future__ import annotations

from kongchuo.columns import STAGED_TABLES, staged_columns
from warehouse.sql import load

__all__ = ["SCHEMAS", "TABLES", "ddl_statements", "staged_columns"]

SCHEMAS: tuple[str, ...] = ("raw", "staged", "derived", "checks", "ledger", "reports")

TABLES: dict[str, str] = {
    # One row per landed file that was seen; status 'ingested' or 'quarantined'.
    "raw.files": """
        file_sha TEXT NOT NULL, source TEXT NOT NULL, original_name TEXT NOT NULL, raw_path TEXT NOT NULL,
        size_bytes BIGINT, encoding TEXT, row_count INTEGER, status TEXT NOT NULL, error TEXT,
        ingested_at TIMESTAMP NOT NULL, min_date DATE, max_date DATE, run_id TEXT,
        header_map TEXT
    """,
    # One row per (registry or census file, scope): the schools (registry) or townships (census) it holds.
    # status: new (not judged yet) | applied | held (records fell > 50%: wait for landing/confirmations/) |
    # confirmed (held, then confirmed). snapshot_date: export date, else a date in the name, else landing day.
    # A scope's snapshot is every file of its newest date; delivery_key (the file name without correction
    # marks) lets a file re-sent under the same name supersede the earlier one of the same date.
    "raw.snapshots": """
        file_sha TEXT NOT NULL, source TEXT NOT NULL, scope_code TEXT NOT NULL, snapshot_date DATE NOT NULL,
        date_origin TEXT NOT NULL, record_count BIGINT NOT NULL, previous_count BIGINT, status TEXT NOT NULL,
        delivery_key TEXT NOT NULL
    """,
    # The snapshot files the current registry/census tables hold, per scope (warehouse/views.py keeps it).
    "staged.current_scopes": "view_name TEXT NOT NULL, scope_code TEXT NOT NULL, file_sha TEXT NOT NULL",
    # staged.<source> of the six sources: their canonical columns are the domain's (kongchuo.columns).
    **{f"staged.{source}": body for source, body in STAGED_TABLES.items()},
    "staged.townships": "township_code TEXT NOT NULL, township_name TEXT NOT NULL, district_code TEXT NOT NULL",
    "staged.schools": """
        school_code TEXT NOT NULL, school_name TEXT NOT NULL, township_code TEXT NOT NULL, stage TEXT NOT NULL,
        is_rural BOOLEAN NOT NULL
    """,
    # School days (reference/school_calendar.csv); school_code NULL = every school without rows of its own.
    "staged.school_calendar": "date DATE NOT NULL, school_code TEXT",
    # One row per current registry record and period: what the roll call says about it.
    "derived.roster": """
        period TEXT NOT NULL, person_key TEXT NOT NULL, id_number TEXT, student_no TEXT, school_code TEXT,
        township_code TEXT, grade INTEGER, birth_date DATE, status TEXT, school_days INTEGER,
        attendance_days INTEGER, present_days INTEGER, unexcused_days INTEGER, leave_days INTEGER,
        max_unexcused_run INTEGER, first_present DATE, last_present DATE, last_seen DATE,
        term_days_present INTEGER, transfer_date DATE
    """,
    "derived.suspected_dropouts": """
        period TEXT NOT NULL, id_number TEXT, student_no TEXT, person_key TEXT NOT NULL, school_code TEXT,
        township_code TEXT, grade INTEGER, rules TEXT NOT NULL
    """,
    "derived.out_of_school": """
        period TEXT NOT NULL, id_number TEXT NOT NULL, township_code TEXT, birth_date DATE,
        verify_elsewhere BOOLEAN NOT NULL
    """,
    "checks.findings": """
        run_id TEXT NOT NULL, period TEXT, check_id TEXT NOT NULL, source TEXT NOT NULL, record_key TEXT,
        school_code TEXT, file_sha TEXT, row_no INTEGER, detail TEXT, severity TEXT NOT NULL,
        checked_at TIMESTAMP NOT NULL
    """,
    # Case ledger (台账): append-only events; events of period P are written by P's run only (assets/ledger.py).
    "ledger.case_events": """
        period TEXT NOT NULL, created_for_period TEXT NOT NULL, event_seq INTEGER NOT NULL,
        person_key TEXT NOT NULL, id_number TEXT, student_no TEXT, school_code TEXT, township_code TEXT,
        event_date DATE, event_type TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, reason TEXT,
        evidence TEXT, attempt_count INTEGER NOT NULL, failed_attempts INTEGER NOT NULL, source TEXT,
        source_file_sha TEXT
    """,
    # R7 每日预警: one row per child, reason and school day (period = date, 'YYYY-MM-DD'); assets/early_warning.py.
    "derived.early_warnings": """
        period TEXT NOT NULL, date TEXT NOT NULL, person_key TEXT NOT NULL, id_number TEXT, student_no TEXT,
        school_code TEXT, township_code TEXT, reason TEXT NOT NULL, days_absent INTEGER, first_seen DATE,
        continuing BOOLEAN NOT NULL
    """,
    # Home-taught children per month: visits and whether ≥ 2 visits of ≥ 3 class hours were made.
    "derived.home_teaching_compliance": """
        period TEXT NOT NULL, id_number TEXT NOT NULL, township_code TEXT, school_code TEXT, visits INTEGER,
        qualifying_visits INTEGER, class_hours DOUBLE PRECISION, first_visit DATE, last_visit DATE,
        compliant BOOLEAN NOT NULL
    """,
    # Quarterly (period '2026-Q2'): each month of the quarter in which a child was flagged, up to the cut-off.
    "derived.quarterly_suspected": """
        period TEXT NOT NULL, month TEXT NOT NULL, person_key TEXT NOT NULL, id_number TEXT, student_no TEXT,
        school_code TEXT, township_code TEXT, grade INTEGER, stage TEXT, rules TEXT NOT NULL
    """,
    # Quarterly per township: enrolment rate and children still out, at the quarter's cut-off.
    "derived.township_rates": """
        period TEXT NOT NULL, township_code TEXT NOT NULL, as_of DATE NOT NULL, school_age_children INTEGER,
        enrolled_school_age INTEGER, enrolment_rate DOUBLE PRECISION, out_of_school INTEGER,
        verify_elsewhere INTEGER, suspected INTEGER, still_out INTEGER
    """,
    # R8 学籍异动梳理: one row per record that changed between a school's consecutive registry snapshots whose
    # newer one is dated from the term's start to the period's end (assets/registry_changes.py). kind: 新增 转入
    # 转出 休学 复学 升级 毕业 辍学 死亡 删除; verdict 一致 / 需核实 with the reasons (codes and Chinese).
    "derived.registry_changes": """
        period TEXT NOT NULL, term TEXT NOT NULL, term_start DATE NOT NULL, deadline DATE NOT NULL,
        school_code TEXT NOT NULL, township_code TEXT, person_key TEXT NOT NULL, student_no TEXT, id_number TEXT,
        kind TEXT NOT NULL, old_status TEXT, new_status TEXT, old_grade INTEGER, new_grade INTEGER,
        old_class TEXT, new_class TEXT, old_snapshot_date DATE NOT NULL, new_snapshot_date DATE NOT NULL,
        old_file_sha TEXT, old_row_no INTEGER, new_file_sha TEXT, new_row_no INTEGER, needs_review BOOLEAN NOT NULL,
        verdict TEXT NOT NULL, reason_codes TEXT, reason TEXT
    """,
    # One row per check evaluation, also when nothing was found (DQ09 compares row counts across periods).
    "checks.evaluations": """
        run_id TEXT NOT NULL, period TEXT, check_id TEXT NOT NULL, source TEXT NOT NULL, passed BOOLEAN NOT NULL,
        severity TEXT NOT NULL, finding_count INTEGER NOT NULL, row_count BIGINT, checked_at TIMESTAMP NOT NULL
    """,
    "reports.cells": """
        period TEXT NOT NULL, report TEXT NOT NULL, row_key TEXT NOT NULL, column_key TEXT NOT NULL,
        case_key TEXT NOT NULL
    """,
}


# ledger.cases: the current state of every case = its last event (a view, never out of step with the events).
VIEWS: dict[str, str] = {
    "ledger.cases": load("views/ledger_cases"),
}


# Township slices for the Celery scale-out (pipelines/township.py): the roster's columns, and a per-school summary.
TABLES["derived.township_roster"] = TABLES["derived.roster"]
TABLES["derived.township_attendance_summary"] = """
    period TEXT NOT NULL, township_code TEXT NOT NULL, school_code TEXT, records INTEGER NOT NULL,
    active_records INTEGER NOT NULL, no_attendance INTEGER NOT NULL, unexcused_run INTEGER NOT NULL,
    unexcused_days INTEGER NOT NULL
"""

def ddl_statements() -> list[str]:
    stmts = [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in SCHEMAS]
    stmts += [f"CREATE TABLE IF NOT EXISTS {name} ({cols.strip()})" for name, cols in TABLES.items()]
    stmts += [f"CREATE OR REPLACE VIEW {name} AS {body.strip()}" for name, body in VIEWS.items()]
    return stmts
