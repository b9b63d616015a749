-- metrics_hourly totals for one UTC day's hours before `before` (the day's closed hours; the
-- next midnight for a closed day) next to the same totals computed from raw events.
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'impressions' AS metric,
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL
             WHERE date = {day:Date} AND timestamp < {before:DateTime64(3, 'UTC')}) AS raw_value,
           (SELECT sum(impressions) FROM metrics_hourly
             WHERE toDate(hour) = {day:Date} AND hour < {before:DateTime64(3, 'UTC')}) AS rollup_value
    UNION ALL
    SELECT 'clicks',
           (SELECT countIf(action_type = 'click') FROM user_behaviors FINAL
             WHERE date = {day:Date} AND timestamp < {before:DateTime64(3, 'UTC')}),
           (SELECT sum(clicks) FROM metrics_hourly
             WHERE toDate(hour) = {day:Date} AND hour < {before:DateTime64(3, 'UTC')})
    UNION ALL
    SELECT 'orders',
           (SELECT countIf(action_type = 'order') FROM user_behaviors FINAL
             WHERE date = {day:Date} AND timestamp < {before:DateTime64(3, 'UTC')}),
           (SELECT sum(orders) FROM metrics_hourly
             WHERE toDate(hour) = {day:Date} AND hour < {before:DateTime64(3, 'UTC')})
    UNION ALL
    SELECT 'user_hours',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, toStartOfHour(timestamp), user_id
                                 FROM user_behaviors FINAL
                                 WHERE date = {day:Date} AND timestamp < {before:DateTime64(3, 'UTC')})),
           (SELECT toUInt64(sum(users)) FROM (SELECT uniqExactMerge(active_users) AS users FROM metrics_hourly
                                 WHERE toDate(hour) = {day:Date} AND hour < {before:DateTime64(3, 'UTC')}
                                 GROUP BY tenant_id, scenario_id, hour))
)
