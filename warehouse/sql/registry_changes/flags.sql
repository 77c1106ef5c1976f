-- registry_changes/flags: each change with what R8 checks against it: a 转出 child still present at the school on
-- the new snapshot's date or later (the school's last school day after the old snapshot and up to the new one, the
-- day the export reflects, or any day after it up to the cut-off), received elsewhere, unseen for longer than the
-- grace period; a 休学 with an approval and presence after it; a 复学 with presence since; a 删除 of a school-age
-- child on the household register.
-- Bind parameters: cutoff, ref_date, grace, min_age, max_age.
-- Part registry_persons_active (query): warehouse.views.registry_persons_sql of the active records.
-- Part census_birth (expression): warehouse.views.census_birth_sql of c.
-- Part age_on_ref_date (expression): assets.rules.age_sql of k.birth_date on ref_date.
WITH active_elsewhere AS (
    SELECT DISTINCT r.person_key, r.school_code FROM ({registry_persons_active}) r
    WHERE r.person_key IN (SELECT person_key FROM _r8_changes)
),
census AS (
    SELECT c.id_number, {census_birth} AS birth_date FROM staged.census_current c
    WHERE c.residence_status IN ('resident', 'away')
      AND c.id_number IN (SELECT person_key FROM _r8_changes WHERE kind = '删除')
)
SELECT c.*, s.township_code, s.stage,
    CASE WHEN c.kind = '转出' AND EXISTS (SELECT 1 FROM _r8_present a WHERE a.person_key = c.person_key
         AND a.school_code = c.scope_code AND (a.date >= c.new_date OR a.date = (SELECT max(d.date) FROM _r8_days d
               WHERE d.school_code = c.scope_code AND d.date > c.old_date AND d.date <= c.new_date))) THEN 1 ELSE 0 END AS still_present,
    CASE WHEN c.kind = '转出' AND (EXISTS (SELECT 1 FROM active_elsewhere e WHERE e.person_key = c.person_key
         AND e.school_code <> c.scope_code) OR EXISTS (SELECT 1 FROM _r8_rows x WHERE x.person_key = c.person_key
         AND x.scope_code <> c.scope_code AND x.status = 'active' AND x.snapshot_date > c.old_date))
         THEN 1 ELSE 0 END AS received,
    CASE WHEN c.kind = '转出' AND coalesce(CAST(:cutoff AS DATE) - (SELECT l.last_seen FROM _r8_last l
         WHERE l.person_key = c.person_key), 999999) > :grace THEN 1 ELSE 0 END AS overdue,
    CASE WHEN c.kind = '休学' AND EXISTS (SELECT 1 FROM staged.exemptions e WHERE e.id_number = c.person_key
         AND e.kind = 'suspension' AND e.approved_on <= CAST(:cutoff AS DATE)
         AND (e.valid_until IS NULL OR e.valid_until >= c.new_date)) THEN 1 ELSE 0 END AS approved,
    CASE WHEN c.kind = '休学' AND EXISTS (SELECT 1 FROM _r8_present a WHERE a.person_key = c.person_key
         AND (a.date >= c.new_date OR a.date = (SELECT max(d.date) FROM _r8_days d
               WHERE d.school_code = c.scope_code AND d.date > c.old_date AND d.date <= c.new_date))) THEN 1 ELSE 0 END AS present_after,
    CASE WHEN c.kind = '复学' AND EXISTS (SELECT 1 FROM _r8_present a WHERE a.person_key = c.person_key
         AND a.date > c.old_date) THEN 1 ELSE 0 END AS present_since,
    CASE WHEN c.kind = '复学' AND EXISTS (SELECT 1 FROM _r8_days d WHERE d.school_code = c.scope_code
         AND d.date > c.old_date) THEN 1 ELSE 0 END AS school_has_rollcall,
    CASE WHEN c.kind = '删除' AND EXISTS (SELECT 1 FROM census k WHERE k.id_number = c.person_key
         AND k.birth_date IS NOT NULL
         AND {age_on_ref_date} BETWEEN :min_age AND :max_age)
         AND NOT EXISTS (SELECT 1 FROM active_elsewhere e WHERE e.person_key = c.person_key
                         AND e.school_code <> c.scope_code) THEN 1 ELSE 0 END AS in_census
FROM _r8_changes c LEFT JOIN staged.schools s ON s.school_code = c.scope_code
