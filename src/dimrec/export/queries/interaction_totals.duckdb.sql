-- interaction_totals: per day of the temporary table interactions, how many rows are events
-- and how many of those have a time. Returns day, events, timed.
SELECT
    day,
    count(*) FILTER (WHERE outcome = 'event') AS events,
    count(ts) FILTER (WHERE outcome = 'event') AS timed
FROM interactions
GROUP BY day;
