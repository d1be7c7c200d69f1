-- day_outcome_counts: how many rows of the temporary table interactions were rejected or
-- ignored, and why, on one day ($day) or, with $day NULL, on no known day.
--
-- Returns outcome ('rejected' | 'ignored'), reason, row_count.
--
-- Parameters: $day  the day (DATE), or NULL for rows whose day is unknown
SELECT outcome, reason, sum(row_count) AS row_count
FROM interactions
WHERE outcome <> 'event' AND day IS NOT DISTINCT FROM $day::DATE
GROUP BY outcome, reason
ORDER BY outcome, reason;
