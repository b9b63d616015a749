-- Rebuild one UTC day of item_stats_daily from raw behaviors and swap it in atomically.
TRUNCATE TABLE item_stats_daily__rebuild;

INSERT INTO item_stats_daily__rebuild
SELECT
    tenant_id,
    scenario_id,
    date,
    item_id,
    countIf(action_type = 'impression')                AS impressions,
    countIf(action_type = 'click')                     AS clicks,
    countIf(action_type = 'view')                      AS views,
    countIf(action_type = 'order')                     AS orders,
    sumIf(toUInt64(watch_duration), action_type = 'view') AS watch_seconds,
    avgStateIf(completion_rate, action_type = 'view')  AS completion_avg,
    uniqStateIf(user_id, action_type = 'view')         AS viewers
FROM user_behaviors FINAL
WHERE date = {day:Date}
GROUP BY tenant_id, scenario_id, date, item_id;

-- A day without events (every hour of it reloaded empty) is an empty day: a ClickHouse
-- server refuses to replace from an empty source unless told that this is meant.
ALTER TABLE item_stats_daily REPLACE PARTITION {day:Date} FROM item_stats_daily__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE item_stats_daily__rebuild;
