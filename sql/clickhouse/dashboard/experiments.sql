-- Experiment groups of one tenant over the UTC days [start_day, end_day]: exposure, event
-- counts (experiment_metrics) and user-level conversion (users are the unit of
-- randomization, so the significance test compares converting users, not events): the
-- users with a bit of the range's days in experiment_users_monthly (at most users x months
-- rows, not a state per day and group).
WITH
    {start_day:Date}     AS first_day,
    {end_day:Date} + 1   AS after_last_day
SELECT
    scenario_id,
    experiment_id,
    experiment_group,
    counts.impressions                     AS impressions,
    counts.clicks                          AS clicks,
    counts.orders                          AS orders,
    users.exposed_users                    AS exposed_users,
    users.clicking_users                   AS clicking_users,
    users.ordering_users                   AS ordering_users
FROM
(
    SELECT scenario_id, experiment_id, experiment_group,
           sum(impressions) AS impressions, sum(clicks) AS clicks, sum(orders) AS orders
    FROM experiment_metrics
    WHERE tenant_id = {tenant_id:String}
      AND date >= {start_day:Date} AND date <= {end_day:Date}
    GROUP BY scenario_id, experiment_id, experiment_group
) AS counts
LEFT JOIN
(
    SELECT
        scenario_id, experiment_id, experiment_group,
        -- a user's months are separate rows: uniqExact counts each user once
        uniqExactIf(user_id, bitAnd(exposed_days, range_days) != 0)  AS exposed_users,
        uniqExactIf(user_id, bitAnd(clicking_days, range_days) != 0) AS clicking_users,
        uniqExactIf(user_id, bitAnd(ordering_days, range_days) != 0) AS ordering_users
    FROM experiment_users_monthly
    -- the bits of the month's days in [first_day, after_last_day)
    ARRAY JOIN [bitShiftLeft(toUInt64(1), dateDiff('day', month, least(after_last_day, addMonths(month, 1))))
              - bitShiftLeft(toUInt64(1), dateDiff('day', month, greatest(first_day, month)))] AS range_days
    WHERE tenant_id = {tenant_id:String}
      AND month >= toStartOfMonth(first_day) AND month < after_last_day
    GROUP BY scenario_id, experiment_id, experiment_group
) AS users USING (scenario_id, experiment_id, experiment_group)
ORDER BY scenario_id, experiment_id, experiment_group
