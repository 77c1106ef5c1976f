-- ledger/derived_periods: the periods before period whose events the ledger already holds.
-- Bind parameters: period.
SELECT period FROM ledger.periods WHERE period < :period
UNION SELECT DISTINCT created_for_period FROM ledger.case_events WHERE created_for_period < :period
