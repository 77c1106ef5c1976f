-- portal/evidence: the evidence rows of one person on the portal's 追溯 page: (source, file_sha, row_no, what the
-- row says), from every current source and the period's check findings.
-- Bind parameters: person, start, end, period.
SELECT 'registry' AS source, file_sha, row_no, coalesce(status, '') || ' ' || coalesce(school_code, '') AS note
FROM staged.registry_current WHERE id_number = :person OR student_no = :person
UNION ALL SELECT 'census', file_sha, row_no, coalesce(residence_status, '') || ' ' || coalesce(township_code, '')
FROM staged.census_current WHERE id_number = :person
UNION ALL SELECT 'attendance', file_sha, row_no, CAST(date AS TEXT) || ' ' || coalesce(status, '')
FROM staged.attendance_current
WHERE (id_number = :person OR student_no = :person) AND date BETWEEN :start AND :end
      AND coalesce(status, '') <> 'present'
UNION ALL SELECT 'casework', file_sha, row_no, CAST(attempt_date AS TEXT) || ' ' || coalesce(result, '')
FROM staged.casework WHERE id_number = :person AND attempt_date <= :end
UNION ALL SELECT 'checks', file_sha, row_no, check_id
FROM checks.findings WHERE record_key = :person AND period = :period AND file_sha IS NOT NULL
