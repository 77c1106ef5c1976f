-- checks/dq08_reference: DQ08, registry records whose school code or township code is not in the reference data.
SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha, t.row_no,
       '学校标识码 ' || t.school_code || ' 不在参考数据（学校名录）中' AS detail
FROM staged.registry_current t
WHERE t.school_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staged.schools s WHERE s.school_code = t.school_code)
UNION ALL
SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha, t.row_no,
       '乡镇代码 ' || t.township_code || ' 不在参考数据（乡镇名录）中' AS detail
FROM staged.registry_current t
WHERE t.township_code IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM staged.townships w WHERE w.township_code = t.township_code)
