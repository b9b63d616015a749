-- Exact exposed, clicking and ordering users of an experiment group over any range of
-- UTC days, without merging a uniqExact state per day and group: one row per tenant,
-- scenario, experiment, group, month and user with a bit per day of the month (bit d-1 =
-- day d), as user_activity_monthly (V007) does for the overview's users. Counts stay in
-- experiment_metrics.
-- * Rebuilt per UTC day (sql/clickhouse/rollups/experiment_users_monthly.sql): the month's
--   rows with that day's bit cleared, ORed with the day recomputed from raw, swapped in
--   with REPLACE PARTITION; its asset shares user_activity_monthly's pool of one.

CREATE TABLE IF NOT EXISTS experiment_users_monthly
(
    tenant_id        LowCardinality(String),
    scenario_id      LowCardinality(String),
    experiment_id    LowCardinality(String),
    experiment_group LowCardinality(String),
    month            Date,
    user_id          String,
    exposed_days     UInt32,
    clicking_days    UInt32,
    ordering_days    UInt32
)
ENGINE = MergeTree
PARTITION BY month
ORDER BY (tenant_id, scenario_id, experiment_id, experiment_group, month, user_id)
TTL month + INTERVAL 14 MONTH
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS experiment_users_monthly__rebuild AS experiment_users_monthly;
