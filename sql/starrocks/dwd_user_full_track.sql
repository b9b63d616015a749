-- DWD: valid events with the user's integer id and AT MOST ONE order: the nearest order of
-- the same user within one hour (the seed joined every order within an hour, so an event
-- with two nearby orders became two rows and every sum over DWD double counted).
-- ODS is deduplicated at load (dedup_key), so one ODS row is one event.
CREATE MATERIALIZED VIEW IF NOT EXISTS dwd.dwd_user_full_track
COMMENT "valid events + user id mapping + nearest order within 1 h (no fan-out)"
DISTRIBUTED BY HASH(distinct_id) BUCKETS 16
REFRESH ASYNC EVERY (INTERVAL 10 MINUTE)
PARTITION BY str2date(dt, '%Y-%m-%d')
PROPERTIES (
    "partition_refresh_number" = "3",
    "auto_refresh_partitions_limit" = "3"
)
AS
WITH candidate_orders AS (
    SELECT
        e.dedup_key AS dedup_key,
        o.order_id AS order_id,
        o.created_at AS order_created_at,
        o.amount AS order_amount,
        ROW_NUMBER() OVER (
            PARTITION BY e.dedup_key
            ORDER BY ABS(date_diff('millisecond', o.created_at, e.`time`)), o.created_at, o.order_id
        ) AS order_rank
    FROM paimon_lake.ods.ods_events_core AS e
    INNER JOIN paimon_lake.ods.dim_orders AS o ON o.user_id = e.distinct_id
    WHERE o.created_at > e.`time` - INTERVAL 3600 SECOND
      AND o.created_at < e.`time` + INTERVAL 3600 SECOND
),
nearest_order AS (
    SELECT dedup_key, order_id, order_created_at, order_amount
    FROM candidate_orders
    WHERE order_rank = 1
)
SELECT
    e.dt AS dt,
    e.dedup_key AS dedup_key,
    e.`time` AS event_time,
    e.project AS project,
    e.distinct_id AS distinct_id,
    m.id_int AS user_id_int,
    e.event AS event,
    e.event_group AS event_group,
    e.ua_browser AS ua_browser,
    e.ua_os AS ua_os,
    get_json_string(e.geoip, '$.region') AS region,
    n.order_id AS order_id,
    n.order_created_at AS order_created_at,
    n.order_amount AS order_amount
FROM paimon_lake.ods.ods_events_core AS e
LEFT JOIN paimon_lake.ods.dim_user_mapping AS m ON m.user_id = e.distinct_id
LEFT JOIN nearest_order AS n ON n.dedup_key = e.dedup_key
WHERE e.is_valid = TRUE
