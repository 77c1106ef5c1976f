-- checks/registry_ids: the ID numbers of the current registry (DQ01's Great Expectations suite validates them).
SELECT id_number FROM staged.registry_current WHERE id_number IS NOT NULL
