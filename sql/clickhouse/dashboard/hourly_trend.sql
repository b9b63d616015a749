-- Hourly trend in [start, end): counts, CTR and exact active users per hour.
SELECT
    toDateTime64(hour, 0, 'UTC')                    AS hour_start,
    sum(impressions)                                AS impressions,
    sum(clicks)                                     AS clicks,
    sum(orders)                                     AS orders,
    if(impressions = 0, 0, clicks / impressions)    AS ctr,
    uniqExactMerge(active_users)                    AS active_users
FROM metrics_hourly
WHERE tenant_id = {tenant_id:String}
  AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
  AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
GROUP BY hour
ORDER BY hour
