-- Rows and distinct event ids per UTC hour in a range (reconciliation and duplicate checks).
SELECT
    toStartOfHour(timestamp) AS hour,
    count()                  AS row_count,
    uniqExact(event_id)      AS distinct_events
FROM user_behaviors
WHERE timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
GROUP BY hour
ORDER BY hour
