-- reports/r4_detail: R4, first and last persuasion attempt up to the cut-off, per escalated child.
-- Bind parameters: period, end.
-- Part escalated (query): r4_escalated.sql.
WITH esc AS ({escalated})
SELECT e.person_key,
       min(CASE WHEN v.event_type = 'attempt' THEN v.event_date END) AS first_attempt,
       max(CASE WHEN v.event_type = 'attempt' THEN v.event_date END) AS last_attempt
FROM esc e JOIN ledger.case_events v ON v.person_key = e.person_key AND v.created_for_period <= :period
GROUP BY e.person_key
