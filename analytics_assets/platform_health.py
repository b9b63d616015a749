"""Every health check of the platform, and one job that runs them all every 10 minutes.

Checks on assets Dagster does not materialize (the raw streams, the Redis keys, the
configuration store) would otherwise never run, and freshness must be checked precisely
when the runs that would check it have stopped.
"""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
)

from analytics_assets.behavior.checks import behavior_health_checks
from analytics_assets.configuration.checks import config_health_checks
from analytics_assets.ingest.checks import ingest_health_checks
from analytics_assets.lakehouse.checks import lake_health_checks
from analytics_assets.stream.checks import stream_health_checks

HEALTH_CHECKS = [
    *ingest_health_checks,
    *behavior_health_checks,
    *lake_health_checks,
    *stream_health_checks,
    *config_health_checks,
]

platform_health_job = define_asset_job(
    "platform_health",
    selection=AssetSelection.checks(*HEALTH_CHECKS),
    description=(
        "Every health check: freshness, collector buffer and error rates, Flink jobs, lake "
        "table health, warehouse views, configuration."
    ),
)

platform_health_schedule = ScheduleDefinition(
    job=platform_health_job,
    cron_schedule="3-59/10 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Every 10 minutes (at :03, :13, …): runs the platform_health checks; failures reach "
        "alert_sensor, which notifies Slack / the webhook."
    ),
)
