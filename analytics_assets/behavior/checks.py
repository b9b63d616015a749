"""Asset checks of the behavior path; each message says what to do when it fails."""

import datetime as dt

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from analytics_assets.behavior.partitions import days_in, hourly_partitions, hours_in
from analytics_assets.behavior.rollups import ROLLUPS
from analytics_assets.behavior.user_behaviors import user_behaviors
from analytics_assets.health.freshness import Upstream, partition_freshness_checks
from analytics_assets.health.history import latest_staged_before
from analytics_assets.metadata import markdown_table
from analytics_assets.raw_log import behaviors
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog


def _hour_counts(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
) -> pl.DataFrame:
    window = context.partition_time_window
    return clickhouse.query(
        "checks/user_behaviors_hours", {"start": window.start, "end": window.end}
    )


@asset_check(
    asset=user_behaviors,
    partitions_def=hourly_partitions,
    blocking=True,
    description="Every distinct staged event of the hour is in ClickHouse, and nothing else.",
)
def user_behaviors_reconciles_with_staging(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> AssetCheckResult:
    loaded = dict(_hour_counts(context, clickhouse).select("hour", "row_count").iter_rows())
    # Files that landed after the newest load listed them (live traffic into the open hour)
    # are the next load's business, not a mismatch of this one.
    cutoff = latest_staged_before(context, user_behaviors.key)
    rows = []
    for hour in hours_in(context.partition_time_window):
        staged = raw_event_log.distinct_event_count(behaviors.STREAM, hour, written_before=cutoff)
        in_clickhouse = int(loaded.get(hour, 0))
        rows.append(
            {"hour": f"{hour:%Y-%m-%d %H}:00", "staged": staged, "clickhouse": in_clickhouse}
        )
    table = pl.DataFrame(
        rows, schema={"hour": pl.String, "staged": pl.Int64, "clickhouse": pl.Int64}
    )
    mismatched = table.filter(pl.col("staged") != pl.col("clickhouse"))
    return AssetCheckResult(
        passed=mismatched.is_empty(),
        severity=AssetCheckSeverity.ERROR,
        description=(
            "Staging and ClickHouse agree."
            if mismatched.is_empty()
            else f"{mismatched.height} hour(s) differ between staging and ClickHouse: "
            "re-materialize user_behaviors for those partitions."
        ),
        metadata={
            "staged_events": int(table["staged"].sum()),
            "clickhouse_rows": int(table["clickhouse"].sum()),
            "mismatched_hours": MetadataValue.md(markdown_table(mismatched.head(24))),
        },
    )


@asset_check(
    asset=user_behaviors,
    partitions_def=hourly_partitions,
    blocking=True,
    description="No event_id appears twice in an hour (without FINAL: what a plain count sees).",
)
def user_behaviors_event_id_unique(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
) -> AssetCheckResult:
    counts = _hour_counts(context, clickhouse)
    duplicates = int((counts["row_count"] - counts["distinct_events"]).sum() or 0)
    return AssetCheckResult(
        passed=duplicates == 0,
        severity=AssetCheckSeverity.ERROR,
        description=(
            "event_id is unique."
            if duplicates == 0
            else f"{duplicates} duplicate row(s): re-materialize the affected hours, or run "
            "OPTIMIZE TABLE user_behaviors FINAL if they came from the streaming sink."
        ),
        metadata={"duplicate_rows": duplicates, "rows": int(counts["row_count"].sum() or 0)},
    )


def _totals_match_raw(name: str) -> AssetChecksDefinition:
    @asset_check(
        asset=name,
        name=f"{name}_totals_match_raw",
        partitions_def=hourly_partitions,
        description=f"{name} totals for each UTC day equal the same totals over user_behaviors.",
    )
    def _check(
        context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
    ) -> AssetCheckResult:
        comparisons = pl.concat(
            [
                clickhouse.query(f"checks/{name}_vs_raw", {"day": day}).with_columns(
                    day=pl.lit(day.isoformat())
                )
                for day in days_in(context.partition_time_window)
            ]
        ).select("day", "metric", "raw_value", "rollup_value")
        different = comparisons.filter(pl.col("raw_value") != pl.col("rollup_value"))
        return AssetCheckResult(
            passed=different.is_empty(),
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"{name} equals raw."
                if different.is_empty()
                else f"{name} disagrees with user_behaviors on {different.height} total(s): "
                f"re-materialize {name} for those days."
            ),
            metadata={"comparison": MetadataValue.md(markdown_table(comparisons))},
        )

    return _check


@asset_check(
    asset="metrics_hourly",
    partitions_def=hourly_partitions,
    description="Click-through rate of every tenant/scenario/hour is within [0, 1].",
)
def metrics_hourly_ctr_within_bounds(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
) -> AssetCheckResult:
    window = context.partition_time_window
    violations = clickhouse.query(
        "checks/metrics_hourly_ctr_violations", {"start": window.start, "end": window.end}
    )
    return AssetCheckResult(
        passed=violations.is_empty(),
        severity=AssetCheckSeverity.WARN,
        description=(
            "CTR is within [0, 1]."
            if violations.is_empty()
            else "Clicks exceed impressions: impressions are being lost upstream "
            "(check the collector's dead letters and the SDK's impression tracking)."
        ),
        metadata={"violations": MetadataValue.md(markdown_table(violations))},
    )


behavior_checks = [
    user_behaviors_reconciles_with_staging,
    user_behaviors_event_id_unique,
    metrics_hourly_ctr_within_bounds,
    *[_totals_match_raw(name) for name in ROLLUPS],
]

# The schedule reloads the previous hour in the first 15 minutes of the next one.
behavior_health_checks = partition_freshness_checks(
    {
        "user_behaviors": [Upstream("raw_behaviors", hourly_partitions)],
        **{name: [Upstream("user_behaviors", hourly_partitions)] for name in ROLLUPS},
    },
    hourly_partitions,
    grace=dt.timedelta(minutes=30),
)
