-- Daily trend over the UTC days [start_day, end_day]: counts, CTR and exact active users
-- per day, merged from the hourly states (a day's users are not the sum of its hours').
SELECT
    toDate(hour)                                    AS day,
    sum(impressions)                                AS impressions,
    sum(clicks)                                     AS clicks,
    sum(orders)                                     AS orders,
    if(impressions = 0, 0, clicks / impressions)    AS ctr,
    uniqExactMerge(active_users)                    AS active_users
FROM metrics_hourly
WHERE tenant_id = {tenant_id:String}
  AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
  AND toDate(hour) >= {start_day:Date} AND toDate(hour) <= {end_day:Date}
GROUP BY day
ORDER BY day
