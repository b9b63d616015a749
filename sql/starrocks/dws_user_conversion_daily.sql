-- DWS: per user and day, events, orders and amount, converted or not. Several events can
-- share one nearest order, so orders are collapsed to one row per (day, user, order)
-- before they are counted and summed.
CREATE MATERIALIZED VIEW IF NOT EXISTS dws.dws_user_conversion_daily
COMMENT "daily per-user conversion, each order counted once"
DISTRIBUTED BY HASH(distinct_id) BUCKETS 8
REFRESH ASYNC
PARTITION BY str2date(dt, '%Y-%m-%d')
AS
SELECT
    u.dt AS dt,
    u.project AS project,
    u.distinct_id AS distinct_id,
    SUM(u.events) AS events,
    COUNT(u.order_id) AS orders,
    COALESCE(SUM(u.order_amount), 0) AS order_amount,
    CASE WHEN COUNT(u.order_id) > 0 THEN 1 ELSE 0 END AS converted
FROM (
    SELECT
        t.dt AS dt,
        t.project AS project,
        t.distinct_id AS distinct_id,
        t.order_id AS order_id,
        COUNT(*) AS events,
        MAX(t.order_amount) AS order_amount
    FROM dwd.dwd_user_full_track AS t
    GROUP BY t.dt, t.project, t.distinct_id, t.order_id
) AS u
GROUP BY u.dt, u.project, u.distinct_id
