"""Architecture A, batch layer: raw behaviors → ClickHouse `user_behaviors` → rollups."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from analytics_assets.behavior.checks import behavior_checks
from analytics_assets.behavior.partitions import hourly_partitions, open_hour_run_requests
from analytics_assets.behavior.rollups import rollup_assets
from analytics_assets.behavior.user_behaviors import raw_behaviors, user_behaviors

behavior_hourly_job = define_asset_job(
    "behavior_hourly",
    selection=AssetSelection.assets(user_behaviors).downstream(),
    partitions_def=hourly_partitions,
    description="Load an hour of raw behaviors into ClickHouse, rebuild its rollups, run checks.",
)


@schedule(
    job=behavior_hourly_job,
    cron_schedule="*/10 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Every 10 minutes reload the open hour (and, in the first 15 minutes of an hour, the "
        "previous one, which may still receive late files)."
    ),
)
def behavior_hourly_schedule(context: ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
    return open_hour_run_requests(context.scheduled_execution_time)


defs = Definitions(
    assets=[raw_behaviors, user_behaviors, *rollup_assets],
    asset_checks=behavior_checks,
    jobs=[behavior_hourly_job],
    schedules=[behavior_hourly_schedule],
)
