-- ga360_interactions: what the GA360 sessions in source_rows say about products.
--
-- Returns, into the temporary table interactions, one row per
--   * product of a hit whose eCommerceAction.action_type is '2' (detail view → browse),
--     '3' (add to cart → basket) or '6' (purchase → purchase), not an impression: an event,
--     or a rejected row (null_user, null_item, bad_item_id: the id, once folded, breaks the
--     item-id rule $item_id_pattern);
--   * such a hit with no product at all (rejected: no_items);
--   * malformed line (rejected: malformed);
-- and one row per day and kind of ignored product rows, with how many there were: products
-- of a hit with another action type ('action_type N', impressions included) and impressions
-- in a hit of the three action types ('impression').
-- Columns: day (NULL when unknown), outcome ('event' | 'rejected' | 'ignored'), reason (NULL
-- for an event), user, item, action, ts, row_count (1, or the size of an ignored group).
-- user = fullVisitorId; item = productSKU with variants folded by $sku_regex;
-- ts = visitStartTime (s) + hits.time (ms).
--
-- Parameters: $sku_regex        a SKU matching it is replaced by its first group; NULL keeps
--                               SKUs
--             $item_id_pattern  the item-id rule (dimrec.items.ITEM_ID_PATTERN, RE2)
CREATE OR REPLACE TEMP TABLE interactions AS
WITH hits AS (
    SELECT
        s.day,
        s.fullVisitorId AS user,
        try(make_timestamp(s.visitStartTime * 1000000 + coalesce(h.time, 0) * 1000)) AS ts,
        h.eCommerceAction.action_type AS action_type,
        CASE h.eCommerceAction.action_type
            WHEN '2' THEN 'browse'
            WHEN '3' THEN 'basket'
            WHEN '6' THEN 'purchase'
        END AS action,
        h.product AS products,
        list_filter(h.product, lambda p: NOT coalesce(p.isImpression, false)) AS viewed
    FROM source_rows AS s, unnest(s.hits) AS u(h)
    WHERE NOT s.malformed
),
candidates AS (
    SELECT
        hits.day, hits.user, hits.ts, hits.action,
        CASE
            WHEN $sku_regex IS NOT NULL AND regexp_matches(p.productSKU, $sku_regex)
                THEN regexp_extract(p.productSKU, $sku_regex, 1)
            ELSE p.productSKU
        END AS item,
        NULL AS problem
    FROM hits, unnest(hits.viewed) AS v(p)
    WHERE hits.action IS NOT NULL
    UNION ALL
    SELECT day, user, ts, action, NULL, 'no_items'
    FROM hits
    WHERE action IS NOT NULL AND coalesce(len(products), 0) = 0
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
),
ignored AS (
    SELECT day, 'action_type ' || coalesce(action_type, 'null') AS reason, len(products) AS n
    FROM hits
    WHERE action IS NULL
    UNION ALL
    SELECT day, 'impression', len(products) - len(viewed)
    FROM hits
    WHERE action IS NOT NULL
)
SELECT day, outcome, reason, user, item, action, ts::TIMESTAMPTZ AS ts, 1 AS row_count
FROM classified
UNION ALL
SELECT day, 'ignored', reason, NULL, NULL, NULL, NULL, sum(n)
FROM ignored
GROUP BY day, reason
HAVING sum(n) > 0;
