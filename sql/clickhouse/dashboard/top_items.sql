-- Top items by clicks over the UTC days [start_day, end_day]; ties broken by impressions, id.
SELECT
    item_id,
    sum(impressions)                                AS impressions,
    sum(clicks)                                     AS clicks,
    sum(orders)                                     AS orders,
    if(impressions = 0, 0, clicks / impressions)    AS ctr
FROM item_stats_daily
WHERE tenant_id = {tenant_id:String}
  AND ({scenario_id:String} = '' OR scenario_id = {scenario_id:String})
  AND date >= {start_day:Date} AND date <= {end_day:Date}
GROUP BY item_id
ORDER BY clicks DESC, impressions DESC, item_id ASC
LIMIT {limit:UInt32}
