"""Where every warehouse table and report column comes from, declared once, as plain data (asset keys as
``staged/registry`` paths) so the portal can draw it without Dagster.

:data:`TABLES` names the warehouse table(s) each asset writes; :data:`COLUMN_LINEAGE` names, for each derived
column, the upstream asset columns it is computed from. :mod:`pipelines.lineage` turns both into Dagster's
``dagster/column_schema`` / ``dagster/column_lineage`` metadata. Row-level provenance goes further than columns:
every staged row keeps ``file_sha``/``row_no``, ledger events name ``source_file_sha``, and ``reports.cells``
lists the cases behind every report cell (``kongchuo explain``).
"""

from __future__ import annotations

from kongchuo.reports_catalog import R1_COLUMNS, R2_COLUMNS, R2_PRIORITY_FLAGS, R8_COLUMNS
from kongchuo.settings import SOURCES


def _key(path: str) -> str:
    return path


STAGED = {source: _key(f"staged/{source}") for source in (*SOURCES, "reference")}
ROSTER = _key("derived/roster")
SUSPECTED = _key("derived/suspected_dropouts")
OUT_OF_SCHOOL = _key("derived/out_of_school")
HOME_TEACHING = _key("derived/home_teaching_compliance")
QUARTERLY_SUSPECTED = _key("derived/quarterly_suspected")
TOWNSHIP_RATES = _key("derived/township_rates")
CASE_EVENTS = _key("ledger/case_events")
EARLY_WARNINGS = _key("derived/early_warnings")
R1 = _key("reports/r1_monthly")
R2 = _key("reports/quarterly/r2_statistics")
REGISTRY_CHANGES = _key("derived/registry_changes")
R8 = _key("reports/r8_registry_changes")

# Asset -> warehouse tables it writes (the first one is its ``dagster/table_name``).
TABLES: dict[str, tuple[str, ...]] = {
    **{STAGED[s]: (f"staged.{s}",) for s in SOURCES},
    STAGED["reference"]: ("staged.schools", "staged.townships"),
    ROSTER: ("derived.roster",),
    SUSPECTED: ("derived.suspected_dropouts",),
    OUT_OF_SCHOOL: ("derived.out_of_school",),
    HOME_TEACHING: ("derived.home_teaching_compliance",),
    QUARTERLY_SUSPECTED: ("derived.quarterly_suspected",),
    TOWNSHIP_RATES: ("derived.township_rates",),
    CASE_EVENTS: ("ledger.case_events",),
    EARLY_WARNINGS: ("derived.early_warnings",),
    REGISTRY_CHANGES: ("derived.registry_changes",),
}

# Columns of report workbooks whose cells come from ``reports.cells`` (column key -> Chinese header).
REPORT_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {}


def _d(asset: str, columns: str) -> list[tuple[str, str]]:
    return [(asset, c) for c in columns.split()]


REG, ATT, CEN, CASE, EXE, HOME, REF = (STAGED[s] for s in
                                       ("registry", "attendance", "census", "casework", "exemptions",
                                        "home_teaching", "reference"))
_EXCLUSIONS = [*_d(EXE, "id_number approved_on valid_until"), *_d(HOME, "id_number visit_date"),
               *_d(CEN, "id_number residence_status")]
_SD_RULES = [*_d(ATT, "date status"), *_d(REG, "status birth_date"), *_EXCLUSIONS]

# Who and where a registry record is: the same staged columns feed the roster and the quarterly table.
_REGISTRY_IDENTITY = {
    "person_key": _d(REG, "id_number student_no"),
    "id_number": _d(REG, "id_number"),
    "student_no": _d(REG, "student_no"),
    "school_code": _d(REG, "school_code"),
    "township_code": [*_d(REF, "township_code"), *_d(REG, "township_code")],
    "grade": _d(REG, "grade"),
}

# Asset -> {column: [(upstream asset, upstream column), ...]}.
COLUMN_LINEAGE: dict[str, dict[str, list[tuple[str, str]]]] = {
    ROSTER: {
        **_REGISTRY_IDENTITY,
        "birth_date": _d(REG, "birth_date"),
        "status": _d(REG, "status"),
        "school_days": _d(ATT, "school_code date"),
        "attendance_days": _d(ATT, "student_no id_number school_code date"),
        "present_days": _d(ATT, "date status"),
        "unexcused_days": _d(ATT, "date status"),
        "leave_days": _d(ATT, "date status"),
        "max_unexcused_run": _d(ATT, "date status"),
        "first_present": _d(ATT, "date status"),
        "last_present": _d(ATT, "date status"),
        "last_seen": _d(ATT, "date"),
        "term_days_present": _d(ATT, "date status"),
        # the change date, else the first snapshot showing 转出 (raw.snapshots: the registry files' dates)
        "transfer_date": _d(REG, "status change_date"),
    },
    SUSPECTED: {
        "id_number": _d(ROSTER, "id_number"),
        "student_no": _d(ROSTER, "student_no"),
        "person_key": _d(ROSTER, "person_key"),
        "school_code": _d(ROSTER, "school_code"),
        "township_code": _d(ROSTER, "township_code"),
        "grade": _d(ROSTER, "grade"),
        "rules": [*_d(ROSTER, "status max_unexcused_run unexcused_days term_days_present attendance_days "
                              "transfer_date birth_date"), *_EXCLUSIONS],
    },
    OUT_OF_SCHOOL: {
        "id_number": [*_d(CEN, "id_number"), *_d(REG, "id_number"), *_d(EXE, "id_number approved_on valid_until")],
        "township_code": _d(CEN, "township_code"),
        "birth_date": _d(CEN, "birth_date"),
        "verify_elsewhere": _d(CEN, "residence_status"),
    },
    HOME_TEACHING: {
        "id_number": _d(HOME, "id_number"),
        "township_code": [*_d(REF, "township_code"), *_d(REG, "township_code"), *_d(CEN, "township_code")],
        "school_code": _d(REG, "school_code status"),
        "visits": _d(HOME, "visit_date class_hours teacher"),
        "qualifying_visits": _d(HOME, "visit_date class_hours"),
        "class_hours": _d(HOME, "class_hours"),
        "first_visit": _d(HOME, "visit_date"),
        "last_visit": _d(HOME, "visit_date"),
        "compliant": _d(HOME, "visit_date class_hours"),
    },
    QUARTERLY_SUSPECTED: {
        **_REGISTRY_IDENTITY,
        "stage": [*_d(REF, "stage"), *_d(REG, "grade")],
        "rules": _SD_RULES,
    },
    TOWNSHIP_RATES: {
        "township_code": [*_d(REF, "township_code"), *_d(CEN, "township_code")],
        "school_age_children": _d(CEN, "id_number birth_date residence_status"),
        "enrolled_school_age": [*_d(CEN, "id_number birth_date residence_status"), *_d(REG, "id_number status")],
        "enrolment_rate": [*_d(CEN, "id_number birth_date residence_status"), *_d(REG, "id_number status")],
        "out_of_school": [*_d(CEN, "id_number birth_date residence_status"), *_d(REG, "id_number")],
        "verify_elsewhere": _d(CEN, "id_number residence_status"),
        "suspected": _d(QUARTERLY_SUSPECTED, "person_key township_code"),
        "still_out": [*_d(QUARTERLY_SUSPECTED, "person_key month"), *_d(CEN, "id_number residence_status")],
    },
    CASE_EVENTS: {
        "person_key": [*_d(SUSPECTED, "person_key"), *_d(CASE, "id_number")],
        "id_number": [*_d(SUSPECTED, "id_number"), *_d(REG, "id_number")],
        "student_no": [*_d(SUSPECTED, "student_no"), *_d(REG, "student_no")],
        "school_code": [*_d(SUSPECTED, "school_code"), *_d(REG, "school_code")],
        "township_code": [*_d(SUSPECTED, "township_code"), *_d(REG, "township_code")],
        "event_date": [*_d(CASE, "attempt_date"), *_d(ROSTER, "last_present")],
        "event_type": [*_d(SUSPECTED, "rules"), *_d(CASE, "result"), *_d(ROSTER, "present_days school_days")],
        "reason": [*_d(CASE, "result"), *_d(REG, "status"), *_d(CEN, "residence_status"), *_d(EXE, "kind")],
        "evidence": [*_d(CASE, "method unit"), *_d(EXE, "approved_on valid_until approved_by"),
                     *_d(HOME, "visit_date")],
        "attempt_count": _d(CASE, "attempt_date result"),
        "failed_attempts": _d(CASE, "attempt_date result"),
        "source_file_sha": [(s, "file_sha") for s in (REG, ATT, CEN, CASE, EXE, HOME)],
    },
}


# R7: a day's warnings come from the roll call up to that day, the registry (who) and the case ledger (open cases).
_ROLL = _d(STAGED["attendance"], "student_no id_number school_code date status")
COLUMN_LINEAGE[EARLY_WARNINGS] = {
    "period": _d(STAGED["attendance"], "date"),
    "date": _d(STAGED["attendance"], "date"),
    "person_key": [*_d(STAGED["attendance"], "student_no id_number"), *_d(STAGED["registry"], "student_no id_number")],
    "id_number": _d(STAGED["registry"], "id_number student_no"),
    "student_no": _d(STAGED["registry"], "id_number student_no"),
    "school_code": _d(STAGED["attendance"], "school_code"),
    "township_code": _d(STAGED["reference"], "school_code township_code"),
    "reason": [*_ROLL, *_d(CASE_EVENTS, "person_key to_state")],
    "days_absent": _ROLL,
    "first_seen": _ROLL,
    "continuing": _ROLL,
}


def _report_lineage() -> None:
    """R1 and R2: each report column and the derived/staged columns its cells count."""
    REPORT_COLUMNS[R1] = (("school_code", "学校标识码"), *R1_COLUMNS)
    sd = _d(SUSPECTED, "person_key school_code")
    COLUMN_LINEAGE[R1] = {
        "school_code": [*_d(SUSPECTED, "school_code"), *_d(ROSTER, "school_code"), *_d(REF, "school_code")],
        "enrolled": _d(ROSTER, "student_no id_number school_code status"),
        "suspected": sd,
        **{rule: [*sd, *_d(SUSPECTED, "rules")] for rule in ("SD1", "SD2", "SD3", "SD4", "SD5", "SD6")},
        **{state: _d(CASE_EVENTS, "person_key school_code township_code to_state")
           for state in ("confirmed", "persuading", "escalated")},
        "attempts": [*_d(CASE, "id_number attempt_date"), *_d(ROSTER, "school_code")],
        "returned": [*_d(CASE, "id_number attempt_date result"), *_d(ROSTER, "school_code")],
        "out_of_school": _d(OUT_OF_SCHOOL, "id_number township_code verify_elsewhere"),
        "verify_elsewhere": _d(OUT_OF_SCHOOL, "id_number township_code verify_elsewhere"),
    }
    REPORT_COLUMNS[R2] = tuple((k, label) for k, label, _ in R2_COLUMNS)
    qs = _d(QUARTERLY_SUSPECTED, "person_key township_code")
    people = _d(CEN, "id_number township_code birth_date residence_status")
    COLUMN_LINEAGE[R2] = {
        "school_age": people,
        "enrolled": [*people, *_d(REG, "id_number status")],
        "rate": [*people, *_d(REG, "id_number status")],
        "suspected_primary": [*qs, *_d(QUARTERLY_SUSPECTED, "stage")],
        "suspected_junior": [*qs, *_d(QUARTERLY_SUSPECTED, "stage")],
        "suspected": qs,
        **{key: [*qs, *_d(REG, flag), *(_d(CEN, flag) if flag in ("is_poverty_family", "is_disabled") else [])]
           for key, flag in R2_PRIORITY_FLAGS.items()},
        "returned_primary": [*_d(CASE, "id_number attempt_date result"), *_d(REG, "school_code grade")],
        "returned_junior": [*_d(CASE, "id_number attempt_date result"), *_d(REG, "school_code grade")],
        "out_of_school": [*people, *_d(REG, "id_number")],
        "verify_elsewhere": [*people, *_d(REG, "id_number")],
        "still_out": [*people, *_d(REG, "id_number"), *_d(QUARTERLY_SUSPECTED, "person_key month")],
    }


_report_lineage()


# R8: each change compares two snapshots of a school's registry (every staged registry row is kept, dated by its
# file's snapshot); the verdicts read the roll call, the exemptions, the census and the school's stage.
_SNAPSHOT = _d(REG, "file_sha row_no school_code")
_VERDICT = [*_d(REG, "status grade school_code"), *_d(ATT, "student_no id_number school_code date status"),
            *_d(EXE, "id_number kind approved_on valid_until"), *_d(CEN, "id_number birth_date residence_status"),
            *_d(REF, "school_code stage")]
COLUMN_LINEAGE[REGISTRY_CHANGES] = {
    "period": _d(REG, "file_sha"),
    "term": _d(REF, "school_code"),
    "school_code": _d(REG, "school_code"),
    "township_code": _d(REF, "school_code township_code"),
    "person_key": _d(REG, "id_number student_no"),
    "student_no": _d(REG, "student_no"),
    "id_number": _d(REG, "id_number"),
    "kind": [*_d(REG, "id_number student_no status status_raw grade"), *_SNAPSHOT],
    **{f"{side}_{col}": [*_d(REG, src), *_SNAPSHOT] for side in ("old", "new")
       for col, src in (("status", "status"), ("grade", "grade"), ("class", "class_name"))},
    "old_snapshot_date": _SNAPSHOT, "new_snapshot_date": _SNAPSHOT,
    "old_file_sha": _d(REG, "file_sha"), "old_row_no": _d(REG, "row_no"),
    "new_file_sha": _d(REG, "file_sha"), "new_row_no": _d(REG, "row_no"),
    **{col: _VERDICT for col in ("needs_review", "verdict", "reason_codes", "reason")},
}
REPORT_COLUMNS[R8] = (("school_code", "学校标识码"), *R8_COLUMNS)
_CHANGES = _d(REGISTRY_CHANGES, "school_code person_key kind new_snapshot_date")
COLUMN_LINEAGE[R8] = {
    "school_code": [*_d(REGISTRY_CHANGES, "school_code"), *_d(REF, "school_code")],
    **{key: _CHANGES for key, _ in R8_COLUMNS},
    "needs_review": [*_CHANGES, *_d(REGISTRY_CHANGES, "needs_review")],
    "consistent": [*_CHANGES, *_d(REGISTRY_CHANGES, "needs_review")],
}
