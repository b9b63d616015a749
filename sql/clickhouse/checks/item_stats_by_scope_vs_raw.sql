-- item_stats_by_scope for one UTC day next to raw events: the day's per-scenario and
-- all-scenarios ('') sums, and its month's 'month' rows next to the sum of its 'day' rows.
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'impressions' AS metric,
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL WHERE date = {day:Date}) AS raw_value,
           (SELECT sum(impressions) FROM item_stats_by_scope
             WHERE unit = 'day' AND bucket = {day:Date} AND scenario_id != '') AS rollup_value
    UNION ALL
    SELECT 'clicks_all_scenarios',
           (SELECT countIf(action_type = 'click') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(clicks) FROM item_stats_by_scope
             WHERE unit = 'day' AND bucket = {day:Date} AND scenario_id = '')
    UNION ALL
    SELECT 'orders',
           (SELECT countIf(action_type = 'order') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(orders) FROM item_stats_by_scope
             WHERE unit = 'day' AND bucket = {day:Date} AND scenario_id != '')
    UNION ALL
    SELECT 'month_clicks_vs_its_days',
           (SELECT sum(clicks) FROM item_stats_by_scope
             WHERE unit = 'day' AND toStartOfMonth(bucket) = toStartOfMonth({day:Date})),
           (SELECT sum(clicks) FROM item_stats_by_scope
             WHERE unit = 'month' AND bucket = toStartOfMonth({day:Date}))
)
ORDER BY metric
