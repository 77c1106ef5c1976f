-- ledger/closers: one row per (candidate, close-out reason that applies this period) with evidence and the file
-- that causes it (DESIGN.md close-out reasons: deceased, moved out, exempted, home taught, aged out, record error,
-- returned).
-- Bind parameters: period, start, end, ref_date, max_age.
-- Part candidates (query): ledger/candidates.
-- Part attendance_files (query): ledger/attendance_files.
-- Part registry_persons (query): warehouse.views.registry_persons_sql().
-- Part roster (relation): the period's roster (derived.roster or the ledger's work table).
-- Part age_on_end (expression): assets.rules.age_sql of birth_date on the cut-off end.
WITH cand AS ({candidates}),
att_file AS ({attendance_files}),
reg AS (
    SELECT r.* FROM ({registry_persons}) r  -- person_key: the one matching rule (warehouse.views)
    JOIN cand c ON c.person_key = r.person_key
),
latest_registry AS (
    SELECT min(file_sha) AS file_sha FROM staged.registry_current
),
ro AS (SELECT r.* FROM {roster} r JOIN cand c ON c.person_key = r.person_key WHERE r.period = :period),
full_month AS (
    SELECT person_key, sum(school_days) AS school_days, sum(present_days) AS present_days,
           min(school_code) AS school_code
    FROM ro WHERE status = 'active'
    GROUP BY person_key
    HAVING sum(school_days) > 0 AND sum(unexcused_days) = 0
       AND min(CASE WHEN present_days + leave_days >= school_days THEN 1 ELSE 0 END) = 1
)
SELECT person_key, 'deceased' AS kind, '学籍状态：死亡' AS evidence, 'registry' AS source, min(file_sha) AS file_sha
    FROM reg WHERE status = 'deceased' GROUP BY person_key
UNION ALL
SELECT c.person_key, 'deceased', '户籍状态：死亡', 'census', min(p.file_sha)
    FROM cand c JOIN staged.census_current p ON p.id_number = c.person_key
    WHERE p.residence_status = 'deceased' GROUP BY c.person_key
UNION ALL
SELECT c.person_key, 'moved_out', '户籍状态：迁出', 'census', min(p.file_sha)
    FROM cand c JOIN staged.census_current p ON p.id_number = c.person_key
    WHERE p.residence_status = 'moved_out' GROUP BY c.person_key
UNION ALL
SELECT c.person_key, 'exempted',
       min(CASE WHEN e.kind = 'deferral' THEN '延缓入学' ELSE '休学' END || '，批准日期' || CAST(e.approved_on AS TEXT)
           || '，有效期至' || CAST(e.valid_until AS TEXT) || coalesce('，' || e.approved_by, '')),
       'exemptions', min(e.file_sha)
    FROM cand c JOIN staged.exemptions e ON e.id_number = c.person_key
    WHERE e.approved_on <= :end AND e.valid_until >= :start GROUP BY c.person_key
UNION ALL
SELECT c.person_key, 'home_taught', '本学年送教上门 ' || CAST(count(*) AS TEXT) || ' 次', 'home_teaching',
       min(h.file_sha)
    FROM cand c JOIN staged.home_teaching h ON h.id_number = c.person_key
    WHERE h.visit_date > CAST(:ref_date AS DATE) AND h.visit_date <= :end GROUP BY c.person_key
UNION ALL
SELECT person_key, 'aged_out', '期末年满 ' || CAST(max({age_on_end}) AS TEXT) || ' 周岁',
       'registry', min(file_sha)
    FROM reg WHERE birth_date IS NOT NULL AND {age_on_end} > :max_age
    GROUP BY person_key
UNION ALL
SELECT c.person_key, 'record_error', '现行学籍库无此证件号记录（学籍已更正或注销）', 'registry',
       (SELECT file_sha FROM latest_registry)
    FROM cand c WHERE NOT EXISTS (SELECT 1 FROM reg r WHERE r.person_key = c.person_key)
      AND EXISTS (SELECT 1 FROM staged.registry_current)
UNION ALL
SELECT f.person_key, 'returned', '本月应到 ' || CAST(f.school_days AS TEXT) || ' 天，到校 '
       || CAST(f.present_days AS TEXT) || ' 天，无旷课', 'attendance', af.file_sha
    FROM full_month f LEFT JOIN att_file af ON af.school_code = f.school_code
