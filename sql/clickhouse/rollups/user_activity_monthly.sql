-- Rebuild one UTC day's bits of user_activity_monthly and swap its month in atomically:
-- the month's stored rows with the day's bit cleared (other days, including days whose
-- raw events are past retention, stay as they are) ORed with the day recomputed from raw
-- per tenant, scenario and user, then the all-scenarios rows ('') as the OR over the
-- scenarios. The funnel reads [day, day + 25 h): a funnel starting at 23:30 ends by 00:30.
TRUNCATE TABLE user_activity_monthly__rebuild;

INSERT INTO user_activity_monthly__rebuild
SELECT
    tenant_id,
    scenario_id,
    month,
    user_id,
    groupBitOr(active_days)      AS active_days,
    groupBitOr(impression_days)  AS impression_days,
    groupBitOr(click_days)       AS click_days,
    groupBitOr(view_days)        AS view_days,
    groupBitOr(add_cart_days)    AS add_cart_days,
    groupBitOr(order_days)       AS order_days
FROM
(
    SELECT
        tenant_id, scenario_id, month, user_id,
        bitAnd(active_days, other_days)     AS active_days,
        bitAnd(impression_days, other_days) AS impression_days,
        bitAnd(click_days, other_days)      AS click_days,
        bitAnd(view_days, other_days)       AS view_days,
        bitAnd(add_cart_days, other_days)   AS add_cart_days,
        bitAnd(order_days, other_days)      AS order_days
    FROM user_activity_monthly
    -- every bit but the day's
    ARRAY JOIN [bitNot(bitShiftLeft(toUInt32(1), toDayOfMonth({day:Date}) - 1))] AS other_days
    WHERE month = toStartOfMonth({day:Date}) AND scenario_id != ''
    UNION ALL
    SELECT
        tenant_id, scenario_id, toStartOfMonth({day:Date}) AS month, user_id,
        if(active, day_bit, 0)                AS active_days,
        if(level >= 1, day_bit, 0)            AS impression_days,
        if(level >= 2, day_bit, 0)            AS click_days,
        if(level >= 3, day_bit, 0)            AS view_days,
        if(level >= 4, day_bit, 0)            AS add_cart_days,
        if(level >= 5, day_bit, 0)            AS order_days
    FROM
    (
        SELECT
            tenant_id,
            scenario_id,
            user_id,
            bitShiftLeft(toUInt32(1), toDayOfMonth({day:Date}) - 1) AS day_bit,
            countIf(date = {day:Date}) > 0 AS active,
            -- time in eighths of a millisecond, later steps first within one: see
            -- user_funnel_hourly.sql (windowFunnel and equal timestamps)
            windowFunnel(8 * 3600000, 'strict_increase')(
                toUInt64(toUnixTimestamp64Milli(timestamp) * 8 + 5 - indexOf(
                    ['impression', 'click', 'view', 'add_cart', 'order'], action_type)),
                action_type = 'impression' AND date = {day:Date},
                action_type = 'click',
                action_type = 'view',
                action_type = 'add_cart',
                action_type = 'order'
            ) AS level
        FROM user_behaviors FINAL
        WHERE date IN ({day:Date}, {day:Date} + 1)
          AND timestamp < toDateTime64({day:Date} + 1, 3, 'UTC') + INTERVAL 1 HOUR
        GROUP BY tenant_id, scenario_id, user_id
        HAVING active
    )
)
GROUP BY GROUPING SETS ((tenant_id, scenario_id, month, user_id), (tenant_id, month, user_id))
HAVING active_days != 0;

ALTER TABLE user_activity_monthly REPLACE PARTITION tuple(toStartOfMonth({day:Date}))
FROM user_activity_monthly__rebuild
SETTINGS allow_replace_partition_from_empty_source = 1;

TRUNCATE TABLE user_activity_monthly__rebuild;
