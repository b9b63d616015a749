"""DWD/DWS models as daily-partitioned assets: a materialization refreshes each day of its
partition range in the warehouse (a synchronous StarRocks partition refresh, or the
ClickHouse server recomputing the day), so a backfill is one run over a partition range in the UI."""

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analytics_assets import ownership
from analytics_assets.automation import DAILY_LOOKBACK, after_upstream_update
from analytics_assets.partitions import daily_partitions, days_in, on_hours_of_the_day
from analytics_assets.resources.warehouse import LakeWarehouse
from analytics_assets.table_metadata import (
    COLUMN_SCHEMA,
    TABLE_NAME,
    warehouse_column_schema,
    warehouse_metadata,
)
from analytics_lib.lake_tables import ODS_EVENTS_CORE, ODS_EVENTS_DEBUG
from analytics_lib.metadata import markdown_table
from analytics_lib.warehouse_models import MODELS, WarehouseModel

# The lake tables partitioned by hour; every other parent of a model is daily or unpartitioned.
# The models depend on them through `on_hours_of_the_day`, and their freshness checks read
# them as hourly upstreams (lakehouse/checks.py).
HOURLY_LAKE_TABLES = frozenset({ODS_EVENTS_CORE.name, ODS_EVENTS_DEBUG.name})

_DESCRIPTIONS = {
    "dwd_user_full_track": (
        "DWD `dwd.dwd_user_full_track`: valid events with the user's integer id and at most "
        "one order (the nearest within an hour, so sums never double count). StarRocks async "
        "MV refreshed every 10 minutes; embedded: the ClickHouse server over the lake."
    ),
    "dws_event_daily": "DWS: events and distinct users per day, project (tenant), event group, event, browser, OS, region.",
    "dws_user_conversion_daily": "DWS: per user and day, events, orders (each counted once), amount, converted.",
}


def _model_asset(model: WarehouseModel) -> AssetsDefinition:
    @asset(
        name=model.name,
        deps=[
            on_hours_of_the_day(t) if t in HOURLY_LAKE_TABLES else AssetDep(t)
            for t in (*model.lake_tables, *model.models)
        ],
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        automation_condition=after_upstream_update(DAILY_LOOKBACK),
        group_name=ownership.LAKEHOUSE,
        kinds={"starrocks", "sql"},
        owners=ownership.ANALYTICS_PLATFORM,
        tags={"layer": model.database},
        metadata=warehouse_metadata(model),
        description=_DESCRIPTIONS[model.name],
    )
    def refresh(context: AssetExecutionContext, warehouse: LakeWarehouse) -> MaterializeResult:
        refreshed = []
        for day in days_in(context.partition_time_window):
            result = warehouse.refresh_day(model, day)
            context.log.info(
                f"{model.name} {day}: {result.rows} rows in {result.seconds:.2f} s ({result.engine})"
            )
            refreshed.append(
                {"dt": str(day), "rows": result.rows, "seconds": round(result.seconds, 2)}
            )
        state = warehouse.model_state(model)
        return MaterializeResult(
            metadata={
                "dagster/row_count": sum(r["rows"] for r in refreshed),
                "refresh_seconds": round(sum(r["seconds"] for r in refreshed), 3),
                "per_day": MetadataValue.md(markdown_table(pl.DataFrame(refreshed))),
                **{f"state/{k}": str(v) for k, v in state.items()},
                # The embedded warehouse names its table (`lakehouse.<model>`); StarRocks'
                # is the definition's.
                TABLE_NAME: str(state.get("table", model.qualified_name)),
                COLUMN_SCHEMA: warehouse_column_schema(model.name),
            }
        )

    return refresh


warehouse_assets = [_model_asset(model) for model in MODELS.values()]
