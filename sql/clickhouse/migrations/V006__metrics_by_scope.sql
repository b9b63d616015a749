-- Finished numbers per scope for the trends and the overview's counts, so a request
-- sums a few thousand rows instead of merging uniqExact states (bench/api.py: merging
-- 2,160 hourly states was most of a 90-day trend's time).
-- * One row per tenant, scope, unit and bucket: scenario_id '' is all the tenant's
--   scenarios (its users are the union of the scenarios', not their sum); unit 'hour' or
--   'day' (a UTC day's users are the union of its hours').
-- * Derived from metrics_hourly one UTC day at a time (sql/clickhouse/rollups/
--   metrics_by_scope.sql) and swapped in with REPLACE PARTITION like the other rollups:
--   each key is written once, so plain MergeTree and plain UInt64 counts are exact.
-- * Kept as long as metrics_hourly (13 months).

CREATE TABLE IF NOT EXISTS metrics_by_scope
(
    tenant_id    LowCardinality(String),
    scenario_id  LowCardinality(String),
    unit         LowCardinality(String),
    bucket       DateTime('UTC'),
    impressions  UInt64,
    clicks       UInt64,
    orders       UInt64,
    active_users UInt64
)
ENGINE = MergeTree
PARTITION BY toDate(bucket)
ORDER BY (tenant_id, scenario_id, unit, bucket)
TTL toDate(bucket) + INTERVAL 13 MONTH
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS metrics_by_scope__rebuild AS metrics_by_scope;
