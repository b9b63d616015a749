-- Rebuild one UTC day of metrics_by_scope from metrics_hourly and swap it in atomically:
-- per tenant and scope (each scenario, and '' for all of them), each hour's and the
-- day's counts and exact active users (uniqExactMerge unites the hours' and scenarios'
-- user sets). GROUPING SETS leave scenario_id at its default, '', for the all-scenarios rows.
TRUNCATE TABLE metrics_by_scope__rebuild;

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

ALTER TABLE metrics_by_scope REPLACE PARTITION {day:Date} FROM metrics_by_scope__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE metrics_by_scope__rebuild;
