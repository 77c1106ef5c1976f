-- registry_changes/changes -> _r8_changes: the record pairs of each snapshot pair with their kind (新增, 转入, 删除,
-- 转出, 休学, 毕业, 辍学, 死亡, 复学, 升级); pairs without a change are left out.
CREATE TEMP TABLE _r8_changes AS SELECT * FROM (
        SELECT p.scope_code, p.old_date, p.new_date, coalesce(n.person_key, o.person_key) AS person_key,
               coalesce(n.student_no, o.student_no) AS student_no, coalesce(n.id_number, o.id_number) AS id_number,
               o.status AS old_status, n.status AS new_status, o.grade AS old_grade, n.grade AS new_grade,
               o.class_name AS old_class, n.class_name AS new_class, o.file_sha AS old_file_sha,
               o.row_no AS old_row_no, n.file_sha AS new_file_sha, n.row_no AS new_row_no, CASE
    WHEN o.person_key IS NULL THEN CASE WHEN n.status_raw LIKE '%转入%' OR EXISTS (
            SELECT 1 FROM _r8_rows x WHERE x.person_key = n.person_key AND x.scope_code <> n.scope_code
            AND x.status = 'transferred_out' AND x.snapshot_date <= p.new_date) THEN '转入' ELSE '新增' END
    WHEN n.person_key IS NULL THEN CASE WHEN coalesce(o.status, '~') IN ('transferred_out', 'graduated', 'deceased')
            THEN NULL ELSE '删除' END
    WHEN coalesce(n.status, '~') <> coalesce(o.status, '~') THEN CASE n.status
            WHEN 'transferred_out' THEN '转出' WHEN 'suspended' THEN '休学' WHEN 'graduated' THEN '毕业'
            WHEN 'dropped_out' THEN '辍学' WHEN 'deceased' THEN '死亡'
            WHEN 'active' THEN CASE WHEN o.status IN ('suspended', 'dropped_out') THEN '复学' ELSE '转入' END END
    WHEN n.status = 'active' AND (coalesce(n.grade, -1) <> coalesce(o.grade, -1)
                                   OR p.new_year > p.old_year) THEN '升级'
    END AS kind
        FROM _r8_pairs p
        JOIN (SELECT o.scope_code, o.person_key, p2.new_date FROM _r8_rows o
              JOIN _r8_pairs p2 ON p2.scope_code = o.scope_code AND p2.old_date = o.snapshot_date
              UNION
              SELECT n.scope_code, n.person_key, n.snapshot_date FROM _r8_rows n
              JOIN _r8_pairs p3 ON p3.scope_code = n.scope_code AND p3.new_date = n.snapshot_date) k
          ON k.scope_code = p.scope_code AND k.new_date = p.new_date
        LEFT JOIN _r8_rows o ON o.scope_code = p.scope_code AND o.snapshot_date = p.old_date
                            AND o.person_key = k.person_key
        LEFT JOIN _r8_rows n ON n.scope_code = p.scope_code AND n.snapshot_date = p.new_date
                            AND n.person_key = k.person_key
    ) c WHERE c.kind IS NOT NULL
