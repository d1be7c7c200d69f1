-- flat_source_rows: the rows of flat_rows with their time and day read.
--
-- Returns, into the temporary table source_rows, one row per row of flat_rows: day, malformed,
-- user, item, event, ts, bad_ts, weight, bad_weight.
--   ts   from the text: a number counts $ts_unit ('s', 'ms', 'us'; 'auto' goes by size:
--        below 1e11 seconds, below 1e14 milliseconds, else microseconds); anything else is
--        read as an ISO timestamp (UTC unless it says otherwise).
--   day  the date column (YYYY-MM-DD or YYYYMMDD) when $has_date, else the UTC day of ts;
--        NULL when it cannot be read.
--   bad_ts  a timestamp was given but could not be read (the row is rejected).
--   weight  the weight column read as a number (NULL when not configured: weight 1);
--   bad_weight  a weight was given but is not a positive finite number (the row is rejected:
--           a quantity of 0 or below, e.g. a return line, or text).
--
-- Parameters: $ts_unit ('auto' | 's' | 'ms' | 'us'), $has_date (BOOLEAN)
CREATE OR REPLACE TEMP TABLE source_rows AS
WITH texts AS (
    SELECT
        malformed, user, item, event,
        nullif(trim(ts), '') AS ts_text,
        nullif(trim(date), '') AS date_text,
        nullif(trim(weight), '') AS weight_text
    FROM flat_rows
),
numbers AS (
    SELECT
        *,
        try_cast(ts_text AS DOUBLE) AS ts_number,
        try_cast(weight_text AS DOUBLE) AS weight_number
    FROM texts
),
timed AS (
    SELECT
        *,
        CASE
            WHEN ts_number IS NOT NULL THEN try(make_timestamp(CAST(round(ts_number * CASE
                WHEN $ts_unit = 's' THEN 1e6
                WHEN $ts_unit = 'ms' THEN 1e3
                WHEN $ts_unit = 'us' THEN 1
                WHEN abs(ts_number) < 1e11 THEN 1e6
                WHEN abs(ts_number) < 1e14 THEN 1e3
                ELSE 1
            END) AS BIGINT)))::TIMESTAMPTZ
            ELSE try_cast(ts_text AS TIMESTAMPTZ)
        END AS ts
    FROM numbers
)
SELECT
    CASE
        WHEN malformed THEN NULL
        WHEN $has_date THEN coalesce(
            try_cast(date_text AS DATE), try_strptime(date_text, '%Y%m%d')::DATE
        )
        ELSE ts::DATE
    END AS day,
    malformed,
    user,
    item,
    event,
    ts,
    ts_text IS NOT NULL AND ts IS NULL AS bad_ts,
    weight_number AS weight,
    weight_text IS NOT NULL
        AND (weight_number IS NULL OR NOT isfinite(weight_number) OR weight_number <= 0)
        AS bad_weight
FROM timed;
