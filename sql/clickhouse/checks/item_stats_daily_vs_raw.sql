-- item_stats_daily totals for one UTC day next to the same totals computed from raw events.
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'impressions' AS metric,
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL WHERE date = {day:Date}) AS raw_value,
           (SELECT sum(impressions) FROM item_stats_daily WHERE date = {day:Date}) AS rollup_value
    UNION ALL
    SELECT 'views',
           (SELECT countIf(action_type = 'view') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(views) FROM item_stats_daily WHERE date = {day:Date})
    UNION ALL
    SELECT 'watch_seconds',
           (SELECT sumIf(toUInt64(watch_duration), action_type = 'view') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(watch_seconds) FROM item_stats_daily WHERE date = {day:Date})
)
