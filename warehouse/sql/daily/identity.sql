-- daily/identity: who each child warned on day is, for the school's R7 sheet (name, ID, class, guardian phone):
-- the registry record they are filed under.
-- Bind parameters: day.
-- Part first_records (query): matching/first_records of the day's warned persons.
SELECT person_key, id_number, student_no, name, class_name, guardian_phone, grade, school_code
FROM ({first_records}) x
