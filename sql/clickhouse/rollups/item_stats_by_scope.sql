-- Rebuild the month of one UTC day of item_stats_by_scope from item_stats_daily and swap
-- it in atomically: each day's and the whole month's sums per item, per scenario and for
-- all scenarios (GROUPING SETS leave scenario_id at its default, '').
TRUNCATE TABLE item_stats_by_scope__rebuild;

INSERT INTO item_stats_by_scope__rebuild
SELECT tenant_id, scenario_id, 'day' AS unit, date AS bucket, item_id,
       sum(impressions), sum(clicks), sum(orders)
FROM item_stats_daily
WHERE toStartOfMonth(date) = toStartOfMonth({day:Date})
GROUP BY GROUPING SETS ((tenant_id, scenario_id, date, item_id), (tenant_id, date, item_id));

INSERT INTO item_stats_by_scope__rebuild
SELECT tenant_id, scenario_id, 'month' AS unit, toStartOfMonth({day:Date}) AS bucket, item_id,
       sum(impressions), sum(clicks), sum(orders)
FROM item_stats_daily
WHERE toStartOfMonth(date) = toStartOfMonth({day:Date})
GROUP BY GROUPING SETS ((tenant_id, scenario_id, item_id), (tenant_id, item_id));

ALTER TABLE item_stats_by_scope REPLACE PARTITION tuple(toStartOfMonth({day:Date}))
FROM item_stats_by_scope__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE item_stats_by_scope__rebuild;
