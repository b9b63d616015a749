-- Dashboard overview for the hours in [start, end): counts and rates summed over the
-- hours of metrics_by_scope, and exact active users: the users of the range's whole UTC
-- days from user_activity_monthly (a bit per day: at most users x months rows) united with
-- the hourly user sets of its partial edge hours (metrics_hourly). A range's users are not
-- the sum of its hours'. An empty scenario_id means all scenarios of the tenant.
WITH
    {start:DateTime64(3, 'UTC')} AS range_start,
    {end:DateTime64(3, 'UTC')}   AS range_end,
    -- the whole UTC days inside the range, [first_whole_day, end_whole_day), when there
    -- are at least 3: reading a month of users costs more than merging a day or two of
    -- hourly states (bench/api.py at 100 M events: 24 h 87 ms vs 13 ms, 7 d about even)
    toDate(range_start) + (toStartOfDay(range_start) != range_start) AS first_whole_day,
    if(toDate(range_end) - first_whole_day >= 3, toDate(range_end), first_whole_day)
                                                                      AS end_whole_day
SELECT
    counts.recommendations                                    AS recommendations,
    counts.clicks                                             AS clicks,
    counts.conversions                                        AS conversions,
    if(recommendations = 0, 0, clicks / recommendations)      AS ctr,
    if(recommendations = 0, 0, conversions / recommendations) AS conversion_rate,
    users.active_users                                        AS active_users
FROM
(
    SELECT sum(impressions) AS recommendations, sum(clicks) AS clicks, sum(orders) AS conversions
    FROM metrics_by_scope
    WHERE tenant_id = {tenant_id:String} AND scenario_id = {scenario_id:String} AND unit = 'hour'
      AND bucket >= range_start AND bucket < range_end
) AS counts
CROSS JOIN
(
    SELECT uniqExactMerge(users) AS active_users
    FROM
    (
        SELECT uniqExactState(user_id) AS users
        FROM user_activity_monthly
        WHERE tenant_id = {tenant_id:String} AND scenario_id = {scenario_id:String}
          AND first_whole_day < end_whole_day
          AND month >= toStartOfMonth(first_whole_day) AND month < end_whole_day
          -- a bit of the month's days in [first_whole_day, end_whole_day)
          AND bitAnd(active_days, bitShiftLeft(toUInt64(1), dateDiff('day', month, least(end_whole_day, addMonths(month, 1))))
                                - bitShiftLeft(toUInt64(1), dateDiff('day', month, greatest(first_whole_day, month)))) != 0
        UNION ALL
        SELECT active_users AS users
        FROM metrics_hourly
        WHERE tenant_id = {tenant_id:String}
          AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
          AND hour >= range_start AND hour < range_end
          AND NOT (toDate(hour) >= first_whole_day AND toDate(hour) < end_whole_day)
    )
) AS users
