-- registry_changes/rows -> _r8_rows: one record per person, school and snapshot of the pairs (an active one first,
-- then the higher grade), so the same choice is made in both snapshots of a pair.
-- Part home_scopes (query): warehouse.views._home_scopes_sql of the registry (each file's first scope).
-- Part registry_person_key (expression): warehouse.views.registry_person_key_sql of s (the matching rule).
CREATE TEMP TABLE _r8_rows AS WITH scoped AS (
        SELECT s.*, coalesce(s.school_code, h.home) AS scope_code FROM staged.registry s
        JOIN ({home_scopes}) h ON h.file_sha = s.file_sha
        WHERE s.file_sha IN (SELECT file_sha FROM _r8_snap)
    ),
    wanted AS (SELECT scope_code, old_date AS d FROM _r8_pairs UNION SELECT scope_code, new_date FROM _r8_pairs),
    keyed AS (
        SELECT sn.scope_code, sn.snapshot_date, {registry_person_key} AS person_key, s.student_no,
               s.id_number, s.grade, s.status, s.status_raw, s.class_name, s.file_sha, s.row_no
        FROM scoped s
        JOIN _r8_snap sn ON sn.file_sha = s.file_sha AND sn.scope_code = s.scope_code
        JOIN wanted w ON w.scope_code = sn.scope_code AND w.d = sn.snapshot_date
    )
    SELECT * FROM (
        SELECT k.*, row_number() OVER (
            PARTITION BY k.scope_code, k.snapshot_date, k.person_key
            ORDER BY CASE WHEN k.status = 'active' THEN 0 ELSE 1 END, k.grade DESC NULLS LAST, k.student_no,
                     k.file_sha, k.row_no) AS rn
        FROM keyed k WHERE k.person_key IS NOT NULL
    ) r WHERE r.rn < 2
