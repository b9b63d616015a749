-- The user funnel of the hours in [start, end) from user_funnel_hourly (see its migration,
-- V005): per step, the users whose best funnel starting with an impression in the range
-- reaches the step within 1 h, in one scenario; uniqExactMerge unites the hours' (and, for
-- all scenarios, the scenarios') user sets, so each user counts once per step.
SELECT
    step,
    ['impression', 'click', 'view', 'add_cart', 'order'][step] AS action_type,
    uniqExactMerge(users)                                      AS users
FROM user_funnel_hourly
WHERE tenant_id = {tenant_id:String}
  AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
  AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
GROUP BY step
ORDER BY step
