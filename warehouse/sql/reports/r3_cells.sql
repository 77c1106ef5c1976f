-- R3 一生一表: every case open at the month's end (open_cases), under its school.
SELECT :period, :report, coalesce(school_code, 'unknown'), 'open_cases', person_key
FROM ({open_cases}) o
