"""`raw_sa_events` (staging files) → Paimon ODS `ods_events_core` / `ods_events_debug`,
one UTC hour at a time.

The tables are partitioned by day (`dt`, as the seed's DDL), the loads are hourly: each
load replaces exactly its hour of the day partition (copy-on-write, see
`paimon.slices`), so re-materializing an hour, or a range in a backfill, is idempotent.
Valid events go to CORE (the seed's rule); invalid ones to DEBUG, kept queryable.
"""

import datetime as dt
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from analytics_assets import ownership
from analytics_assets.automation import on_upstream_update
from analytics_assets.check_history import STAGED_BEFORE
from analytics_assets.ingest.raw_streams import raw_sa_events
from analytics_assets.partitions import hourly_partitions, hours_in
from analytics_assets.resources.paimon import PAIMON_POOL, PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.table_metadata import paimon_location, paimon_metadata
from analytics_lib.lake_tables import (
    ODS_EVENTS_CORE,
    ODS_EVENTS_DEBUG,
    ODS_SCHEMA,
    TableSpec,
)
from analytics_lib.metadata import markdown_table
from analytics_lib.paimon.slices import SliceReport, replace_slice
from analytics_lib.raw_log import sa_events


def to_ods_rows(records: pa.Table) -> pa.Table:
    """Raw sa_events → ODS rows: at-least-once duplicates dropped (same dedup key: the
    SDK's `_track_id`, distinct_id and time), UTC wall-clock timestamps, `dt` added."""
    unique = pl.from_arrow(records)
    assert isinstance(unique, pl.DataFrame)
    unique = unique.unique(subset="dedup_key", keep="first", maintain_order=True)
    frame = unique.with_columns(
        pl.col("time").dt.replace_time_zone(None),
        pl.col("received_at").dt.replace_time_zone(None),
        pl.col("time").dt.strftime("%Y-%m-%d").alias("dt"),
    )
    return frame.to_arrow().select(ODS_SCHEMA.names).cast(ODS_SCHEMA)


@dataclass(frozen=True)
class HourLoad:
    hour: dt.datetime
    staged_files: int
    records: int
    duplicates: int
    per_table: dict[str, SliceReport]


def load_hour(
    raw_event_log: RawEventLog,
    paimon: PaimonLake,
    hour: dt.datetime,
    tables: list[TableSpec],
    run_id: str,
    written_before: dt.datetime | None = None,
) -> HourLoad:
    """Replace one hour in each of `tables` (which must exist: `ensure_table` first) with
    the hour's staged files (those landed before `written_before`, if given)."""
    records, files = raw_event_log.read_hour(sa_events.CONTRACT, hour, written_before)
    rows = to_ods_rows(records)
    valid = pc.fill_null(rows["is_valid"], False)
    parts = {
        ODS_EVENTS_CORE.name: rows.filter(valid),
        ODS_EVENTS_DEBUG.name: rows.filter(pc.invert(valid)),
    }
    reports = {}
    for spec in tables:
        reports[spec.name] = replace_slice(
            paimon.metadata(spec.name),
            paimon.create_if_absent(),
            partition=(f"{hour:%Y-%m-%d}",),
            time_column="time",
            start=hour.replace(tzinfo=dt.UTC),
            end=hour.replace(tzinfo=dt.UTC) + dt.timedelta(hours=1),
            rows=parts[spec.name],
            properties={"dagster.run_id": run_id, "dagster.hour": f"{hour:%Y-%m-%dT%H}"},
        )
    return HourLoad(hour, len(files), records.num_rows, records.num_rows - rows.num_rows, reports)


_SPECS = {spec.name: spec for spec in (ODS_EVENTS_CORE, ODS_EVENTS_DEBUG)}


def _ods_spec(spec: TableSpec, description: str) -> AssetSpec:
    """CORE and DEBUG differ only in what they hold."""
    return AssetSpec(
        spec.name,
        deps=[raw_sa_events],
        description=description,
        partitions_def=hourly_partitions,
        automation_condition=on_upstream_update(),
        group_name=ownership.LAKEHOUSE,
        kinds={"paimon", "s3"},
        owners=ownership.ANALYTICS_PLATFORM,
        tags={"layer": "ods"},
        metadata=paimon_metadata(spec),
        skippable=True,
    )


@multi_asset(
    specs=[
        _ods_spec(
            ODS_EVENTS_CORE,
            "Paimon ODS `ods.ods_events_core`: valid Sensors events with the collector's "
            "enrichment (UA, GeoIP JSON, whitelist meta, event_group), append-only, "
            "partitioned by `dt`, 4 buckets on `distinct_id`. The lakehouse's source of "
            "truth: time travel and replays start here.",
        ),
        _ods_spec(
            ODS_EVENTS_DEBUG,
            "Paimon ODS `ods.ods_events_debug`: events with `is_valid = false` (SDK rule "
            "broken or whitelist miss) with `invalid_reason`, same layout as CORE, kept "
            "30 days for debugging producers.",
        ),
    ],
    can_subset=True,
    backfill_policy=BackfillPolicy.single_run(),
    pool=PAIMON_POOL,
)
def ods_events(context: AssetExecutionContext, raw_event_log: RawEventLog, paimon: PaimonLake):  # type: ignore[no-untyped-def]
    selected = [_SPECS[key.path[-1]] for key in context.selected_asset_keys]
    hours = hours_in(context.partition_time_window)
    for hour in hours:  # refuse the whole range before writing anything
        raw_event_log.check_hour(sa_events.CONTRACT, hour)
    for spec in selected:
        paimon.ensure_table(spec)
    loads = []
    # The open hour keeps receiving files while this runs; the reconciliation check counts
    # exactly the files that had landed when the load listed them.
    staged_before = dt.datetime.now(dt.UTC)
    for position, hour in enumerate(hours, start=1):
        load = load_hour(raw_event_log, paimon, hour, selected, context.run_id, staged_before)
        loads.append(load)
        counts = ", ".join(f"{name} {r.rows_written}" for name, r in load.per_table.items())
        context.log.info(
            f"[{position}/{len(hours)}] {hour:%Y-%m-%d %H}:00 UTC: {load.records} records from "
            f"{load.staged_files} file(s), {load.duplicates} duplicate(s) dropped → {counts}"
        )
    for spec in selected:
        per_hour = pl.DataFrame(
            {
                "hour": [f"{load.hour:%Y-%m-%d %H}:00" for load in loads],
                "rows": [load.per_table[spec.name].rows_written for load in loads],
                "files_replaced": [
                    load.per_table[spec.name].files_dropped
                    + load.per_table[spec.name].files_rewritten
                    for load in loads
                ],
            }
        )
        metadata = paimon.metadata(spec.name)
        latest = metadata.latest_snapshot()
        yield MaterializeResult(
            asset_key=spec.name,
            metadata={
                "dagster/row_count": sum(load.per_table[spec.name].rows_written for load in loads),
                "hours_loaded": len(loads),
                STAGED_BEFORE: MetadataValue.timestamp(staged_before),
                "duplicates_dropped": sum(load.duplicates for load in loads),
                "snapshot_id": latest.id if latest else 0,
                "table_total_rows": latest.total_record_count if latest else 0,
                "per_hour": MetadataValue.md(markdown_table(per_hour.tail(48))),
                **paimon_location(paimon, spec.name),
            },
        )
