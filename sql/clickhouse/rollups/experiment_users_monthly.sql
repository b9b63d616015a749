-- Rebuild one UTC day's bits of experiment_users_monthly and swap its month in atomically:
-- the month's stored rows with the day's bit cleared ORed with the day recomputed from raw
-- (events in an experiment only). Days past the raw retention keep their bits.
TRUNCATE TABLE experiment_users_monthly__rebuild;

INSERT INTO experiment_users_monthly__rebuild
SELECT
    tenant_id,
    scenario_id,
    experiment_id,
    experiment_group,
    month,
    user_id,
    groupBitOr(exposed_days)   AS exposed_days,
    groupBitOr(clicking_days)  AS clicking_days,
    groupBitOr(ordering_days)  AS ordering_days
FROM
(
    SELECT
        tenant_id, scenario_id, experiment_id, experiment_group, month, user_id,
        bitAnd(exposed_days, other_days)  AS exposed_days,
        bitAnd(clicking_days, other_days) AS clicking_days,
        bitAnd(ordering_days, other_days) AS ordering_days
    FROM experiment_users_monthly
    -- every bit but the day's
    ARRAY JOIN [bitNot(bitShiftLeft(toUInt32(1), toDayOfMonth({day:Date}) - 1))] AS other_days
    WHERE month = toStartOfMonth({day:Date})
    UNION ALL
    SELECT
        tenant_id, scenario_id, experiment_id, experiment_group,
        toStartOfMonth({day:Date}) AS month,
        user_id,
        if(countIf(action_type = 'impression') > 0, day_bit, 0) AS exposed_days,
        if(countIf(action_type = 'click') > 0, day_bit, 0)      AS clicking_days,
        if(countIf(action_type = 'order') > 0, day_bit, 0)      AS ordering_days
    FROM user_behaviors FINAL
    ARRAY JOIN [bitShiftLeft(toUInt32(1), toDayOfMonth({day:Date}) - 1)] AS day_bit
    WHERE date = {day:Date} AND experiment_id != ''
    GROUP BY tenant_id, scenario_id, experiment_id, experiment_group, user_id, day_bit
)
GROUP BY tenant_id, scenario_id, experiment_id, experiment_group, month, user_id
HAVING bitOr(bitOr(exposed_days, clicking_days), ordering_days) != 0;

ALTER TABLE experiment_users_monthly REPLACE PARTITION tuple(toStartOfMonth({day:Date}))
FROM experiment_users_monthly__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE experiment_users_monthly__rebuild;
