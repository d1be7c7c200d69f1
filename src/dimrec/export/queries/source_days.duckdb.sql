-- source_days: the days that the temporary table source_rows holds rows for (it is loaded by
-- one of the ga360_sessions_*, ga4_events_* or flat_rows_* readers).
--
-- Returns day (NULL for rows whose day is unknown), row_count (well-formed rows) and
-- malformed (malformed lines) per day.
SELECT
    day,
    count(*) FILTER (WHERE NOT malformed) AS row_count,
    count(*) FILTER (WHERE malformed) AS malformed
FROM source_rows
GROUP BY day
ORDER BY day;
