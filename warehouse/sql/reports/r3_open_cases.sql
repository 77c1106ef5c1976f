-- reports/r3_open_cases: R3, every case open at the month's end.
-- Bind parameters: period.
-- Part cases (query): the ledger state of every case then (assets.ledger.state_as_of_sql).
SELECT * FROM ({cases}) s WHERE s.state <> 'closed'
