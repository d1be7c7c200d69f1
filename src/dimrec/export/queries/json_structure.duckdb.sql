-- json_structure: one row, one value: the merged JSON structure of every well-formed line of
-- the newline-delimited JSON files $files (which fields occur, nested). The exporter reads it
-- only when a day's rows look like a needed column is absent, to name that column.
SELECT json_group_structure(json) AS structure
FROM read_json_objects($files, format = 'newline_delimited', ignore_errors = true);
