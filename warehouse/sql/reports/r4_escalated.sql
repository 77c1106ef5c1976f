-- reports/r4_escalated: R4, cases escalated at the cut-off, with the date of the escalation that put them in
-- that state (the latest) and whether they are new on the list (is_new: not escalated a month before).
-- Bind parameters: period.
-- Part before (query): the ledger state of every case at the previous month's end.
-- Part cases (query): the ledger state of every case at the month's end.
WITH esc AS (
    SELECT person_key, max(event_date) AS escalated_on FROM ledger.case_events
    WHERE event_type = 'escalate' AND created_for_period <= :period GROUP BY person_key
),
prev AS (SELECT person_key, state FROM ({before}) b)
SELECT s.*, e.escalated_on,
       CASE WHEN b.state IS NULL OR b.state <> 'escalated' THEN 1 ELSE 0 END AS is_new
FROM ({cases}) s
JOIN esc e ON e.person_key = s.person_key
LEFT JOIN prev b ON b.person_key = s.person_key
WHERE s.state = 'escalated'
