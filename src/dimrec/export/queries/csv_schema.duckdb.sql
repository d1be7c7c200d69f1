-- csv_schema: no rows; its columns are those DuckDB finds in the header of the CSV files
-- $files (the exporter checks the configured columns against them). Lines that do not fit
-- are passed over here, as the reader itself does (it counts them), so that one broken line
-- does not make the whole file look like a single column.
SELECT * FROM read_csv($files, all_varchar = true, ignore_errors = true) LIMIT 0;
