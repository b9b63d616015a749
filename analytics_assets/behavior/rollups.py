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
from analytics_assets.table_metadata import (
    clickhouse_location,
    clickhouse_metadata,
    clickhouse_tables,
)
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
    "metrics_by_scope": (
        "ClickHouse `metrics_by_scope`: from metrics_hourly, one row per tenant, scope (each "
        "scenario, and '' for all of them), unit (hour or UTC day) and bucket with finished "
        "counts and exact active users (the union of the hours' and scenarios' user sets): "
        "the trends and the overview's counts sum rows instead of merging states."
    ),
    "user_activity_monthly": (
        "ClickHouse `user_activity_monthly`: one row per tenant, scope (each scenario, and '' "
        "for all), month and user with a bit per day: any event, and the funnel steps the "
        "user's best funnel starting that day reaches. The overview's and the funnel's users "
        "for the whole days of any range are the users with a bit in it (users x months rows "
        "read, not a state per hour)."
    ),
    "experiment_users_monthly": (
        "ClickHouse `experiment_users_monthly`: one row per tenant, scenario, experiment, "
        "group, month and user with a bit per day for exposure (an impression), a click and "
        "an order: the experiments' exact user counts for any range of days (counts stay in "
        "experiment_metrics)."
    ),
    "item_stats_by_scope": (
        "ClickHouse `item_stats_by_scope`: from item_stats_daily, per tenant, scope (each "
        "scenario, and '' for all) and item, the impressions, clicks and orders of each day "
        "and of each whole month: a range's item ranking reads its whole months' rows and "
        "its edge days' rows."
    ),
}
WHOLE_MONTH_REBUILD = {"item_stats_by_scope"}
# What a rollup is rebuilt from, when not user_behaviors itself.
ROLLUP_SOURCE: dict[str, str] = {
    "metrics_by_scope": "metrics_hourly",
    "item_stats_by_scope": "item_stats_daily",
}
# Rollups partitioned by month rewrite the whole month for a day: the *_monthly ones from
# the stored month (read, clear the day's bit, OR the day in, replace), metrics_by_scope
# likewise (the month's other days as stored, the day recomputed, replace), so two runs
# rebuilding days of one month at once would lose a day; item_stats_by_scope re-sums its
# month from item_stats_daily, so a run that read before another's day landed could
# replace the month after it. Their steps run one at a time (pools are at 1,
# dagster_home/dagster.yaml).
ROLLUP_POOL: dict[str, str] = {
    name: "clickhouse_month_rewrite"
    for name in ROLLUPS
    if clickhouse_tables()[name].partition_unit == "month"
}
# A funnel starting in a day's last hour ends in the next day's first hour: loading that
# hour must rebuild the day before too.
ROLLUP_LOOKBACK: dict[str, dt.timedelta] = {
    "user_funnel_hourly": dt.timedelta(hours=1),
    "user_activity_monthly": dt.timedelta(hours=1),
}


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


def script_days(name: str, days: list[dt.date]) -> list[dt.date]:
    """The days to run the rebuild script for: each day, or one per month for a rollup
    that re-sums its whole month (item_stats_by_scope) whichever day changed."""
    if name not in WHOLE_MONTH_REBUILD:
        return days
    return list({day.replace(day=1): day for day in days}.values())


def build_rollup(name: str, description: str) -> AssetsDefinition:
    monthly = clickhouse_tables()[name].partition_unit == "month"

    @asset(
        name=name,
        deps=[ROLLUP_SOURCE.get(name, user_behaviors)],
        partitions_def=hourly_partitions,
        pool=ROLLUP_POOL.get(name),
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
        for day in script_days(name, days):
            clickhouse.run_script(f"rollups/{name}", {"day": day})
            context.log.info(f"rebuilt {name} for {day} from user_behaviors")
        partitions = clickhouse.query(
            "checks/table_partition_rows",
            {
                "table": name,
                # a month-partitioned rollup's partition is named by the month's first day
                "first_day": (days[0].replace(day=1) if monthly else days[0]).isoformat(),
                "last_day": days[-1].isoformat(),
            },
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
