-- ledger/attendance_files: the roll-call file of each school for the period (deterministic: the smallest hash), the
-- file a case event's attendance evidence names.
-- Bind parameters: start, end.
SELECT school_code, min(file_sha) AS file_sha FROM staged.attendance_current
        WHERE date BETWEEN :start AND :end GROUP BY school_code
