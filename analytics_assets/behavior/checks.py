"""Asset checks of the behavior path; each message says what to do when it fails."""

import datetime as dt
from dataclasses import dataclass

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from analytics_assets.behavior.rollups import ROLLUP_LOOKBACK, ROLLUP_SOURCE, ROLLUPS
from analytics_assets.behavior.user_behaviors import user_behaviors
from analytics_assets.check_history import latest_staged_before
from analytics_assets.health.freshness import Upstream, partition_freshness_checks
from analytics_assets.partitions import days_in, hourly_partitions, hours_in
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_lib.metadata import markdown_table
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.storage import hour_floor


def _hour_counts(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
) -> pl.DataFrame:
    window = context.partition_time_window
    return clickhouse.query(
        "checks/user_behaviors_hours", {"start": window.start, "end": window.end}
    )


@dataclass(frozen=True)
class HourReconciliation:
    """One hour of staging against ClickHouse while two writers fill it: the hourly load
    (every file that had landed by its cutoff, `staged_before`) and the `clickhouse_sink`
    stream job (each file soon after it lands, so possibly files the load never saw).
    Duplicates between the two collapse by event_id (ReplacingMergeTree), so ClickHouse is
    counted in distinct event ids.

    ClickHouse must hold at least what the load read (fewer is a loss) and at most what is
    staged now, counted after ClickHouse (more is a surplus: events that were never staged).
    When nothing new landed for the hour since the cutoff (a closed hour whose data has all
    landed) the two bounds are one number and the check is exact."""

    hour: dt.datetime
    staged_at_load: int
    staged_now: int
    clickhouse: int

    @property
    def rule(self) -> str:
        return "exact" if self.staged_now == self.staged_at_load else "bounded"

    @property
    def problem(self) -> str:
        """`loss`, `surplus`, or empty when ClickHouse is within the bounds."""
        if self.clickhouse < self.staged_at_load:
            return "loss"
        return "surplus" if self.clickhouse > self.staged_now else ""


def staged_counts(
    raw_event_log: RawEventLog, hour: dt.datetime, cutoff: dt.datetime | None
) -> tuple[int, int]:
    """Distinct staged events of the hour that had landed by the load's cutoff, and now
    (read a second time only when files landed since the cutoff)."""
    at_load = raw_event_log.distinct_event_count(behaviors.STREAM, hour, written_before=cutoff)
    if cutoff is None or len(raw_event_log.list_hour(behaviors.STREAM, hour)) == len(
        raw_event_log.list_hour(behaviors.STREAM, hour, written_before=cutoff)
    ):
        return at_load, at_load
    return at_load, raw_event_log.distinct_event_count(behaviors.STREAM, hour)


@asset_check(
    asset=user_behaviors,
    partitions_def=hourly_partitions,
    blocking=True,
    description=(
        "Every distinct event staged by the load's cutoff is in ClickHouse, and nothing that "
        "is not staged (exact once nothing lands for the hour after its load)."
    ),
)
def user_behaviors_reconciles_with_staging(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> AssetCheckResult:
    # ClickHouse first, staging second: the sink only inserts files that have landed, so
    # staging counted afterwards bounds ClickHouse from above.
    loaded = dict(_hour_counts(context, clickhouse).select("hour", "distinct_events").iter_rows())
    cutoff = latest_staged_before(context, user_behaviors.key)
    hours = [
        HourReconciliation(
            hour, *staged_counts(raw_event_log, hour, cutoff), int(loaded.get(hour, 0))
        )
        for hour in hours_in(context.partition_time_window)
    ]
    table = pl.DataFrame(
        [
            {
                "hour": f"{h.hour:%Y-%m-%d %H}:00",
                "rule": h.rule,
                "staged_at_load": h.staged_at_load,
                "clickhouse": h.clickhouse,
                "staged_now": h.staged_now,
                "problem": h.problem,
            }
            for h in hours
        ],
        schema={
            "hour": pl.String,
            "rule": pl.String,
            "staged_at_load": pl.Int64,
            "clickhouse": pl.Int64,
            "staged_now": pl.Int64,
            "problem": pl.String,
        },
    )
    mismatched = table.filter(pl.col("problem") != "")
    return AssetCheckResult(
        passed=mismatched.is_empty(),
        severity=AssetCheckSeverity.ERROR,
        description=(
            "Staging and ClickHouse agree."
            if mismatched.is_empty()
            else f"{mismatched.height} hour(s) differ between staging and ClickHouse "
            "(loss: fewer events than the load read; surplus: events never staged): "
            "re-materialize user_behaviors for those partitions."
        ),
        metadata={
            "rule": "exact" if (table["rule"] == "exact").all() else "bounded",
            "load_cutoff": MetadataValue.timestamp(cutoff) if cutoff else "none",
            "staged_events_at_load": int(table["staged_at_load"].sum()),
            "staged_events_now": int(table["staged_now"].sum()),
            "clickhouse_events": int(table["clickhouse"].sum()),
            "hours": MetadataValue.md(markdown_table(table.tail(24))),
            "mismatched_hours": MetadataValue.md(markdown_table(mismatched.head(24))),
        },
    )


@asset_check(
    asset=user_behaviors,
    partitions_def=hourly_partitions,
    blocking=True,
    description=(
        "No event_id appears under two different rows of the sorting key in an hour: copies "
        "that ReplacingMergeTree will not collapse. Copies of the same row (the stream sink "
        "and the load both writing an event) are reported, not failed: merges remove them and "
        "every reader uses FINAL."
    ),
)
def user_behaviors_event_id_unique(
    context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
) -> AssetCheckResult:
    """Two writers fill `user_behaviors` by design: the `clickhouse_sink` stream job (seconds
    fresh) and the hourly load (the record). Until a merge, an event both wrote is two rows
    with one sorting key; the demo measured whole history hours at exactly twice their
    events right after its backfill, and this check, failing on any plain-count copy,
    failed the load run (it is blocking) and skipped its rollups. What no merge fixes is an
    event_id under two different keys (another time, user or scenario): that fails."""
    counts = _hour_counts(context, clickhouse)
    unmergeable = int((counts["distinct_rows"] - counts["distinct_events"]).sum() or 0)
    pending = int((counts["row_count"] - counts["distinct_rows"]).sum() or 0)
    if unmergeable:
        description = (
            f"{unmergeable} event_id(s) stored under two different rows (time, user or "
            "scenario differ), which no merge collapses: re-materialize the affected hours, "
            "and find the writer that changed the event."
        )
    elif pending:
        description = (
            f"event_id is unique per row; {pending} copies of the same rows wait for a merge "
            "(the stream sink and the load both wrote them; FINAL and merges collapse them)."
        )
    else:
        description = "event_id is unique."
    return AssetCheckResult(
        passed=unmergeable == 0,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "unmergeable_duplicates": unmergeable,
            "copies_pending_merge": pending,
            "rows": int(counts["row_count"].sum() or 0),
        },
    )


# An hour's last files land seconds after it ends (the collector rolls its segments every
# 10 s); after this margin a closed hour stops receiving the live writer's inserts.
LANDING_MARGIN = dt.timedelta(minutes=2)
# Rollups kept per hour; the others are per day and compare only days that have closed.
HOURLY_ROLLUPS = {"metrics_hourly", "user_funnel_hourly"}
COMPARISON_SCHEMA = {
    "day": pl.String,
    "before": pl.String,
    "metric": pl.String,
    "raw_value": pl.Int64,
    "rollup_value": pl.Int64,
}


def closed_before(cutoff: dt.datetime) -> dt.datetime:
    """The start of the first hour that was still open (or had files landing) at the load's
    cutoff: hours before it no longer change while the `clickhouse_sink` job runs."""
    return hour_floor(cutoff - LANDING_MARGIN)


def comparable_before(name: str, day: dt.date, closed: dt.datetime) -> dt.datetime | None:
    """How much of `day` a totals check can compare for rollup `name`: up to the returned
    time (the next midnight for a closed day), or None when nothing of it is comparable.

    The live writer keeps adding the open hour's newest events after the rollup was built,
    so only closed hours are compared: an hourly rollup compares the closed hours of the
    open day (the funnel one hour fewer, since a funnel runs an hour past its start hour);
    a daily rollup skips the open day."""
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    midnight = start + dt.timedelta(days=1)
    until = closed - ROLLUP_LOOKBACK.get(name, dt.timedelta(0))
    if until >= midnight:
        return midnight
    if name in HOURLY_ROLLUPS and until > start:
        return until
    return None


def _totals_match_raw(name: str) -> AssetChecksDefinition:
    @asset_check(
        asset=name,
        name=f"{name}_totals_match_raw",
        partitions_def=hourly_partitions,
        description=(
            f"{name} totals for each UTC day equal the same totals over user_behaviors "
            "(closed hours only: the open hour keeps growing)."
        ),
    )
    def _check(
        context: AssetCheckExecutionContext, clickhouse: ClickHouseResource
    ) -> AssetCheckResult:
        cutoff = latest_staged_before(context, user_behaviors.key) or dt.datetime.now(dt.UTC)
        closed = closed_before(cutoff)
        days = {
            day: comparable_before(name, day, closed)
            for day in days_in(context.partition_time_window)
        }
        compared = {day: until for day, until in days.items() if until is not None}
        comparisons = (
            pl.concat(
                [
                    clickhouse.query(f"checks/{name}_vs_raw", {"day": day, "before": until})
                    .with_columns(
                        day=pl.lit(day.isoformat()), before=pl.lit(f"{until:%Y-%m-%d %H}:00")
                    )
                    .select(*COMPARISON_SCHEMA)
                    .cast(COMPARISON_SCHEMA)  # type: ignore[arg-type]
                    for day, until in compared.items()
                ],
            )
            if compared
            else pl.DataFrame(schema=COMPARISON_SCHEMA)
        )
        different = comparisons.filter(pl.col("raw_value") != pl.col("rollup_value"))
        skipped = [day.isoformat() for day, until in days.items() if until is None]
        return AssetCheckResult(
            passed=different.is_empty(),
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"{name} equals raw"
                + (f" (open day {', '.join(skipped)} not compared)." if skipped else ".")
                if different.is_empty()
                else f"{name} disagrees with user_behaviors on {different.height} total(s): "
                f"re-materialize {name} for those days."
            ),
            metadata={
                "rule": "closed days" if name not in HOURLY_ROLLUPS else "closed hours",
                "load_cutoff": MetadataValue.timestamp(cutoff),
                "compared_before": MetadataValue.timestamp(closed),
                "days_skipped": MetadataValue.text(", ".join(skipped) or "none"),
                "comparison": MetadataValue.md(markdown_table(comparisons)),
            },
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
        **{
            name: [Upstream(ROLLUP_SOURCE.get(name, "user_behaviors"), hourly_partitions)]
            for name in ROLLUPS
        },
    },
    hourly_partitions,
    grace=dt.timedelta(minutes=30),
)
