-- (tenant, scenario, hour) groups whose click-through rate is outside [0, 1].
SELECT tenant_id, scenario_id, toDateTime64(hour, 0, 'UTC') AS hour_start, sum(impressions) AS impressions, sum(clicks) AS clicks
FROM metrics_hourly
WHERE hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
GROUP BY tenant_id, scenario_id, hour
HAVING clicks > impressions
ORDER BY hour_start
LIMIT 20
