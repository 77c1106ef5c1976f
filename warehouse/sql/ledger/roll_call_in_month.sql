-- ledger/roll_call_in_month: whether the period has any roll call (a month without flags nobody).
-- Bind parameters: start, end.
SELECT 1 FROM staged.attendance_current WHERE date BETWEEN :start AND :end LIMIT 1
