-- user_funnel_hourly for one UTC day next to the same funnel computed from raw events in one
-- pass (no per-hour grouping): per step, the (tenant, scenario, user) triples whose best
-- funnel starting with an impression on that day, before `before` (funnels whose hour and
-- the hour after it are closed; the next midnight for a closed day), reaches the step.
SELECT
    concat('step_', toString(step))                 AS metric,
    toUInt64(raw.users)                             AS raw_value,
    toUInt64(rollup.users)                          AS rollup_value
FROM
(
    SELECT step, countIf(level >= step) AS users
    FROM
    (
        SELECT
            windowFunnel(8 * 3600000, 'strict_increase')(
                toUInt64(toUnixTimestamp64Milli(timestamp) * 8 + 5 - indexOf(
                    ['impression', 'click', 'view', 'add_cart', 'order'], action_type)),
                action_type = 'impression' AND toDate(timestamp) = {day:Date}
                    AND timestamp < {before:DateTime64(3, 'UTC')},
                action_type = 'click',
                action_type = 'view',
                action_type = 'add_cart',
                action_type = 'order'
            ) AS level
        FROM user_behaviors FINAL
        WHERE date IN ({day:Date}, {day:Date} + 1)
          AND timestamp < toDateTime64({day:Date} + 1, 3, 'UTC') + INTERVAL 1 HOUR
        GROUP BY tenant_id, scenario_id, user_id
    )
    ARRAY JOIN [1, 2, 3, 4, 5] AS step
    GROUP BY step
) AS raw
LEFT JOIN
(
    SELECT step, sum(users) AS users
    FROM
    (
        SELECT step, uniqExactMerge(users) AS users
        FROM user_funnel_hourly
        WHERE toDate(hour) = {day:Date} AND hour < {before:DateTime64(3, 'UTC')}
        GROUP BY tenant_id, scenario_id, step
    )
    GROUP BY step
) AS rollup USING (step)
ORDER BY step
