-- Lakehouse overview (architecture B), per day of one project: active users, events and
-- order conversion from the DWS. One DWS row is one user and day, so count() is exact
-- distinct users. Same columns as sql/starrocks/dashboard/lakehouse_daily.sql.
SELECT
    dt,
    count()                                           AS users,
    sum(events)                                       AS events,
    sum(converted)                                    AS converted_users,
    sum(orders)                                       AS orders,
    toFloat64(sum(order_amount))                      AS order_amount,
    if(users = 0, 0, converted_users / users)         AS conversion_rate
FROM lakehouse.dws_user_conversion_daily
WHERE project = {project:String}
  AND dt BETWEEN {start_day:String} AND {end_day:String}
GROUP BY dt
ORDER BY dt
