-- flat_column_counts: how many well-formed rows of flat_rows have a value in each column (a
-- configured column with no value in any row of an NDJSON log is taken as absent).
--
-- Returns one row: wellformed, user, item, event, ts, date, weight.
SELECT
    count(*) FILTER (WHERE NOT malformed) AS wellformed,
    count(user) AS user,
    count(item) AS item,
    count(event) AS event,
    count(ts) AS ts,
    count(date) AS date,
    count(weight) AS weight
FROM flat_rows;
