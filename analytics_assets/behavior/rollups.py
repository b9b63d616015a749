"""Rollups of `user_behaviors`, rebuilt from raw one UTC day at a time.

Each materialization of an hour (or range of hours) recomputes the whole UTC day(s) it
touches into a `__rebuild` table and swaps the day in with `REPLACE PARTITION`, so a rollup
always equals an aggregation of the raw rows that exist now: reloading an hour of raw
events can never double-count, and readers never see a half-built day. (Materialized views
would double-count here: they see inserts, not the hour-replacing deletes.)
"""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TimeWindow,
    asset,
)

from analytics_assets import ownership
from analytics_assets.automation import on_upstream_update
from analytics_assets.behavior.user_behaviors import user_behaviors
from analytics_assets.partitions import (
    days_in,
    hourly_partitions,
    oldest_retained_day,
    require_within_retention,
)
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.table_metadata import clickhouse_location, clickhouse_metadata
from analytics_lib.metadata import markdown_table

ROLLUPS: dict[str, str] = {
    "metrics_hourly": (
        "ClickHouse `metrics_hourly`: one row per tenant, scenario and UTC hour with "
        "impression/click/view/add_cart/order counts and mergeable distinct-user and item "
        "states (uniqExactMerge(active_users) over any hours gives exact active users)."
    ),
    "item_stats_daily": (
        "ClickHouse `item_stats_daily`: one row per tenant, scenario, UTC day and item with "
        "impressions, clicks, views, orders, watch time, average completion and viewers."
    ),
    "experiment_metrics": (
        "ClickHouse `experiment_metrics`: one row per tenant, scenario, experiment, group and "
        "UTC day with impressions, clicks, orders and exact exposed/clicking/ordering users "
        "(the inputs of a two-proportion test per group)."
    ),
    "user_funnel_hourly": (
        "ClickHouse `user_funnel_hourly`: one row per tenant, scenario, UTC hour and funnel "
        "step (impression, click, view, add_cart, order) with the uniqExact state of the users "
        "whose best funnel starting with an impression in that hour reaches the step within "
        "1 h (windowFunnel, strictly increasing times): the API's funnel for any hour range is "
        "uniqExactMerge over its hours, without scanning raw events."
    ),
}
# A funnel starting in a day's last hour ends in the next day's first hour: loading that
# hour must rebuild the day before too.
ROLLUP_LOOKBACK: dict[str, dt.timedelta] = {"user_funnel_hourly": dt.timedelta(hours=1)}


def rebuild_days(name: str, window: TimeWindow) -> list[dt.date]:
    """The UTC days a materialization of `window` rebuilds: the days it touches, plus the
    day before when the rollup looks back across midnight and that day is still retained."""
    days = days_in(window)
    lookback = ROLLUP_LOOKBACK.get(name)
    if lookback is None:
        return days
    before = (window.start.astimezone(dt.UTC) - lookback).date()
    if before < days[0] and before >= oldest_retained_day():
        return [before, *days]
    return days


def build_rollup(name: str, description: str) -> AssetsDefinition:
    @asset(
        name=name,
        deps=[user_behaviors],
        partitions_def=hourly_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        automation_condition=on_upstream_update(),
        group_name=ownership.BEHAVIOR_ANALYTICS,
        kinds={"clickhouse"},
        owners=ownership.ANALYTICS_PLATFORM,
        tags={"layer": "rollup"},
        metadata=clickhouse_metadata(name),
        description=description,
    )
    def _rollup(
        context: AssetExecutionContext, clickhouse: ClickHouseResource
    ) -> MaterializeResult:
        days = rebuild_days(name, context.partition_time_window)
        require_within_retention(days, name)
        for day in days:
            clickhouse.run_script(f"rollups/{name}", {"day": day})
            context.log.info(f"rebuilt {name} for {day} from user_behaviors")
        partitions = clickhouse.query(
            "checks/table_partition_rows",
            {"table": name, "first_day": days[0].isoformat(), "last_day": days[-1].isoformat()},
        )
        return MaterializeResult(
            metadata={
                "dagster/row_count": int(partitions["row_count"].sum() or 0),
                "days_rebuilt": MetadataValue.text(", ".join(str(day) for day in days)),
                "rows_per_day": MetadataValue.md(markdown_table(partitions)),
                **clickhouse_location(clickhouse.url, name),
            }
        )

    return _rollup


rollup_assets = [build_rollup(name, description) for name, description in ROLLUPS.items()]
