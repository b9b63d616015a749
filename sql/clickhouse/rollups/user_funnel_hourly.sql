-- Rebuild one UTC day of user_funnel_hourly from raw behaviors and swap it in atomically.
-- Every event joins the groups of its own hour and of the hour before (a funnel starting
-- in the hour before can reach it within 1 h); in each (user, start hour) group only the
-- impressions of the start hour may begin a funnel, so windowFunnel's level is the best
-- funnel starting in that hour.
-- windowFunnel keeps the latest start of each step and reads equal timestamps in whatever
-- order they arrive: an impression read before a click of the same millisecond replaces
-- the earlier start that click continued, and the chain is lost (measured in the demo:
-- this rollup and its check, grouped differently, disagreed by one user). So the time is
-- in eighths of a millisecond, later steps first within one millisecond: a step never
-- follows a same-millisecond event (strictly later, as before) and is read before it; the
-- 1 h window is 8 × 3,600,000 of those units (a step at exactly 1 h still counts, one
-- millisecond more does not).
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
        windowFunnel(8 * 3600000, 'strict_increase')(
            toUInt64(toUnixTimestamp64Milli(timestamp) * 8 + 5 - indexOf(
                ['impression', 'click', 'view', 'add_cart', 'order'], action_type)),
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
