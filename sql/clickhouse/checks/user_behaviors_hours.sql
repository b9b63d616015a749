-- Rows, distinct rows by the table's sorting key (what ReplacingMergeTree collapses) and
-- distinct event ids per UTC hour in a range (reconciliation and duplicate checks).
-- Times are returned as DateTime64: ClickHouse's Arrow output encodes DateTime as UInt32.
SELECT
    toDateTime64(toStartOfHour(timestamp), 0, 'UTC') AS hour,
    count()                  AS row_count,
    uniqExact(tenant_id, scenario_id, user_id, timestamp, event_id) AS distinct_rows,
    uniqExact(event_id)      AS distinct_events
FROM user_behaviors
WHERE timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
GROUP BY hour
ORDER BY hour
