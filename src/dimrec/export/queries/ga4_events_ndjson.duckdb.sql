-- ga4_events from newline-delimited JSON (the fast path).
--
-- Returns, into the temporary table source_rows, one row per GA4 event with only the fields
-- the export reads: day, malformed (always false here), event_name, event_timestamp (µs),
-- user_pseudo_id and items (item_id). Files are NDJSON, plain or gzip, as BigQuery exports an
-- events_YYYYMMDD table; DuckDB reads several at once.
--
-- DuckDB stops at the first line that is not a JSON object of this shape; the exporter then
-- reads the same files with ga4_events_lines.duckdb.sql, which counts such lines.
--
-- Parameters: $files      list of file paths or URLs
--             $file_days  the day of each file's daily table (same order), or NULL to
--                         take each row's `event_date`
CREATE OR REPLACE TEMP TABLE source_rows AS
WITH events AS (
    SELECT
        *,
        list_extract($file_days::DATE[], list_position($files, source_file)) AS table_day
    FROM read_json(
        $files,
        format = 'newline_delimited',
        maximum_object_size = 33554432,
        filename = 'source_file',
        columns = {
            'event_date': 'VARCHAR',
            'event_timestamp': 'BIGINT',
            'event_name': 'VARCHAR',
            'user_pseudo_id': 'VARCHAR',
            'items': 'STRUCT(item_id VARCHAR)[]'
        }
    )
)
SELECT
    coalesce(table_day, try_strptime(event_date, '%Y%m%d')::DATE) AS day,
    false AS malformed,
    event_name,
    event_timestamp,
    user_pseudo_id,
    items
FROM events;
