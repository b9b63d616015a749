-- Daily trend over the UTC days [start_day, end_day]: counts, CTR and exact active users
-- per day, finished per scope in metrics_by_scope (a day's users are the union of its
-- hours', and all scenarios' the union of the scenarios': scenario_id '').
SELECT
    toDate(bucket)                                  AS day,
    impressions,
    clicks,
    orders,
    if(impressions = 0, 0, clicks / impressions)    AS ctr,
    active_users
FROM metrics_by_scope
WHERE tenant_id = {tenant_id:String} AND scenario_id = {scenario_id:String} AND unit = 'day'
  AND bucket >= toDateTime({start_day:Date}, 'UTC') AND bucket <= toDateTime({end_day:Date}, 'UTC')
ORDER BY day
