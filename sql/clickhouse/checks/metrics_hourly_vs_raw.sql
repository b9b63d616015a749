-- metrics_hourly totals for one UTC day next to the same totals computed from raw events.
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'impressions' AS metric,
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL WHERE date = {day:Date}) AS raw_value,
           (SELECT sum(impressions) FROM metrics_hourly WHERE toDate(hour) = {day:Date}) AS rollup_value
    UNION ALL
    SELECT 'clicks',
           (SELECT countIf(action_type = 'click') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(clicks) FROM metrics_hourly WHERE toDate(hour) = {day:Date})
    UNION ALL
    SELECT 'orders',
           (SELECT countIf(action_type = 'order') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(orders) FROM metrics_hourly WHERE toDate(hour) = {day:Date})
    UNION ALL
    SELECT 'user_hours',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, toStartOfHour(timestamp), user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})),
           (SELECT toUInt64(sum(users)) FROM (SELECT uniqExactMerge(active_users) AS users FROM metrics_hourly
                                 WHERE toDate(hour) = {day:Date} GROUP BY tenant_id, scenario_id, hour))
)
