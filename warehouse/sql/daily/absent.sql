-- daily/absent: the unexcused roll-call rows on school days, each with the school day's number (one row per
-- person, school and day): what an unexcused streak is counted over (R7 and the ledger's SD1 date).
-- Part ap (relation): the window's roll-call rows matched to persons (warehouse.views.attendance_persons_sql).
-- Part numbered (relation): the window's school days (daily/school_days).
SELECT DISTINCT a.person_key, a.school_code, a.date, n.day_no
FROM {ap} a JOIN {numbered} n ON n.school_code = a.school_code AND n.date = a.date
WHERE a.status = 'unexcused'
