-- ledger/candidates: the persons the period's run looks at: open cases before the period, flagged children,
-- persuasion records of the period.
-- Bind parameters: period, start, end.
-- Part state_before (query): ledger/state_as_of before the period.
-- Part suspected (relation): the period's suspected dropouts (derived.suspected_dropouts or the ledger's work table).
SELECT person_key FROM ({state_before}) prior WHERE state <> 'closed'
UNION SELECT person_key FROM {suspected} WHERE period = :period
UNION SELECT id_number FROM staged.casework
    WHERE attempt_date BETWEEN :start AND :end AND id_number IS NOT NULL
