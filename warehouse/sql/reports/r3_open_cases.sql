-- R3: every case open at the month's end (cases: the ledger state of every case then).
SELECT * FROM ({cases}) s WHERE s.state <> 'closed'
