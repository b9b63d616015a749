-- The user funnel as a rollup, so the API answers any hour range without scanning raw
-- events: per tenant, scenario, UTC hour and funnel step, the set (uniqExact state) of
-- users whose best funnel that *starts with an impression in that hour* reaches the step
-- (windowFunnel, 1 h window from the impression, strictly increasing times, one scenario).
-- A range's funnel is the union of its hours' sets: uniqExactMerge over the hours, so a
-- user counts once per step however many hours they converted in.
-- Rebuilt one UTC day at a time like the other rollups (sql/clickhouse/rollups/), from
-- the raw events of [day, day + 25 h): a funnel starting at 23:30 ends by 00:30 next day.
-- (V005: V004 is left to the ClickHouse-server migration of issue 21 part 1.)

CREATE TABLE IF NOT EXISTS user_funnel_hourly
(
    tenant_id    LowCardinality(String),
    scenario_id  LowCardinality(String),
    hour         DateTime('UTC'),
    step         UInt8,
    users        AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(hour)
ORDER BY (tenant_id, scenario_id, hour, step)
TTL toDate(hour) + INTERVAL 13 MONTH
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS user_funnel_hourly__rebuild AS user_funnel_hourly;
