-- Rebuild one UTC day of metrics_by_scope from metrics_hourly and swap its month in
-- atomically: the month's stored rows of the other days, then per tenant and scope (each
-- scenario, and '' for all of them) the day's hourly and daily counts and exact active
-- users (uniqExactMerge unites the hours' and scenarios' user sets). GROUPING SETS leave
-- scenario_id at its default, '', for the all-scenarios rows. The read-modify-write of a
-- month is why its asset runs in a pool of one (V010).
TRUNCATE TABLE metrics_by_scope__rebuild;

INSERT INTO metrics_by_scope__rebuild
SELECT *
FROM metrics_by_scope
WHERE toStartOfMonth(bucket) = toStartOfMonth({day:Date}) AND toDate(bucket) != {day:Date};

INSERT INTO metrics_by_scope__rebuild
SELECT tenant_id, scenario_id, 'hour' AS unit, hour AS bucket,
       sum(impressions), sum(clicks), sum(orders), uniqExactMerge(active_users)
FROM metrics_hourly
WHERE toDate(hour) = {day:Date}
GROUP BY GROUPING SETS ((tenant_id, scenario_id, hour), (tenant_id, hour));

INSERT INTO metrics_by_scope__rebuild
SELECT tenant_id, scenario_id, 'day' AS unit, toDateTime({day:Date}, 'UTC') AS bucket,
       sum(impressions), sum(clicks), sum(orders), uniqExactMerge(active_users)
FROM metrics_hourly
WHERE toDate(hour) = {day:Date}
GROUP BY GROUPING SETS ((tenant_id, scenario_id), (tenant_id));

ALTER TABLE metrics_by_scope REPLACE PARTITION tuple(toStartOfMonth({day:Date}))
FROM metrics_by_scope__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE metrics_by_scope__rebuild;
