-- Rebuild one UTC day of user_funnel_hourly from raw behaviors and swap it in atomically.
-- Every event joins the groups of its own hour and of the hour before (a funnel starting
-- in the hour before can reach it within 1 h); in each (user, start hour) group only the
-- impressions of the start hour may begin a funnel, so windowFunnel's level is the best
-- funnel starting in that hour.
TRUNCATE TABLE user_funnel_hourly__rebuild;

INSERT INTO user_funnel_hourly__rebuild
SELECT
    tenant_id,
    scenario_id,
    start_hour                   AS hour,
    step,
    uniqExactState(user_id)      AS users
FROM
(
    SELECT
        tenant_id,
        scenario_id,
        user_id,
        start_hour,
        windowFunnel(3600000, 'strict_increase')(
            toUInt64(toUnixTimestamp64Milli(timestamp)),
            action_type = 'impression' AND toStartOfHour(timestamp) = start_hour,
            action_type = 'click',
            action_type = 'view',
            action_type = 'add_cart',
            action_type = 'order'
        ) AS level
    FROM user_behaviors FINAL
    ARRAY JOIN [toStartOfHour(timestamp), toStartOfHour(timestamp) - INTERVAL 1 HOUR] AS start_hour
    WHERE date IN ({day:Date}, {day:Date} + 1)
      AND timestamp < toDateTime64({day:Date} + 1, 3, 'UTC') + INTERVAL 1 HOUR
      AND toDate(start_hour) = {day:Date}
    GROUP BY tenant_id, scenario_id, user_id, start_hour
    HAVING level > 0
)
ARRAY JOIN range(1, level + 1) AS step
GROUP BY tenant_id, scenario_id, hour, step;

-- A day without funnels (the day before the first loaded hour, rebuilt for its last hour)
-- is empty: replacing with an empty source is what this rebuild means.
ALTER TABLE user_funnel_hourly REPLACE PARTITION {day:Date} FROM user_funnel_hourly__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE user_funnel_hourly__rebuild;
