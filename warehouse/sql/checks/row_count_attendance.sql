-- checks/row_count_attendance: DQ09's row count of the roll call for the period: its current rows dated in it.
-- Bind parameters: start, end.
SELECT count(*) FROM staged.attendance_current WHERE date BETWEEN :start AND :end
