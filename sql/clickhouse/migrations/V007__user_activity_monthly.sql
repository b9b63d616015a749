-- Exact distinct users of any range of whole UTC days, without merging a uniqExact state
-- per hour or day: one row per tenant, scope, month and user with a bit per day of the
-- month (bit d-1 = day d). A range's users are the users with a bit inside it: at most
-- (users x months) rows read, however many days (bench/api.py: 90 days of hourly states
-- were 720-2,160 merged states per answer). The API adds the partial edge hours of a range
-- from the hourly states (metrics_hourly, user_funnel_hourly).
-- * scenario_id '' is all the tenant's scenarios (the OR of the scenarios' bits).
-- * active_days: any event that day. <step>_days: the user's best funnel starting with an
--   impression that day reaches the step within 1 h (windowFunnel, strictly increasing
--   times, one scenario), as user_funnel_hourly per hour: the union of a day's hours.
-- * Rebuilt per UTC day (sql/clickhouse/rollups/user_activity_monthly.sql): the month's
--   rows with that day's bit cleared, ORed with the day recomputed from raw, swapped in
--   with REPLACE PARTITION. Days older than the raw retention keep their bits. The read-
--   modify-write of a month is why its asset runs in a pool of one.

CREATE TABLE IF NOT EXISTS user_activity_monthly
(
    tenant_id      LowCardinality(String),
    scenario_id    LowCardinality(String),
    month          Date,
    user_id        String,
    active_days    UInt32,
    impression_days UInt32,
    click_days     UInt32,
    view_days      UInt32,
    add_cart_days  UInt32,
    order_days     UInt32
)
ENGINE = MergeTree
PARTITION BY month
ORDER BY (tenant_id, scenario_id, month, user_id)
TTL month + INTERVAL 14 MONTH
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS user_activity_monthly__rebuild AS user_activity_monthly;
