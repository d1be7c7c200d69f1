-- parquet_schema: no rows; its columns are the union of the columns of the Parquet files
-- $files, nested types included (the exporter checks the needed columns against it).
SELECT * FROM read_parquet($files, union_by_name = true) LIMIT 0;
