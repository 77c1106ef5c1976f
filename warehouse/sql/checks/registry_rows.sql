-- checks/registry_rows: how many current registry records there are (DQ10: none is a blocking problem).
SELECT count(*) FROM staged.registry_current
