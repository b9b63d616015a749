-- Item totals for ranking any range of UTC days with fewer rows than item_stats_daily
-- (one row per tenant, scenario, day and item: 90 days were 1.2 M rows for one tenant):
-- * per scope: each scenario, and '' for all the tenant's scenarios (their sums);
-- * per unit: 'day' rows, and 'month' rows (bucket = the month's first day) that sum a
--   whole month, so a range reads its whole months' rows and only its edge days' rows.
-- Derived from item_stats_daily a whole month at a time (sql/clickhouse/rollups/
-- item_stats_by_scope.sql) and swapped in with REPLACE PARTITION: each key is written once,
-- so plain MergeTree and plain UInt64 sums are exact. Kept as long as item_stats_daily.

CREATE TABLE IF NOT EXISTS item_stats_by_scope
(
    tenant_id    LowCardinality(String),
    scenario_id  LowCardinality(String),
    unit         LowCardinality(String),
    bucket       Date,
    item_id      String,
    impressions  UInt64,
    clicks       UInt64,
    orders       UInt64
)
ENGINE = MergeTree
PARTITION BY toStartOfMonth(bucket)
ORDER BY (tenant_id, scenario_id, unit, bucket, item_id)
TTL toStartOfMonth(bucket) + INTERVAL 37 MONTH
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS item_stats_by_scope__rebuild AS item_stats_by_scope;
