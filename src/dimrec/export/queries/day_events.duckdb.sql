-- day_events: the events of one day, as written to events/date=YYYY-MM-DD/.
--
-- Returns user, item, action, ts (and weight, for the sources that have one: flat logs with
-- a weight column) for every row of the temporary table interactions whose outcome is
-- 'event' on $day, ordered by user, ts, item, action (a stable file for a day).
--
-- Parameters: $day  the day (DATE)
SELECT COLUMNS(lambda c: c IN ('user', 'item', 'action', 'ts', 'weight'))
FROM interactions
WHERE outcome = 'event' AND day = $day::DATE
ORDER BY user, ts, item, action;
