-- ga360_sessions from newline-delimited JSON, line by line (counts malformed lines).
--
-- Returns, into the temporary table source_rows, one row per non-blank line: the same
-- columns as ga360_sessions_ndjson.duckdb.sql, with malformed = true (and NULL fields) for a
-- line that is not a JSON object. Lines that are not even UTF-8 text, or longer than
-- 32 MiB, land in the table rejected_lines, which the exporter counts as malformed too.
-- Slower than the fast path; used only when that one fails.
--
-- Parameters: $files      list of file paths or URLs
--             $file_days  the day of each file's daily table (same order), or NULL to
--                         take each row's `date`
CREATE OR REPLACE TEMP TABLE source_rows AS
WITH lines AS (
    SELECT line, list_extract($file_days::DATE[], list_position($files, source_file)) AS table_day
    FROM read_csv(
        $files,
        columns = {'line': 'VARCHAR'},
        header = false, delim = '\0', quote = '', escape = '', new_line = '\n',
        auto_detect = false, strict_mode = false,
        max_line_size = 33554432, buffer_size = 67108864,
        filename = 'source_file',
        store_rejects = true, rejects_table = 'rejected_lines', rejects_scan = 'rejected_scans'
    )
    WHERE trim(line) <> ''
),
parsed AS (
    SELECT
        table_day,
        try(json_transform(line, '{
            "fullVisitorId": "VARCHAR",
            "visitStartTime": "BIGINT",
            "date": "VARCHAR",
            "hits": [{
                "time": "BIGINT",
                "eCommerceAction": {"action_type": "VARCHAR"},
                "product": [{"productSKU": "VARCHAR", "isImpression": "BOOLEAN"}]
            }]
        }')) AS s,
        regexp_matches(line, '^\s*\{') AS is_object
    FROM lines
)
SELECT
    CASE
        WHEN s IS NULL OR NOT is_object THEN table_day
        ELSE coalesce(table_day, try_strptime(s.date, '%Y%m%d')::DATE)
    END AS day,
    s IS NULL OR NOT is_object AS malformed,
    s.fullVisitorId AS fullVisitorId,
    s.visitStartTime AS visitStartTime,
    s.hits AS hits
FROM parsed;
