-- user_activity_monthly's bits of one UTC day next to the same users computed from raw
-- events: users active that day, per scenario and for all scenarios (''), and per funnel
-- step the (tenant, scenario, user) triples whose best funnel starting with an impression
-- that day reaches the step within 1 h (windowFunnel over [day, day + 25 h)).
WITH bitShiftLeft(toUInt32(1), toDayOfMonth({day:Date}) - 1) AS day_bit
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'users' AS metric,
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})) AS raw_value,
           (SELECT countIf(bitAnd(active_days, day_bit) != 0) FROM user_activity_monthly
             WHERE month = toStartOfMonth({day:Date}) AND scenario_id != '') AS rollup_value
    UNION ALL
    SELECT 'users_all_scenarios',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})),
           (SELECT countIf(bitAnd(active_days, day_bit) != 0) FROM user_activity_monthly
             WHERE month = toStartOfMonth({day:Date}) AND scenario_id = '')
    UNION ALL
    SELECT concat('funnel_step_', toString(step)), raw_users, rollup_users
    FROM
    (
        SELECT step, countIf(level >= step) AS raw_users
        FROM
        (
            SELECT
                windowFunnel(8 * 3600000, 'strict_increase')(
                    toUInt64(toUnixTimestamp64Milli(timestamp) * 8 + 5 - indexOf(
                        ['impression', 'click', 'view', 'add_cart', 'order'], action_type)),
                    action_type = 'impression' AND date = {day:Date},
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
        SELECT step, countIf(bitAnd(step_days, day_bit) != 0) AS rollup_users
        FROM user_activity_monthly
        ARRAY JOIN [impression_days, click_days, view_days, add_cart_days, order_days] AS step_days,
                   [1, 2, 3, 4, 5]                                                     AS step
        WHERE month = toStartOfMonth({day:Date}) AND scenario_id != ''
        GROUP BY step
    ) AS rollup USING (step)
)
ORDER BY metric
