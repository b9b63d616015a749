-- Rebuild one UTC day of experiment_metrics (events in an experiment only) atomically.
TRUNCATE TABLE experiment_metrics__rebuild;

INSERT INTO experiment_metrics__rebuild
SELECT
    tenant_id,
    scenario_id,
    experiment_id,
    experiment_group,
    date,
    countIf(action_type = 'impression')                 AS impressions,
    countIf(action_type = 'click')                      AS clicks,
    countIf(action_type = 'order')                      AS orders,
    uniqExactStateIf(user_id, action_type = 'impression') AS exposed_users,
    uniqExactStateIf(user_id, action_type = 'click')    AS clicking_users,
    uniqExactStateIf(user_id, action_type = 'order')    AS ordering_users
FROM user_behaviors FINAL
WHERE date = {day:Date} AND experiment_id != ''
GROUP BY tenant_id, scenario_id, experiment_id, experiment_group, date;

-- A day without events (every hour of it reloaded empty) is an empty day: a ClickHouse
-- server refuses to replace from an empty source unless told that this is meant.
ALTER TABLE experiment_metrics REPLACE PARTITION {day:Date} FROM experiment_metrics__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE experiment_metrics__rebuild;
