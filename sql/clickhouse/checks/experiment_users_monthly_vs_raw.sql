-- experiment_users_monthly's bits of one UTC day next to the same users computed from raw
-- events in an experiment: exposed (an impression), clicking and ordering users per group.
WITH bitShiftLeft(toUInt32(1), toDayOfMonth({day:Date}) - 1) AS day_bit
SELECT metric, raw_value, rollup_value FROM (
    SELECT 'exposed_users' AS metric,
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, experiment_id, experiment_group, user_id
                                 FROM user_behaviors FINAL
                                 WHERE date = {day:Date} AND experiment_id != '' AND action_type = 'impression')) AS raw_value,
           (SELECT countIf(bitAnd(exposed_days, day_bit) != 0) FROM experiment_users_monthly
             WHERE month = toStartOfMonth({day:Date})) AS rollup_value
    UNION ALL
    SELECT 'clicking_users',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, experiment_id, experiment_group, user_id
                                 FROM user_behaviors FINAL
                                 WHERE date = {day:Date} AND experiment_id != '' AND action_type = 'click')),
           (SELECT countIf(bitAnd(clicking_days, day_bit) != 0) FROM experiment_users_monthly
             WHERE month = toStartOfMonth({day:Date}))
    UNION ALL
    SELECT 'ordering_users',
           (SELECT count() FROM (SELECT DISTINCT tenant_id, scenario_id, experiment_id, experiment_group, user_id
                                 FROM user_behaviors FINAL
                                 WHERE date = {day:Date} AND experiment_id != '' AND action_type = 'order')),
           (SELECT countIf(bitAnd(ordering_days, day_bit) != 0) FROM experiment_users_monthly
             WHERE month = toStartOfMonth({day:Date}))
)
ORDER BY metric
