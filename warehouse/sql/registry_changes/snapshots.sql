-- registry_changes/snapshots -> _r8_snap: every applied registry snapshot (scope, date, file) up to the cut-off:
-- all files of a date, a re-sent file superseding the earlier one of the same delivery name (as in warehouse.views).
-- Bind parameters: cutoff, no_scope (warehouse.views.NO_SCOPE, the scope of a file without any school code).
-- Part applied_snapshots (query): warehouse.views._candidates_sql of the applied and confirmed snapshots up to cutoff.
CREATE TEMP TABLE _r8_snap AS WITH c AS ({applied_snapshots})
    SELECT c.scope_code, c.snapshot_date, c.file_sha FROM c
    WHERE c.scope_code <> :no_scope AND NOT EXISTS (
        SELECT 1 FROM c c2 WHERE c2.scope_code = c.scope_code AND c2.snapshot_date = c.snapshot_date
        AND c2.delivery_key = c.delivery_key
        AND (c2.ingested_at > c.ingested_at OR (c2.ingested_at = c.ingested_at AND c2.file_sha > c.file_sha)))
