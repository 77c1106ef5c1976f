-- views/ledger_cases: the view ledger.cases, the current state of every case = its last event (never out of step
-- with ledger.case_events).
SELECT person_key, id_number, student_no, school_code, township_code, to_state AS state, attempt_count,
       failed_attempts, reason AS last_reason, event_type AS last_event, event_date AS last_event_date,
       created_for_period AS last_period, opened_period
FROM (
    SELECT e.*, row_number() OVER (PARTITION BY e.person_key
                                   ORDER BY e.created_for_period DESC, e.event_seq DESC) AS rn,
           min(e.created_for_period) OVER (PARTITION BY e.person_key) AS opened_period
    FROM ledger.case_events e
) t
WHERE t.rn = 1
