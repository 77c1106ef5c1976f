-- ledger/flagged: the period's suspected dropouts with the files behind them (roll call, registry record) and, for
-- SD1, the day it was reached: R7's first warning day in the month where the daily partitions ran, else the day
-- the month's roll call reached it.
-- Bind parameters: period, start, end, and those of sd1_reached.
-- Part attendance_files (query): ledger/attendance_files.
-- Part suspected (relation): the period's suspected dropouts (derived.suspected_dropouts or the ledger's work table).
-- Part registry_persons (query): warehouse.views.registry_persons_sql().
-- Part sd1_reached (query): assets.early_warning.SD1_REACHED_SQL, the day each child's SD1 was reached.
WITH att_file AS ({attendance_files}),
reg_file AS (
    SELECT person_key, school_code, min(file_sha) AS file_sha
    FROM ({registry_persons}) t
    WHERE person_key IN (SELECT person_key FROM {suspected} WHERE period = :period)
    GROUP BY person_key, school_code
),
warned AS (  -- R7's first day of an SD1 warning in the month, where the daily partitions ran
    SELECT person_key, min(first_seen) AS first_seen FROM derived.early_warnings
    WHERE reason IN ('consecutive', 'monthly') AND first_seen BETWEEN :start AND :end
    GROUP BY person_key
)
SELECT sd.person_key, sd.id_number, sd.student_no, sd.school_code, sd.township_code, sd.rules,
       af.file_sha AS attendance_sha, rf.file_sha AS registry_sha,
       CASE WHEN ',' || sd.rules || ',' LIKE '%,SD1,%' THEN coalesce(w.first_seen, sr.reached) END AS flag_date
FROM {suspected} sd
LEFT JOIN att_file af ON af.school_code = sd.school_code
LEFT JOIN reg_file rf ON rf.person_key = sd.person_key AND rf.school_code = sd.school_code
LEFT JOIN warned w ON w.person_key = sd.person_key
LEFT JOIN ({sd1_reached}) sr ON sr.person_key = sd.person_key
WHERE sd.period = :period
