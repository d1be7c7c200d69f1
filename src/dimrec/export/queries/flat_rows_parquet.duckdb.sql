-- flat_rows from Parquet: the columns of a flat event log the export reads, as text.
--
-- Returns, into the temporary table flat_rows, one row per row of the files: malformed
-- (always false), user, item, event, ts, date, weight (NULL for an unconfigured optional
-- column).
-- Typed columns become text here (a TIMESTAMP as 'YYYY-MM-DD HH:MM:SS', a number as its
-- digits) and are read back by flat_source_rows.duckdb.sql.
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
FROM read_parquet($files, union_by_name = true);
