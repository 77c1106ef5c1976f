"""Check names: the one place they are spelled (asset checks, findings, reports and tests use these)."""

DQ01_VALID_ID_NUMBER = "dq01_valid_id_number"
DQ02_ID_MATCHES_BIRTH_GENDER = "dq02_id_matches_birth_gender"
DQ03_REQUIRED_VALUES = "dq03_required_values"
DQ04_DUPLICATE_REGISTRY = "dq04_duplicate_registry"
DQ05_REGISTERED_ABSENT = "dq05_registered_absent"
DQ06_PRESENT_UNREGISTERED = "dq06_present_unregistered"
DQ07_AGE_FITS_GRADE = "dq07_age_fits_grade"
DQ08_KNOWN_CODES = "dq08_known_codes"
DQ09_ROW_COUNT_CHANGE = "dq09_row_count_change"
DQ10_EXTRACT_COVERS_PERIOD = "dq10_extract_covers_period"
DQ03_TEXT_ENCODING = "dq03_text_encoding"  # UTF-8 text inside a GBK file (checks/id_checks.py)

# check name -> check id as stored in checks.findings.check_id and ground_truth.csv
CHECK_IDS: dict[str, str] = {
    DQ01_VALID_ID_NUMBER: "DQ01",
    DQ02_ID_MATCHES_BIRTH_GENDER: "DQ02",
    DQ03_REQUIRED_VALUES: "DQ03",
    DQ04_DUPLICATE_REGISTRY: "DQ04",
    DQ05_REGISTERED_ABSENT: "DQ05",
    DQ06_PRESENT_UNREGISTERED: "DQ06",
    DQ07_AGE_FITS_GRADE: "DQ07",
    DQ08_KNOWN_CODES: "DQ08",
    DQ09_ROW_COUNT_CHANGE: "DQ09",
    DQ10_EXTRACT_COVERS_PERIOD: "DQ10",
    DQ03_TEXT_ENCODING: "DQ03",
}
CHECK_NAMES: dict[str, str] = {v: k for k, v in reversed(CHECK_IDS.items())}  # an id's first name wins

# The person/record consistency checks (人籍不一致) listed in the R5 fix list.
FIX_LIST_CHECK_IDS: tuple[str, ...] = ("DQ04", "DQ05", "DQ06", "DQ07")
