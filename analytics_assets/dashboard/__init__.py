"""Dashboard rollups for the analytics API: snapshots published to Redis, on a schedule."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)

from analytics_assets.dashboard.assets import dashboard_snapshots

dashboard_job = define_asset_job(
    "dashboard_snapshots_job", selection=AssetSelection.assets(dashboard_snapshots)
)
# Five minutes after each behavior_hourly run (every 10 minutes on the tens) loaded the hour.
dashboard_schedule = ScheduleDefinition(
    name="dashboard_snapshots_schedule",
    job=dashboard_job,
    cron_schedule="5-59/10 * * * *",
    description="Rebuilds the dashboard snapshots the analytics API serves.",
    default_status=DefaultScheduleStatus.RUNNING,  # the API goes empty after the 6 h TTL
)

defs = Definitions(
    assets=[dashboard_snapshots],
    jobs=[dashboard_job],
    schedules=[dashboard_schedule],
)
