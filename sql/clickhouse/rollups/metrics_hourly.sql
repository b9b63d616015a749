-- Rebuild one UTC day of metrics_hourly from raw behaviors and swap it in atomically.
TRUNCATE TABLE metrics_hourly__rebuild;

INSERT INTO metrics_hourly__rebuild
SELECT
    tenant_id,
    scenario_id,
    toStartOfHour(timestamp)             AS hour,
    countIf(action_type = 'impression')  AS impressions,
    countIf(action_type = 'click')       AS clicks,
    countIf(action_type = 'view')        AS views,
    countIf(action_type = 'add_cart')    AS add_carts,
    countIf(action_type = 'order')       AS orders,
    uniqExactState(user_id)              AS active_users,
    uniqState(item_id)                   AS active_items
FROM user_behaviors FINAL
WHERE date = {day:Date}
GROUP BY tenant_id, scenario_id, hour;

-- A day without events (every hour of it reloaded empty) is an empty day: a ClickHouse
-- server refuses to replace from an empty source unless told that this is meant.
ALTER TABLE metrics_hourly REPLACE PARTITION {day:Date} FROM metrics_hourly__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE metrics_hourly__rebuild;
