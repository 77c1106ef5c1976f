-- ingest/id_chunks: per chunk of the pandas path (chunk_rows records of the file, title and header rows counted),
-- the kept rows' IDs of 18 digits ending in 000 and all their non-empty IDs: most of a chunk so means the ID
-- column went through an Excel number (kongchuo.readers.id_lost_to_number).
-- Bind parameters: first_row, chunk_rows.
-- Part id_cell (expression): the ID number's cell, t.c0.
SELECT
    floor((t.rowid + :first_row - 1) / :chunk_rows) AS chunk,
    count(*) FILTER (WHERE f.cut) AS cut,
    count({id_cell}) AS ids
FROM kc_csv_cells AS t
LEFT JOIN kc_id_flags AS f ON {id_cell} = f.k0
WHERE NOT EXISTS (SELECT 1 FROM kc_dropped AS d WHERE d.rid = t.rowid)
GROUP BY 1
