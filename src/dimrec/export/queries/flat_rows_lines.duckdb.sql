-- flat_rows from newline-delimited JSON, line by line (counts malformed lines).
--
-- Returns, into the temporary table flat_rows, one row per non-blank line: malformed (the line
-- is not a JSON object), user, item, event, ts, date, weight as text (a JSON number as its
-- digits; NULL when the field is absent or the column is not configured). Lines that are not even
-- UTF-8 text, or longer than 32 MiB, land in the table rejected_lines, which the exporter
-- counts as malformed too.
--
-- Parameters: $files  list of file paths or URLs
--             $user, $item, $event, $ts, $date, $weight  JSON paths of the configured
--             fields ('$."visitorid"'), NULL for ts, date or weight when not configured
CREATE OR REPLACE TEMP TABLE flat_rows AS
WITH lines AS (
    SELECT line
    FROM read_csv(
        $files,
        columns = {'line': 'VARCHAR'},
        header = false, delim = '\0', quote = '', escape = '', new_line = '\n',
        auto_detect = false, strict_mode = false,
        max_line_size = 33554432, buffer_size = 67108864,
        store_rejects = true, rejects_table = 'rejected_lines', rejects_scan = 'rejected_scans'
    )
    WHERE trim(line) <> ''
),
checked AS (
    SELECT line, json_valid(line) AND regexp_matches(line, '^\s*\{') AS ok
    FROM lines
)
SELECT
    NOT ok AS malformed,
    CASE WHEN ok THEN json_extract_string(line, $user) END AS user,
    CASE WHEN ok THEN json_extract_string(line, $item) END AS item,
    CASE WHEN ok THEN json_extract_string(line, $event) END AS event,
    CASE WHEN ok AND $ts IS NOT NULL THEN json_extract_string(line, $ts) END AS ts,
    CASE WHEN ok AND $date IS NOT NULL THEN json_extract_string(line, $date) END AS date,
    CASE WHEN ok AND $weight IS NOT NULL THEN json_extract_string(line, $weight) END AS weight
FROM checked;
