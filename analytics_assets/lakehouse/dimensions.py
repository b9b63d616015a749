"""Dimensions the DWD joins: the user id dictionary and the business orders, as Paimon
tables next to the ODS so StarRocks reads them through the same catalog.

Orders are the business system's record; in the Sensors data model the server-side
`PayOrder` event carries them (`order_id`, `order_amount`), so `dim_orders` is derived
from CORE, one row per order. The user dictionary gives every distinct_id a stable BIGINT
(StarRocks bitmaps need integers) and never reuses or renumbers one.
"""

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from analytics_assets import ownership
from analytics_assets.automation import DAILY_LOOKBACK, after_upstream_update
from analytics_assets.partitions import daily_partitions, days_in, on_hours_of_the_day
from analytics_assets.resources.paimon import PAIMON_POOL, PaimonLake
from analytics_assets.table_metadata import paimon_location, paimon_metadata
from analytics_lib.lake_tables import DIM_ORDERS, DIM_USER_MAPPING, ODS_EVENTS_CORE
from analytics_lib.metadata import markdown_table
from analytics_lib.paimon.commit import CommitConflict, commit_entries
from analytics_lib.paimon.datafiles import discard, write_rows
from analytics_lib.paimon.files import FILE_SOURCE_APPEND, TableMetadata
from analytics_lib.paimon.slices import replace_slice

if TYPE_CHECKING:
    from pypaimon.manifest.schema.manifest_entry import ManifestEntry
    from pypaimon.snapshot.snapshot import Snapshot

ID_ATTEMPTS = 5


def read_table(
    paimon: PaimonLake, name: str, columns: list[str], day: str | None = None
) -> pl.DataFrame:
    """Columns of a lake table (one `dt` partition if given) through pypaimon."""
    table = paimon.table(name)
    builder = table.new_read_builder().with_projection(columns)
    if day is not None:
        builder = builder.with_filter(builder.new_predicate_builder().equal("dt", day))
    frame = pl.from_arrow(builder.new_read().to_arrow(builder.new_scan().plan().splits()))
    assert isinstance(frame, pl.DataFrame)
    return frame.select(columns) if frame.width else pl.DataFrame(schema=columns)


def orders_of_day(core: pl.DataFrame) -> pl.DataFrame:
    """One row per order from the day's PayOrder events (a replayed event is one order)."""
    props = pl.col("properties")
    return (
        core.filter(pl.col("event") == "PayOrder")
        .with_columns(
            props.str.json_path_match("$.order_id").alias("order_id"),
            props.str.json_path_match("$.order_amount").cast(pl.Float64).alias("amount"),
        )
        .filter(pl.col("order_id").is_not_null())
        .sort("time")
        .unique(subset="order_id", keep="first", maintain_order=True)
        .select(
            "order_id",
            pl.col("distinct_id").alias("user_id"),
            pl.col("time").alias("created_at"),
            pl.col("amount").round(2),
            "project",
            "dt",
        )
    )


@asset(
    deps=[on_hours_of_the_day(ODS_EVENTS_CORE.name)],
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=after_upstream_update(DAILY_LOOKBACK),
    pool=PAIMON_POOL,
    group_name=ownership.LAKEHOUSE,
    kinds={"paimon"},
    owners=ownership.ANALYTICS_PLATFORM,
    tags={"layer": "dim"},
    metadata=paimon_metadata(DIM_ORDERS),
    description=(
        "Paimon `ods.dim_orders`: one row per business order (order_id, user, created_at, "
        "amount), partitioned by `dt`; taken from the day's `PayOrder` events in CORE. "
        "Re-materializing a day (or a range of days, in one run) replaces it."
    ),
)
def dim_orders(context: AssetExecutionContext, paimon: PaimonLake) -> MaterializeResult:
    paimon.ensure_table(DIM_ORDERS)
    source = paimon.table_exists("ods_events_core")
    per_day = []
    snapshot_id: int | None = None
    for day in days_in(context.partition_time_window):
        key = f"{day:%Y-%m-%d}"
        rows, amount, snapshot_id = _replace_orders_of_day(paimon, key, source, context.run_id)
        per_day.append({"dt": key, "orders": rows, "order_amount": amount})
        context.log.info(f"dim_orders {key}: {rows} orders (snapshot {snapshot_id})")
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(d["orders"] for d in per_day),
            "order_amount": round(sum(d["order_amount"] for d in per_day), 2),
            "snapshot_id": snapshot_id or 0,
            "per_day": MetadataValue.md(markdown_table(pl.DataFrame(per_day))),
            **paimon_location(paimon, DIM_ORDERS.name),
        }
    )


def _replace_orders_of_day(
    paimon: PaimonLake, key: str, source: bool, run_id: str
) -> tuple[int, float, int | None]:
    """Make the day's orders the only rows of its `dt` partition: (orders, amount, snapshot)."""
    core = (
        read_table(
            paimon,
            "ods_events_core",
            ["event", "properties", "distinct_id", "time", "project", "dt"],
            key,
        )
        if source
        else pl.DataFrame()
    )
    orders = orders_of_day(core) if core.height else pl.DataFrame()
    rows = (
        orders.to_arrow().cast(DIM_ORDERS.schema)
        if orders.height
        else DIM_ORDERS.schema.empty_table()
    )
    start = dt.datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    report = replace_slice(
        paimon.metadata(DIM_ORDERS.name),
        paimon.create_if_absent(),
        partition=(key,),
        time_column="created_at",
        start=start,
        end=start + dt.timedelta(days=1),
        rows=rows,
        properties={"dagster.run_id": run_id, "dagster.day": key},
    )
    amount = float(orders["amount"].sum()) if orders.height else 0.0
    return rows.num_rows, amount, report.snapshot_id


@asset(
    deps=[AssetKey("ods_events_core")],
    automation_condition=after_upstream_update(),
    pool=PAIMON_POOL,
    group_name=ownership.LAKEHOUSE,
    kinds={"paimon"},
    owners=ownership.ANALYTICS_PLATFORM,
    tags={"layer": "dim"},
    metadata=paimon_metadata(DIM_USER_MAPPING),
    description=(
        "Paimon `ods.dim_user_mapping`: a global dictionary distinct_id → id_int (BIGINT, "
        "dense, never reused). Each materialization appends the ids CORE has that the "
        "dictionary lacks."
    ),
)
def dim_user_mapping(context: AssetExecutionContext, paimon: PaimonLake) -> MaterializeResult:
    table = paimon.ensure_table(DIM_USER_MAPPING)
    if not paimon.table_exists("ods_events_core"):
        return MaterializeResult(
            metadata={
                "dagster/row_count": 0,
                "new_ids": 0,
                **paimon_location(paimon, DIM_USER_MAPPING.name),
            }
        )
    seen = (
        read_table(paimon, "ods_events_core", ["distinct_id", "time"])
        .drop_nulls("distinct_id")
        .group_by("distinct_id")
        .agg(pl.col("time").min().alias("first_seen"))
    )
    for _attempt in range(ID_ATTEMPTS):
        metadata = paimon.metadata(DIM_USER_MAPPING.name)
        read_at = metadata.latest_snapshot()
        existing = read_table(paimon, DIM_USER_MAPPING.name, ["user_id", "id_int"])
        start = int(existing["id_int"].max() or 0) if existing.height else 0
        new = (
            seen.join(existing, left_on="distinct_id", right_on="user_id", how="anti")
            .sort("first_seen", "distinct_id")
            .with_row_index("offset", offset=1)
            .select(
                pl.col("distinct_id").alias("user_id"),
                (pl.col("offset").cast(pl.Int64) + start).alias("id_int"),
                "first_seen",
            )
        )
        if not new.height:
            break
        entries = write_rows(
            table, new.to_arrow().cast(DIM_USER_MAPPING.schema), FILE_SOURCE_APPEND
        )
        try:
            commit_entries(
                table,
                paimon.create_if_absent(),
                "APPEND",
                _ids_unchanged(metadata, read_at, entries),
            )
        except CommitConflict:
            discard(metadata, entries)
            continue
        break
    else:
        raise CommitConflict(
            f"dim_user_mapping: ids allocated elsewhere {ID_ATTEMPTS} times in a row"
        )
    context.log.info(f"dim_user_mapping: {new.height} new id(s) after {existing.height}")
    return MaterializeResult(
        metadata={
            "dagster/row_count": existing.height + new.height,
            "new_ids": new.height,
            **paimon_location(paimon, DIM_USER_MAPPING.name),
        }
    )


def _ids_unchanged(
    metadata: TableMetadata, read_at: "Snapshot | None", entries: list["ManifestEntry"]
) -> Callable[["Snapshot | None"], list["ManifestEntry"]]:
    """The commit's plan for new ids: they were numbered from the dictionary as of
    `read_at`, so any commit since that is not a compaction (another run's new ids) makes
    them collide; the run then re-reads and renumbers. No lock is held while reading and
    writing (the table lock is taken around the snapshot write only, as Java does)."""

    def plan(latest: "Snapshot | None") -> list["ManifestEntry"]:
        first = read_at.id + 1 if read_at else 1
        for snapshot_id in range(first, latest.id + 1 if latest else first):
            snapshot = metadata.snapshot(snapshot_id)
            if snapshot is None or snapshot.commit_kind != "COMPACT":
                raise CommitConflict(f"dim_user_mapping changed in snapshot {snapshot_id}")
        return entries

    return plan
