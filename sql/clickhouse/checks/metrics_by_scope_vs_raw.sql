-- metrics_by_scope for one UTC day next to the same numbers computed from raw events: counts
-- of the per-scenario hours, and distinct users per hour and per day, per scenario and for
-- all scenarios ('': each user once across the scenarios).
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'impressions' AS metric,
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL WHERE date = {day:Date}) AS raw_value,
           (SELECT sum(impressions) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'hour' AND scenario_id != '') AS rollup_value
    UNION ALL
    SELECT 'impressions_all_scenarios',
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(impressions) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'day' AND scenario_id = '')
    UNION ALL
    SELECT 'orders',
           (SELECT countIf(action_type = 'order') FROM user_behaviors FINAL WHERE date = {day:Date}),
           (SELECT sum(orders) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'hour' AND scenario_id != '')
    UNION ALL
    SELECT 'user_hours',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, toStartOfHour(timestamp), user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})),
           (SELECT sum(active_users) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'hour' AND scenario_id != '')
    UNION ALL
    SELECT 'user_hours_all_scenarios',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, toStartOfHour(timestamp), user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})),
           (SELECT sum(active_users) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'hour' AND scenario_id = '')
    UNION ALL
    SELECT 'users',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})),
           (SELECT sum(active_users) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'day' AND scenario_id != '')
    UNION ALL
    SELECT 'users_all_scenarios',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, user_id
                                 FROM user_behaviors FINAL WHERE date = {day:Date})),
           (SELECT sum(active_users) FROM metrics_by_scope
             WHERE toDate(bucket) = {day:Date} AND unit = 'day' AND scenario_id = '')
)
