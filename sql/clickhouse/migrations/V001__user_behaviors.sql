-- Raw recommendation behaviors, one row per event.
-- * ReplacingMergeTree on the sorting key (which ends in event_id): at-least-once deliveries
--   of the same event collapse; readers that must be exact use FINAL.
-- * `date` is MATERIALIZED from the UTC timestamp, so it can never disagree with it.
-- * Flat LowCardinality context columns instead of Nested (which created arrays), and
--   LowCardinality(String) action_type instead of Enum8 (which rejected whole batches):
--   action names are validated at ingestion.
-- * Day partitions + ttl_only_drop_parts: retention drops whole parts, never rewrites them.
-- * non_replicated_deduplication_window: a retried insert with the same
--   insert_deduplication_token is ignored.
CREATE TABLE IF NOT EXISTS user_behaviors
(
    event_id         UUID,
    tenant_id        LowCardinality(String),
    scenario_id      LowCardinality(String),
    user_id          String,
    item_id          String,
    action_type      LowCardinality(String),
    timestamp        DateTime64(3, 'UTC'),
    date             Date MATERIALIZED toDate(timestamp),
    device_type      LowCardinality(String),
    os               LowCardinality(String),
    location         LowCardinality(String),
    ip               IPv6,
    watch_duration   UInt32,
    completion_rate  Float32,
    experiment_id    LowCardinality(String),
    experiment_group LowCardinality(String),
    received_at      DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY date
ORDER BY (tenant_id, scenario_id, date, user_id, timestamp, event_id)
TTL date + INTERVAL 90 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;
