-- Dashboard overview for the hours in [start, end): counts, rates and exact active users
-- merged from hourly states (a range's users are not the sum of its hours').
-- An empty scenario_id means all scenarios of the tenant.
SELECT
    sum(impressions)                                AS recommendations,
    sum(clicks)                                     AS clicks,
    sum(orders)                                     AS conversions,
    if(recommendations = 0, 0, clicks / recommendations)      AS ctr,
    if(recommendations = 0, 0, conversions / recommendations) AS conversion_rate,
    uniqExactMerge(active_users)                    AS active_users
FROM metrics_hourly
WHERE tenant_id = {tenant_id:String}
  AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
  AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
