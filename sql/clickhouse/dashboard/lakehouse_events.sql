-- Lakehouse overview (architecture B): the most frequent events of one project over a day
-- range, with their event group. Same columns as sql/starrocks/dashboard/lakehouse_events.sql.
SELECT
    event_group,
    event,
    sum(events) AS events
FROM lakehouse.dws_event_daily
WHERE project = {project:String}
  AND dt BETWEEN {start_day:String} AND {end_day:String}
GROUP BY event_group, event
ORDER BY events DESC, event
LIMIT {limit:UInt32}
