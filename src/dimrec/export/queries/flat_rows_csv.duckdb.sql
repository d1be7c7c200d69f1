-- flat_rows from CSV: the columns of a flat event log the export reads, as text.
--
-- Returns, into the temporary table flat_rows, one row per well-formed line: malformed
-- (always false), user, item, event, ts, date, weight (NULL for an unconfigured optional
-- column).
-- Delimiter, quoting and header are detected by DuckDB; gzip is read as is. Lines that do not
-- parse (wrong number of fields, broken quoting, not UTF-8) land in the table
-- rejected_lines, which the exporter counts as malformed.
--
-- Placeholders: {{user}}, {{item}}, {{event}}, {{ts}}, {{date}}, {{weight}} — column names
--               from export.flat, checked and quoted (NULL for ts, date or weight when not
--               configured)
-- Parameters:   $files  list of file paths or URLs
CREATE OR REPLACE TEMP TABLE flat_rows AS
SELECT
    false AS malformed,
    {{user}}::VARCHAR AS user,
    {{item}}::VARCHAR AS item,
    {{event}}::VARCHAR AS event,
    {{ts}}::VARCHAR AS ts,
    {{date}}::VARCHAR AS date,
    {{weight}}::VARCHAR AS weight
FROM read_csv(
    $files,
    all_varchar = true,
    store_rejects = true, rejects_table = 'rejected_lines', rejects_scan = 'rejected_scans'
);
