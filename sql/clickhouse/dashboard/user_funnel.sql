-- The user funnel of the hours in [start, end): per step, the users whose best funnel
-- starting with an impression in the range reaches the step within 1 h, in one scenario
-- (see user_funnel_hourly's migration, V004). The range's whole UTC days come from
-- user_activity_monthly (a bit per day and step: at most users x months rows), its partial
-- edge hours from user_funnel_hourly; uniqExactMerge unites the two (and, for all
-- scenarios, the scenarios') user sets, so each user counts once per step.
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
    step,
    ['impression', 'click', 'view', 'add_cart', 'order'][step] AS action_type,
    uniqExactMerge(users)                                      AS users
FROM
(
    SELECT step, uniqExactState(user_id) AS users
    FROM user_activity_monthly
    ARRAY JOIN [impression_days, click_days, view_days, add_cart_days, order_days] AS step_days,
               [1, 2, 3, 4, 5]                                                     AS step
    WHERE tenant_id = {tenant_id:String} AND scenario_id = {scenario_id:String}
      AND first_whole_day < end_whole_day
      AND month >= toStartOfMonth(first_whole_day) AND month < end_whole_day
      -- a bit of the month's days in [first_whole_day, end_whole_day)
      AND bitAnd(step_days, bitShiftLeft(toUInt64(1), dateDiff('day', month, least(end_whole_day, addMonths(month, 1))))
                          - bitShiftLeft(toUInt64(1), dateDiff('day', month, greatest(first_whole_day, month)))) != 0
    GROUP BY step
    UNION ALL
    SELECT step, users
    FROM user_funnel_hourly
    WHERE tenant_id = {tenant_id:String}
      AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
      AND hour >= range_start AND hour < range_end
      AND NOT (toDate(hour) >= first_whole_day AND toDate(hour) < end_whole_day)
)
GROUP BY step
ORDER BY step
