"""Non-lake housekeeping, one job per module, each on its own schedule: ClickHouse parts
and TTL, staging retention, Redis trimming. (Paimon maintenance lives with the lake.)"""

from dagster import Definitions

from analytics_assets.maintenance import clickhouse_parts, redis_trim, staging_retention

defs = Definitions(
    jobs=[
        clickhouse_parts.clickhouse_maintenance,
        staging_retention.staging_retention,
        redis_trim.redis_trim,
    ],
    schedules=[
        clickhouse_parts.clickhouse_maintenance_schedule,
        staging_retention.staging_retention_schedule,
        redis_trim.redis_trim_schedule,
    ],
)
