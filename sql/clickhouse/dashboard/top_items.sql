-- Top items by clicks over the UTC days [start_day, end_day]; ties broken by impressions, id.
-- From item_stats_by_scope (scenario_id '' = all scenarios): the range's whole calendar
-- months from their 'month' rows, its other days from 'day' rows.
WITH
    {start_day:Date}                                     AS first_day,
    {end_day:Date} + 1                                   AS after_last_day,
    -- the whole months inside the range: [first_whole_month, end_whole_month)
    if(toStartOfMonth(first_day) = first_day, first_day,
       addMonths(toStartOfMonth(first_day), 1))          AS first_whole_month,
    toStartOfMonth(after_last_day)                       AS end_whole_month
SELECT
    item_id,
    sum(impressions)                                AS impressions,
    sum(clicks)                                     AS clicks,
    sum(orders)                                     AS orders,
    if(impressions = 0, 0, clicks / impressions)    AS ctr
FROM item_stats_by_scope
WHERE tenant_id = {tenant_id:String} AND scenario_id = {scenario_id:String}
  AND bucket >= toStartOfMonth(first_day) AND bucket < after_last_day
  AND if(unit = 'month',
         bucket >= first_whole_month AND bucket < end_whole_month,
         bucket >= first_day AND NOT (bucket >= first_whole_month AND bucket < end_whole_month))
GROUP BY item_id
ORDER BY clicks DESC, impressions DESC, item_id ASC
LIMIT {limit:UInt32}
