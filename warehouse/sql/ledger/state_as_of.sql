-- ledger/state_as_of: each person's last case event (state, attempts, where filed) among the events of the periods
-- before the period, or up to and including it.
-- Bind parameters: period.
-- Part before_or_at (operator): < (before the period) or <= (up to and including it).
SELECT person_key, id_number, student_no, school_code, township_code, to_state AS state, attempt_count,
       failed_attempts, created_for_period AS last_period, event_date AS last_event_date
FROM (SELECT e.*, row_number() OVER (PARTITION BY e.person_key
                                     ORDER BY e.created_for_period DESC, e.event_seq DESC) AS rn
      FROM ledger.case_events e WHERE e.created_for_period {before_or_at} :period) t
WHERE t.rn = 1
