-- ga4_interactions (BigQuery): what one day's GA4 export table says about products.
--
-- Returns one row per
--   * items[] entry of a view_item (→ browse), add_to_cart (→ basket) or purchase
--     (→ purchase) event: an event, or a rejected row (null_user, null_item, bad_item_id:
--     the id breaks the item-id rule @item_id_pattern);
--   * such an event with no items (rejected: no_items);
-- and one row per name of the other events, with how many there were ('event NAME').
-- Columns: outcome ('event' | 'rejected' | 'ignored'), reason (NULL for an event), user,
-- item, action, ts, row_count (1, or the size of an ignored group). user = user_pseudo_id;
-- item = items.item_id with variants folded by @sku_regex; ts = event_timestamp (µs).
--
-- Placeholder: {{tables}}  `project.dataset.events_*`, checked before it is put here
-- Parameters:  @day        STRING, the table suffix YYYYMMDD
--              @sku_regex  STRING; an item_id matching it is replaced by its first group;
--                          NULL keeps item ids as they are
--              @item_id_pattern  STRING, the item-id rule (dimrec.items.ITEM_ID_PATTERN)
WITH events AS (
    SELECT
        e.user_pseudo_id AS user,
        TIMESTAMP_MICROS(e.event_timestamp) AS ts,
        e.event_name,
        CASE e.event_name
            WHEN 'view_item' THEN 'browse'
            WHEN 'add_to_cart' THEN 'basket'
            WHEN 'purchase' THEN 'purchase'
        END AS action,
        e.items
    FROM {{tables}} AS e
    WHERE _TABLE_SUFFIX = @day
),
candidates AS (
    SELECT
        user, ts, action,
        COALESCE(REGEXP_EXTRACT(i.item_id, @sku_regex), i.item_id) AS item,
        CAST(NULL AS STRING) AS problem
    FROM events, UNNEST(events.items) AS i
    WHERE action IS NOT NULL
    UNION ALL
    SELECT user, ts, action, CAST(NULL AS STRING), 'no_items'
    FROM events
    WHERE action IS NOT NULL AND ARRAY_LENGTH(items) = 0
)
SELECT
    CASE
        WHEN problem IS NOT NULL THEN 'rejected'
        WHEN NULLIF(user, '') IS NULL OR NULLIF(item, '') IS NULL THEN 'rejected'
        WHEN NOT REGEXP_CONTAINS(item, @item_id_pattern) THEN 'rejected'
        ELSE 'event'
    END AS outcome,
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN NULLIF(user, '') IS NULL THEN 'null_user'
        WHEN NULLIF(item, '') IS NULL THEN 'null_item'
        WHEN NOT REGEXP_CONTAINS(item, @item_id_pattern) THEN 'bad_item_id'
    END AS reason,
    user,
    item,
    action,
    ts,
    1 AS row_count
FROM candidates
UNION ALL
SELECT
    'ignored', CONCAT('event ', IFNULL(event_name, 'null')), CAST(NULL AS STRING),
    CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS TIMESTAMP), COUNT(*)
FROM events
WHERE action IS NULL
GROUP BY event_name
