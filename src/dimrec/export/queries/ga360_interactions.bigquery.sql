-- ga360_interactions (BigQuery): what one day's GA360 export table says about products.
--
-- Returns one row per
--   * product of a hit whose eCommerceAction.action_type is '2' (detail view → browse),
--     '3' (add to cart → basket) or '6' (purchase → purchase), not an impression: an event,
--     or a rejected row (null_user, null_item, bad_item_id: the id breaks the item-id
--     rule @item_id_pattern);
--   * such a hit with no product at all (rejected: no_items);
-- and one row per kind of ignored product rows, with how many there were: products of a hit
-- with another action type ('action_type N', impressions included) and impressions in a hit
-- of the three action types ('impression').
-- Columns: outcome ('event' | 'rejected' | 'ignored'), reason (NULL for an event), user,
-- item, action, ts, row_count (1, or the size of an ignored group). user = fullVisitorId;
-- item = productSKU with variants folded by @sku_regex; ts = visitStartTime (s) + hits.time
-- (ms).
--
-- Placeholder: {{tables}}  `project.dataset.ga_sessions_*`, checked before it is put here
-- Parameters:  @day        STRING, the table suffix YYYYMMDD
--              @sku_regex  STRING; a SKU matching it is replaced by its first group; NULL
--                          keeps SKUs as they are
--              @item_id_pattern  STRING, the item-id rule (dimrec.items.ITEM_ID_PATTERN)
WITH hits AS (
    SELECT
        s.fullVisitorId AS user,
        TIMESTAMP_ADD(
            TIMESTAMP_SECONDS(s.visitStartTime), INTERVAL IFNULL(h.time, 0) MILLISECOND
        ) AS ts,
        h.eCommerceAction.action_type AS action_type,
        CASE h.eCommerceAction.action_type
            WHEN '2' THEN 'browse'
            WHEN '3' THEN 'basket'
            WHEN '6' THEN 'purchase'
        END AS action,
        ARRAY_LENGTH(h.product) AS products,
        ARRAY(
            SELECT AS STRUCT p.productSKU FROM UNNEST(h.product) AS p
            WHERE NOT IFNULL(p.isImpression, FALSE)
        ) AS viewed
    FROM {{tables}} AS s, UNNEST(s.hits) AS h
    WHERE _TABLE_SUFFIX = @day
),
candidates AS (
    SELECT
        user, ts, action,
        COALESCE(REGEXP_EXTRACT(p.productSKU, @sku_regex), p.productSKU) AS item,
        CAST(NULL AS STRING) AS problem
    FROM hits, UNNEST(hits.viewed) AS p
    WHERE action IS NOT NULL
    UNION ALL
    SELECT user, ts, action, CAST(NULL AS STRING), 'no_items'
    FROM hits
    WHERE action IS NOT NULL AND products = 0
),
ignored AS (
    SELECT CONCAT('action_type ', IFNULL(action_type, 'null')) AS reason, products AS n
    FROM hits
    WHERE action IS NULL
    UNION ALL
    SELECT 'impression', products - ARRAY_LENGTH(viewed)
    FROM hits
    WHERE action IS NOT NULL
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
    'ignored', reason, CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING),
    CAST(NULL AS TIMESTAMP), SUM(n)
FROM ignored
GROUP BY reason
HAVING SUM(n) > 0
