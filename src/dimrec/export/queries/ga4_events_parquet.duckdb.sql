-- ga4_events from Parquet files (an events_YYYYMMDD table exported as Parquet).
--
-- Returns, into the temporary table source_rows, one row per GA4 event with only the fields
-- the export reads: day, malformed (always false), event_name, event_timestamp (µs),
-- user_pseudo_id and items (item_id). The exporter has checked beforehand that the files hold
-- every one of these columns.
--
-- Parameters: $files      list of file paths or URLs
--             $file_days  the day of each file's daily table (same order), or NULL to
--                         take each row's `event_date`
CREATE OR REPLACE TEMP TABLE source_rows AS
WITH events AS (
    SELECT
        *,
        list_extract($file_days::DATE[], list_position($files, source_file)) AS table_day
    FROM read_parquet($files, union_by_name = true, filename = 'source_file')
)
SELECT
    coalesce(table_day, try_strptime(event_date::VARCHAR, '%Y%m%d')::DATE) AS day,
    false AS malformed,
    event_name::VARCHAR AS event_name,
    event_timestamp::BIGINT AS event_timestamp,
    user_pseudo_id::VARCHAR AS user_pseudo_id,
    list_transform(items, lambda i: {'item_id': i.item_id::VARCHAR}) AS items
FROM events;
