-- quarterly/data_townships: the townships a district-level table lists, every township of the districts in the data.
-- Part data_districts (query): quarterly/data_districts.
SELECT township_code, township_name FROM staged.townships
WHERE district_code IN ({data_districts})
