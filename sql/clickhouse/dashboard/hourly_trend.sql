-- Hourly trend in [start, end): counts, CTR and exact active users per hour, finished per
-- scope in metrics_by_scope (scenario_id '' = all scenarios: their users united, not summed).
SELECT
    toDateTime64(bucket, 0, 'UTC')                  AS hour_start,
    impressions,
    clicks,
    orders,
    if(impressions = 0, 0, clicks / impressions)    AS ctr,
    active_users
FROM metrics_by_scope
WHERE tenant_id = {tenant_id:String} AND scenario_id = {scenario_id:String} AND unit = 'hour'
  AND bucket >= {start:DateTime64(3, 'UTC')} AND bucket < {end:DateTime64(3, 'UTC')}
ORDER BY hour_start
