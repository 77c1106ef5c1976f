-- R4 劝返无效上报名单: every case escalated at the cut-off (escalated: one row per case, is_new when it was not
-- escalated at the previous month's end), under its school.
SELECT :period, :report, coalesce(school_code, 'unknown'), 'escalated', person_key FROM ({escalated}) e
UNION ALL
SELECT :period, :report, coalesce(school_code, 'unknown'), 'new_this_month', person_key
FROM ({escalated}) e WHERE is_new = 1
