-- checks/dq06_unregistered: DQ06, roll-call rows at a school where their person has no active record. Reads every
-- attendance row of the period: in absence_only mode these are the absence rows (a child without rows is present,
-- which says nothing about registration, so only absence rows can be checked).
-- Bind parameters: start, end.
-- Part attendance_period (subquery): warehouse.views.attendance_persons_sql of the period's roll call (start..end).
-- Part registry_persons_active (query): warehouse.views.registry_persons_sql of the active records (t.status = 'active').
WITH
att AS (SELECT * FROM {attendance_period} ap),
active AS (  -- only ever used in [NOT] EXISTS: no DISTINCT needed
    SELECT person_key, school_code FROM ({registry_persons_active}) t
),
unregistered AS (  -- filter before grouping: the anti-join is cheap, count(DISTINCT) over all roll call is not
    SELECT a.* FROM att a
    WHERE a.record_key IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM active WHERE active.person_key = a.person_key AND active.school_code = a.school_code)
),
rows_ AS (
    SELECT record_key, person_key, school_code, count(*) AS n, count(DISTINCT date) AS days,
           min(file_sha) AS file_sha, min(row_no) AS row_no
    FROM unregistered GROUP BY record_key, person_key, school_code
)
SELECT record_key, school_code, file_sha, row_no,
       '在本校有考勤记录 ' || CAST(n AS TEXT) || ' 条（' || CAST(days AS TEXT)
       || ' 天），但本人在本校无在读学籍' AS detail
FROM rows_ t
