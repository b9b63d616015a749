-- DWS: daily events and distinct users per project (tenant) by event group, event, browser,
-- OS and region.
-- One DWD row is one event, so COUNT(*) counts events exactly.
CREATE MATERIALIZED VIEW IF NOT EXISTS dws.dws_event_daily
COMMENT "daily events and users by project / event_group / event / browser / os / region"
DISTRIBUTED BY HASH(event) BUCKETS 8
REFRESH ASYNC
PARTITION BY str2date(dt, '%Y-%m-%d')
AS
SELECT
    t.dt AS dt,
    t.project AS project,
    t.event_group AS event_group,
    t.event AS event,
    t.ua_browser AS ua_browser,
    t.ua_os AS ua_os,
    t.region AS region,
    COUNT(*) AS events,
    COUNT(DISTINCT t.distinct_id) AS users
FROM dwd.dwd_user_full_track AS t
GROUP BY t.dt, t.project, t.event_group, t.event, t.ua_browser, t.ua_os, t.region
