-- flat_interactions: what each row of a flat event log (in source_rows) says.
--
-- Returns, into the temporary table interactions, one row per event or rejected row of the
-- log and one per day and name of ignored events, with how many there were: day (NULL when
-- unknown), outcome ('event' | 'rejected' | 'ignored'), reason (NULL for an event), user,
-- item, action, ts, weight (the weight column, NULL when there is none: weight 1), row_count
-- (1, or the size of an ignored group). The action of a row is
--   * by name ($use_thresholds false): $actions[i] where $event_names[i] is the row's event;
--   * by value ($use_thresholds true): the event column read as a number, the highest action
--     whose threshold it reaches ($purchase_min, $basket_min, $browse_min; NULL: none).
-- A row with no action is ignored (counted by event); a malformed line, an unreadable
-- timestamp, a row without a day, a weight that is not a positive number, a null or empty
-- user or item, an item id that breaks the item-id rule are rejected (by reason: malformed,
-- bad_ts, no_date, bad_weight, null_user, null_item, bad_item_id).
--
-- Parameters: $event_names, $actions (lists of VARCHAR of one length), $use_thresholds,
--             $purchase_min, $basket_min, $browse_min (DOUBLE or NULL),
--             $item_id_pattern (the item-id rule, dimrec.items.ITEM_ID_PATTERN, RE2)
CREATE OR REPLACE TEMP TABLE interactions AS
WITH mapped AS (
    SELECT
        *,
        CASE
            WHEN NOT $use_thresholds THEN $actions[list_position($event_names, event)]
            WHEN try_cast(event AS DOUBLE) >= $purchase_min THEN 'purchase'
            WHEN try_cast(event AS DOUBLE) >= $basket_min THEN 'basket'
            WHEN try_cast(event AS DOUBLE) >= $browse_min THEN 'browse'
        END AS action
    FROM source_rows
),
classified AS (
    SELECT
        day,
        CASE
            WHEN malformed OR bad_ts OR day IS NULL THEN 'rejected'
            WHEN action IS NOT NULL AND bad_weight THEN 'rejected'
            WHEN action IS NULL THEN 'ignored'
            WHEN nullif(user, '') IS NULL OR nullif(item, '') IS NULL THEN 'rejected'
            WHEN NOT regexp_matches(item, $item_id_pattern) THEN 'rejected'
            ELSE 'event'
        END AS outcome,
        CASE
            WHEN malformed THEN 'malformed'
            WHEN bad_ts THEN 'bad_ts'
            WHEN day IS NULL THEN 'no_date'
            WHEN action IS NULL THEN 'event ' || coalesce(event, 'null')
            WHEN bad_weight THEN 'bad_weight'
            WHEN nullif(user, '') IS NULL THEN 'null_user'
            WHEN nullif(item, '') IS NULL THEN 'null_item'
            WHEN NOT regexp_matches(item, $item_id_pattern) THEN 'bad_item_id'
        END AS reason,
        user, item, action, ts, weight
    FROM mapped
)
SELECT day, outcome, reason, user, item, action, ts, weight, 1 AS row_count
FROM classified
WHERE outcome <> 'ignored'
UNION ALL
SELECT day, outcome, reason, NULL, NULL, NULL, NULL, NULL, count(*)
FROM classified
WHERE outcome = 'ignored'
GROUP BY ALL;
