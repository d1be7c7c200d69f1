-- ga4_interactions: what the GA4 events in source_rows say about products.
--
-- Returns, into the temporary table interactions, one row per
--   * items[] entry of a view_item (→ browse), add_to_cart (→ basket) or purchase
--     (→ purchase) event: an event, or a rejected row (null_user, null_item, bad_item_id:
--     the id, once folded, breaks the item-id rule $item_id_pattern);
--   * such an event with no items (rejected: no_items);
--   * malformed line (rejected: malformed);
-- and one row per day and name of the other events, with how many there were ('event NAME').
-- Columns: day (NULL when unknown), outcome ('event' | 'rejected' | 'ignored'), reason (NULL
-- for an event), user, item, action, ts, row_count (1, or the size of an ignored group).
-- user = user_pseudo_id; item = items.item_id with variants folded by $sku_regex;
-- ts = event_timestamp (µs).
--
-- Parameters: $sku_regex        an item_id matching it is replaced by its first group; NULL
--                               keeps it
--             $item_id_pattern  the item-id rule (dimrec.items.ITEM_ID_PATTERN, RE2)
CREATE OR REPLACE TEMP TABLE interactions AS
WITH events AS (
    SELECT
        day,
        user_pseudo_id AS user,
        try(make_timestamp(event_timestamp)) AS ts,
        event_name,
        CASE event_name
            WHEN 'view_item' THEN 'browse'
            WHEN 'add_to_cart' THEN 'basket'
            WHEN 'purchase' THEN 'purchase'
        END AS action,
        items
    FROM source_rows
    WHERE NOT malformed
),
candidates AS (
    SELECT
        events.day, events.user, events.ts, events.action,
        CASE
            WHEN $sku_regex IS NOT NULL AND regexp_matches(i.item_id, $sku_regex)
                THEN regexp_extract(i.item_id, $sku_regex, 1)
            ELSE i.item_id
        END AS item,
        NULL AS problem
    FROM events, unnest(events.items) AS u(i)
    WHERE events.action IS NOT NULL
    UNION ALL
    SELECT day, user, ts, action, NULL, 'no_items'
    FROM events
    WHERE action IS NOT NULL AND coalesce(len(items), 0) = 0
    UNION ALL
    SELECT day, NULL, NULL, NULL, NULL, 'malformed'
    FROM source_rows
    WHERE malformed
),
classified AS (
    SELECT
        day,
        CASE
            WHEN problem IS NOT NULL OR day IS NULL THEN 'rejected'
            WHEN nullif(user, '') IS NULL OR nullif(item, '') IS NULL THEN 'rejected'
            WHEN NOT regexp_matches(item, $item_id_pattern) THEN 'rejected'
            ELSE 'event'
        END AS outcome,
        CASE
            WHEN problem IS NOT NULL THEN problem
            WHEN day IS NULL THEN 'no_date'
            WHEN nullif(user, '') IS NULL THEN 'null_user'
            WHEN nullif(item, '') IS NULL THEN 'null_item'
            WHEN NOT regexp_matches(item, $item_id_pattern) THEN 'bad_item_id'
        END AS reason,
        user, item, action, ts
    FROM candidates
)
SELECT day, outcome, reason, user, item, action, ts::TIMESTAMPTZ AS ts, 1 AS row_count
FROM classified
UNION ALL
SELECT
    day, 'ignored', 'event ' || coalesce(event_name, 'null'), NULL, NULL, NULL, NULL, count(*)
FROM events
WHERE action IS NULL
GROUP BY ALL;
