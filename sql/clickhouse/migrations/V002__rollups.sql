-- Rollups rebuilt from user_behaviors one UTC day at a time (sql/clickhouse/rollups/*).
-- * AggregatingMergeTree with -State columns: distinct counts and averages merge correctly
--   across parts and hours (SummingMergeTree summed uniqExact and avg values).
-- * Counters are SimpleAggregateFunction(sum, UInt64).
-- * Day partitions: a rebuild swaps one day atomically with REPLACE PARTITION from the
--   matching `__rebuild` table, so readers never see a half-written day.
-- * TTLs drop whole parts: hourly detail is kept 13 months, daily rollups 3 years,
--   well past the 90 days of raw events (late raw rows can no longer be dropped at insert
--   while a materialized view keeps them: rollups are derived from retained raw only).

CREATE TABLE IF NOT EXISTS metrics_hourly
(
    tenant_id    LowCardinality(String),
    scenario_id  LowCardinality(String),
    hour         DateTime('UTC'),
    impressions  SimpleAggregateFunction(sum, UInt64),
    clicks       SimpleAggregateFunction(sum, UInt64),
    views        SimpleAggregateFunction(sum, UInt64),
    add_carts    SimpleAggregateFunction(sum, UInt64),
    orders       SimpleAggregateFunction(sum, UInt64),
    active_users AggregateFunction(uniqExact, String),
    active_items AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(hour)
ORDER BY (tenant_id, scenario_id, hour)
TTL toDate(hour) + INTERVAL 13 MONTH
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS metrics_hourly__rebuild AS metrics_hourly;

CREATE TABLE IF NOT EXISTS item_stats_daily
(
    tenant_id      LowCardinality(String),
    scenario_id    LowCardinality(String),
    date           Date,
    item_id        String,
    impressions    SimpleAggregateFunction(sum, UInt64),
    clicks         SimpleAggregateFunction(sum, UInt64),
    views          SimpleAggregateFunction(sum, UInt64),
    orders         SimpleAggregateFunction(sum, UInt64),
    watch_seconds  SimpleAggregateFunction(sum, UInt64),
    completion_avg AggregateFunction(avg, Float32),
    viewers        AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY date
ORDER BY (tenant_id, scenario_id, date, item_id)
TTL date + INTERVAL 3 YEAR
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS item_stats_daily__rebuild AS item_stats_daily;

CREATE TABLE IF NOT EXISTS experiment_metrics
(
    tenant_id        LowCardinality(String),
    scenario_id      LowCardinality(String),
    experiment_id    LowCardinality(String),
    experiment_group LowCardinality(String),
    date             Date,
    impressions      SimpleAggregateFunction(sum, UInt64),
    clicks           SimpleAggregateFunction(sum, UInt64),
    orders           SimpleAggregateFunction(sum, UInt64),
    exposed_users    AggregateFunction(uniqExact, String),
    clicking_users   AggregateFunction(uniqExact, String),
    ordering_users   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY date
ORDER BY (tenant_id, scenario_id, experiment_id, experiment_group, date)
TTL date + INTERVAL 3 YEAR
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS experiment_metrics__rebuild AS experiment_metrics;
