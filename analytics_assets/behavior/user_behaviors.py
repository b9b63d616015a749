"""`raw_behaviors` (staging files) → `user_behaviors` (ClickHouse), one UTC hour at a time."""

import datetime as dt
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analytics_assets import ownership
from analytics_assets.automation import on_upstream_update
from analytics_assets.check_history import STAGED_BEFORE
from analytics_assets.partitions import (
    days_in,
    hourly_partitions,
    hours_in,
    require_within_retention,
)
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.table_metadata import (
    clickhouse_location,
    clickhouse_metadata,
    stream_metadata,
)
from analytics_lib.metadata import markdown_table
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.storage import StagedFile

raw_behaviors = AssetSpec(
    "raw_behaviors",
    description=(
        "Recommendation behaviors in the raw event log: Parquet files under "
        "`behaviors/dt=YYYY-MM-DD/hour=HH/`, bucketed by event hour, written atomically by the "
        "collector (or the demo traffic generator). A row is one accepted behavior event."
    ),
    partitions_def=hourly_partitions,
    group_name=ownership.BEHAVIOR_ANALYTICS,
    kinds={"parquet", "s3"},
    owners=ownership.ANALYTICS_PLATFORM,
    tags={"layer": "raw"},
    metadata=stream_metadata(behaviors.CONTRACT),
)


@dataclass(frozen=True)
class HourBatch:
    hour: dt.datetime
    events: pa.Table
    files: list[StagedFile]
    duplicates_dropped: int


def read_hour(
    raw_event_log: RawEventLog, hour: dt.datetime, written_before: dt.datetime | None = None
) -> HourBatch:
    """Read and validate one hour; at-least-once duplicates (same event_id) are dropped."""
    table, files = raw_event_log.read_hour(behaviors.CONTRACT, hour, written_before)
    events, duplicates = behaviors.for_clickhouse(table)
    return HourBatch(hour, events, files, duplicates)


def clear_hour(clickhouse: ClickHouseResource, hour: dt.datetime) -> None:
    """Delete the hour if it was loaded before (by an earlier run or by the stream sink).
    The lightweight delete masks every part of the day partition (the sort key cannot
    prune by time), so first loads, the common case in backfills, skip it.

    Clear first, read staging second: a file the `clickhouse_sink` Flink job inserts
    while the hour is being replaced was either landed before the read (so the reload
    has it too and ReplacingMergeTree collapses the copies) or after it (so its insert
    comes after the delete and survives). Reading first would let the delete remove
    rows of a file the reload never saw."""
    bounds = {"hour_start": hour, "hour_end": hour + dt.timedelta(hours=1)}
    if clickhouse.query("user_behaviors/hour_row_count", bounds)["row_count"][0] > 0:
        clickhouse.run_script("user_behaviors/delete_hour", bounds)


def insert_hour(clickhouse: ClickHouseResource, batch: HourBatch, attempt: str) -> None:
    """Insert a cleared hour. The dedup token makes a retried insert of the same attempt a
    no-op; it names the attempt (run id + retry number) because a deleted block's token
    stays in the dedup window, so reusing it after a delete would drop the reload."""
    clickhouse.insert_arrow(
        "user_behaviors",
        batch.events,
        dedup_token=f"user_behaviors-{batch.hour:%Y%m%d%H}-{attempt}",
    )


@asset(
    deps=[raw_behaviors],
    partitions_def=hourly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=on_upstream_update(),
    group_name=ownership.BEHAVIOR_ANALYTICS,
    kinds={"clickhouse"},
    owners=ownership.ANALYTICS_PLATFORM,
    tags={"layer": "raw"},
    metadata=clickhouse_metadata("user_behaviors"),
    description=(
        "ClickHouse `user_behaviors`: one row per recommendation behavior event "
        "(impression, click, view, like, share, add_cart, order) with its tenant, scenario, "
        "user, item, device context and experiment group. Loaded per UTC hour from "
        "`raw_behaviors`; re-materializing an hour replaces it, so loads are idempotent."
    ),
)
def user_behaviors(
    context: AssetExecutionContext, clickhouse: ClickHouseResource, raw_event_log: RawEventLog
) -> MaterializeResult:
    hours = hours_in(context.partition_time_window)
    require_within_retention(days_in(context.partition_time_window), "user_behaviors")
    # Every file of the range is checked before anything is written: a bad file fails the
    # run with its name and leaves ClickHouse as it was.
    for hour in hours:
        raw_event_log.check_hour(behaviors.CONTRACT, hour)

    loaded = []
    staged_before = dt.datetime.now(dt.UTC)
    for position, hour in enumerate(hours, start=1):
        clear_hour(clickhouse, hour)
        # The open hour keeps growing: load what landed up to now, and record the cutoff
        # so the reconciliation check compares against the same files.
        staged_before = dt.datetime.now(dt.UTC)
        batch = read_hour(raw_event_log, hour, written_before=staged_before)
        insert_hour(clickhouse, batch, f"{context.run_id}-{context.retry_number}")
        loaded.append(batch)
        context.log.info(
            f"[{position}/{len(hours)}] {hour:%Y-%m-%d %H}:00 UTC: {batch.events.num_rows} events "
            f"from {len(batch.files)} file(s), {batch.duplicates_dropped} duplicate(s) dropped"
        )

    rows = sum(b.events.num_rows for b in loaded)
    per_hour = pl.DataFrame(
        {
            "hour": [f"{b.hour:%Y-%m-%d %H}:00" for b in loaded],
            "events": [b.events.num_rows for b in loaded],
            "files": [len(b.files) for b in loaded],
            "duplicates_dropped": [b.duplicates_dropped for b in loaded],
        }
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "hours_loaded": len(loaded),
            STAGED_BEFORE: MetadataValue.timestamp(staged_before),
            "staging_files": sum(len(b.files) for b in loaded),
            "staging_bytes": MetadataValue.int(sum(f.size_bytes for b in loaded for f in b.files)),
            "duplicates_dropped": sum(b.duplicates_dropped for b in loaded),
            "schema_version": clickhouse.schema_version(),
            "per_hour": MetadataValue.md(markdown_table(per_hour.tail(48))),
            **clickhouse_location(clickhouse.url, "user_behaviors"),
        }
    )
