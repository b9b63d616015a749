"""Architecture B: raw Sensors events → Paimon ODS → dimensions → warehouse models
(DWD/DWS), with the lake's own maintenance."""

import datetime as dt

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from analytics_assets.behavior.partitions import hourly_partitions, open_hour_run_requests
from analytics_assets.lakehouse.checks import ods_reconciliation_checks
from analytics_assets.lakehouse.dimensions import daily_partitions, dim_orders, dim_user_mapping
from analytics_assets.lakehouse.maintenance import lake_maintenance, lake_maintenance_schedule
from analytics_assets.lakehouse.ods import ods_events
from analytics_assets.lakehouse.warehouse import warehouse_assets

ods_hourly_job = define_asset_job(
    "ods_hourly",
    selection=AssetSelection.assets(ods_events),
    partitions_def=hourly_partitions,
    description="Load an hour of raw Sensors events into the Paimon ODS (CORE and DEBUG).",
)

lake_models_job = define_asset_job(
    "lake_models_daily",
    selection=AssetSelection.assets(dim_orders, *warehouse_assets),
    partitions_def=daily_partitions,
    description="Refresh a day of dim_orders and the DWD/DWS models.",
)


@schedule(
    job=ods_hourly_job,
    cron_schedule="5,15,35,45 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Reload the open hour into the ODS four times an hour (and the previous hour in the "
        "first quarter, for late files); each reload replaces the hour, never duplicates it."
    ),
)
def ods_hourly_schedule(context: ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
    return open_hour_run_requests(context.scheduled_execution_time)


@schedule(
    job=lake_models_job,
    cron_schedule="50 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Hourly: refresh today's orders and warehouse models (and yesterday's in the first "
        "hour). With StarRocks the views also refresh themselves every 10 minutes."
    ),
)
def lake_models_schedule(context: ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
    now = context.scheduled_execution_time.astimezone(dt.UTC)
    days = [now.date() - dt.timedelta(days=1), now.date()] if now.hour == 0 else [now.date()]
    for day in days:
        key = f"{day:%Y-%m-%d}"
        yield RunRequest(run_key=f"{key}@{now:%Y%m%dT%H%M}", partition_key=key)


defs = Definitions(
    assets=[ods_events, dim_orders, dim_user_mapping, *warehouse_assets],
    asset_checks=ods_reconciliation_checks,
    jobs=[ods_hourly_job, lake_models_job, lake_maintenance],
    schedules=[ods_hourly_schedule, lake_models_schedule, lake_maintenance_schedule],
)
