-- One materialized view's health (StarRocks 3.3 information_schema.materialized_views).
SELECT
    TABLE_SCHEMA AS table_schema,
    TABLE_NAME AS table_name,
    IS_ACTIVE AS is_active,
    INACTIVE_REASON AS inactive_reason,
    REFRESH_TYPE AS refresh_type,
    LAST_REFRESH_STATE AS last_refresh_state,
    CAST(LAST_REFRESH_START_TIME AS DATETIME) AS last_refresh_start_time,
    CAST(LAST_REFRESH_FINISHED_TIME AS DATETIME) AS last_refresh_finished_time,
    LAST_REFRESH_ERROR_MESSAGE AS last_refresh_error_message,
    CAST(TABLE_ROWS AS BIGINT) AS table_rows
FROM information_schema.materialized_views
WHERE TABLE_SCHEMA = %(schema)s AND TABLE_NAME = %(name)s
