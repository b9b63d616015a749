-- experiment_metrics totals for one UTC day next to the same totals computed from raw events.
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'impressions' AS metric,
           (SELECT countIf(action_type = 'impression') FROM user_behaviors FINAL
             WHERE date = {day:Date} AND experiment_id != '') AS raw_value,
           (SELECT sum(impressions) FROM experiment_metrics WHERE date = {day:Date}) AS rollup_value
    UNION ALL
    SELECT 'exposed_users',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, experiment_id, experiment_group, user_id
                                 FROM user_behaviors FINAL
                                 WHERE date = {day:Date} AND experiment_id != '' AND action_type = 'impression')),
           (SELECT toUInt64(sum(users)) FROM (SELECT uniqExactMerge(exposed_users) AS users FROM experiment_metrics
                                 WHERE date = {day:Date}
                                 GROUP BY tenant_id, scenario_id, experiment_id, experiment_group))
)
