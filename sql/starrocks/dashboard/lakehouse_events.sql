-- The most frequent events of one project over a day range, from the DWS materialized view.
-- Same columns as sql/clickhouse/dashboard/lakehouse_events.sql.
SELECT
    event_group,
    event,
    SUM(events) AS events
FROM dws.dws_event_daily
WHERE project = %(project)s
  AND dt BETWEEN %(start_day)s AND %(end_day)s
GROUP BY event_group, event
ORDER BY events DESC, event
LIMIT %(limit)s
