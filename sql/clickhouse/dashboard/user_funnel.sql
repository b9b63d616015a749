-- Users (not events) reaching each funnel step in order within window_ms of an impression,
-- for events in [start, end). windowFunnel runs on millisecond timestamps with strictly
-- increasing steps, so one event can never count for two steps.
SELECT
    step,
    ['impression', 'click', 'view', 'add_cart', 'order'][step] AS action_type,
    countIf(level >= step)                                     AS users
FROM
(
    SELECT
        user_id,
        windowFunnel({window_ms:UInt64}, 'strict_increase')(
            toUInt64(toUnixTimestamp64Milli(timestamp)),
            action_type = 'impression',
            action_type = 'click',
            action_type = 'view',
            action_type = 'add_cart',
            action_type = 'order'
        ) AS level
    FROM user_behaviors FINAL
    WHERE tenant_id = {tenant_id:String}
      AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
      AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
    GROUP BY user_id
)
ARRAY JOIN [1, 2, 3, 4, 5] AS step
GROUP BY step
ORDER BY step
