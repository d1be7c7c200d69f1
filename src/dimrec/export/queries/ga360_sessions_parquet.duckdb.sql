-- ga360_sessions from Parquet files (a ga_sessions table exported as Parquet).
--
-- Returns, into the temporary table source_rows, one row per GA360 session with only the
-- fields the export reads: day, malformed (always false), fullVisitorId, visitStartTime and
-- hits (time, eCommerceAction.action_type, product: productSKU, isImpression). The exporter
-- has checked beforehand that the files hold every one of these columns.
--
-- Parameters: $files      list of file paths or URLs
--             $file_days  the day of each file's daily table (same order), or NULL to
--                         take each row's `date`
CREATE OR REPLACE TEMP TABLE source_rows AS
WITH sessions AS (
    SELECT
        *,
        list_extract($file_days::DATE[], list_position($files, source_file)) AS table_day
    FROM read_parquet($files, union_by_name = true, filename = 'source_file')
)
SELECT
    coalesce(table_day, try_strptime(date::VARCHAR, '%Y%m%d')::DATE) AS day,
    false AS malformed,
    fullVisitorId::VARCHAR AS fullVisitorId,
    visitStartTime::BIGINT AS visitStartTime,
    list_transform(hits, lambda h: {
        'time': h.time::BIGINT,
        'eCommerceAction': {'action_type': h.eCommerceAction.action_type::VARCHAR},
        'product': list_transform(h.product, lambda p: {
            'productSKU': p.productSKU::VARCHAR,
            'isImpression': p.isImpression::BOOLEAN
        })
    }) AS hits
FROM sessions;
