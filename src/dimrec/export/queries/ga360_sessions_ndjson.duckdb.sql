-- ga360_sessions from newline-delimited JSON (the fast path).
--
-- Returns, into the temporary table source_rows, one row per GA360 session with only the
-- fields the export reads: day, malformed (always false here), fullVisitorId,
-- visitStartTime and hits (time, eCommerceAction.action_type, product: productSKU,
-- isImpression). Files are NDJSON, plain or gzip, as BigQuery exports a ga_sessions table;
-- DuckDB reads several at once.
--
-- DuckDB stops at the first line that is not a JSON object of this shape; the exporter then
-- reads the same files with ga360_sessions_lines.duckdb.sql, which counts such lines.
--
-- Parameters: $files      list of file paths or URLs
--             $file_days  the day of each file's daily table (same order), or NULL to
--                         take each row's `date`
CREATE OR REPLACE TEMP TABLE source_rows AS
WITH sessions AS (
    SELECT
        *,
        list_extract($file_days::DATE[], list_position($files, source_file)) AS table_day
    FROM read_json(
        $files,
        format = 'newline_delimited',
        maximum_object_size = 33554432,
        filename = 'source_file',
        columns = {
            'fullVisitorId': 'VARCHAR',
            'visitStartTime': 'BIGINT',
            'date': 'VARCHAR',
            'hits': 'STRUCT(
                time BIGINT,
                eCommerceAction STRUCT(action_type VARCHAR),
                product STRUCT(productSKU VARCHAR, isImpression BOOLEAN)[]
            )[]'
        }
    )
)
SELECT
    coalesce(table_day, try_strptime(date, '%Y%m%d')::DATE) AS day,
    false AS malformed,
    fullVisitorId,
    visitStartTime,
    hits
FROM sessions;
