-- Lakehouse overview per day of one project, read from the DWS materialized view (pymysql
-- binds the parameters). Same columns as sql/clickhouse/dashboard/lakehouse_daily.sql.
SELECT
    dt,
    COUNT(*) AS users,
    SUM(events) AS events,
    SUM(converted) AS converted_users,
    SUM(orders) AS orders,
    CAST(COALESCE(SUM(order_amount), 0) AS DOUBLE) AS order_amount,
    CASE WHEN COUNT(*) = 0 THEN 0 ELSE SUM(converted) / COUNT(*) END AS conversion_rate
FROM dws.dws_user_conversion_daily
WHERE project = %(project)s
  AND dt BETWEEN %(start_day)s AND %(end_day)s
GROUP BY dt
ORDER BY dt
