-- Experiment groups of one tenant over the UTC days [start_day, end_day]: exposure, event
-- counts and user-level conversion (users are the unit of randomization, so the
-- significance test compares converting users, not events).
SELECT
    scenario_id,
    experiment_id,
    experiment_group,
    sum(impressions)                   AS impressions,
    sum(clicks)                        AS clicks,
    sum(orders)                        AS orders,
    uniqExactMerge(exposed_users)      AS exposed_users,
    uniqExactMerge(clicking_users)     AS clicking_users,
    uniqExactMerge(ordering_users)     AS ordering_users
FROM experiment_metrics
WHERE tenant_id = {tenant_id:String}
  AND date >= {start_day:Date} AND date <= {end_day:Date}
GROUP BY scenario_id, experiment_id, experiment_group
ORDER BY scenario_id, experiment_id, experiment_group
