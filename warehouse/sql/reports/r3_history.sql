-- reports/r3_history: R3, the ledger history of a county's open cases, each event with the name of the file
-- that caused it (raw.files knows the landing names by hash) and, for a persuasion record, its row in that
-- file (the casework row of the same child, date and file).
-- Bind parameters: period, county.
-- Part event_select (expression): the columns of kongchuo.one_form.EVENT_COLUMNS.
-- Part cases_table (relation): the run's temporary table of open cases.
SELECT {event_select} FROM ledger.case_events e
LEFT JOIN (SELECT file_sha, min(original_name) AS name FROM raw.files GROUP BY file_sha) f
       ON f.file_sha = e.source_file_sha
LEFT JOIN (SELECT id_number, attempt_date, file_sha, min(row_no) AS row_no FROM staged.casework
           WHERE id_number IN (SELECT person_key FROM {cases_table} WHERE county = :county)
           GROUP BY id_number, attempt_date, file_sha) c
       ON e.source = 'casework' AND c.id_number = e.person_key AND c.attempt_date = e.event_date
          AND c.file_sha = e.source_file_sha
WHERE e.created_for_period <= :period
  AND e.person_key IN (SELECT person_key FROM {cases_table} WHERE county = :county)
ORDER BY e.person_key, e.created_for_period, e.event_seq
