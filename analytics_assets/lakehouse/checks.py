"""Health of the lakehouse: Paimon tables stay plannable (bounded snapshots and small
files) and the warehouse models are alive and refreshed.

The seed alerts when a Paimon table has more than 1000 snapshots (expiry is not working).
Small files are what compaction exists for: when they pile up, every scan opens them all.
"""

import datetime as dt
from typing import Any

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    Config,
    MetadataValue,
    asset_check,
)

from analytics_assets.check_history import latest_staged_before
from analytics_assets.health.freshness import Upstream, partition_freshness_checks
from analytics_assets.lakehouse.dimensions import read_table
from analytics_assets.lakehouse.maintenance import table_health
from analytics_assets.lakehouse.warehouse import HOURLY_LAKE_TABLES
from analytics_assets.partitions import daily_partitions, hourly_partitions, hours_in
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.warehouse import LakeWarehouse
from analytics_lib.lake_tables import (
    DIM_ORDERS,
    LAKE_TABLES,
    ODS_EVENTS_CORE,
    ODS_EVENTS_DEBUG,
)
from analytics_lib.metadata import markdown_table
from analytics_lib.paimon.table_spec import TableSpec
from analytics_lib.raw_log import sa_events
from analytics_lib.warehouse_models import MODELS, WarehouseModel


class LakeTableLimits(Config):
    """Limits, adjustable per run from the launchpad (the seed's alert is at 1000)."""

    snapshot_limit: int = 1000
    small_file_limit: int = 500


# StarRocks refreshes the views every 10 minutes; three missed refreshes is an incident.
MV_REFRESH_MAX_AGE = dt.timedelta(minutes=30)


def _health_or_none(paimon: PaimonLake, table: str) -> dict[str, object] | None:
    return table_health(paimon.metadata(table)) if paimon.table_exists(table) else None


def _snapshot_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        asset=table,
        name=f"{table}_snapshot_count",
        description=(
            "At most 1000 snapshots are retained (seed: snapshot_count > 1000 means expiry "
            "has stopped working)."
        ),
    )
    def _check(
        context: AssetCheckExecutionContext, config: LakeTableLimits, paimon: PaimonLake
    ) -> AssetCheckResult:
        health = _health_or_none(paimon, table)
        if health is None:
            return AssetCheckResult(passed=True, description=f"{table} is not created yet.")
        count = int(health["snapshot_count"])  # type: ignore[call-overload]
        passed = count <= config.snapshot_limit
        return AssetCheckResult(
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"{count} snapshots retained."
                if passed
                else f"{count} snapshots retained (limit {config.snapshot_limit}): run the "
                "lake_maintenance job and read its expire_snapshots step (a consumer or tag "
                "may be pinning old snapshots)."
            ),
            metadata={
                key: int(health[key])  # type: ignore[call-overload]
                for key in ("snapshot_count", "earliest_snapshot", "latest_snapshot", "tags")
            },
        )

    return _check


def _small_files_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        asset=table,
        name=f"{table}_small_files",
        description=("At most 500 live data files are below the compaction target size."),
    )
    def _check(
        context: AssetCheckExecutionContext, config: LakeTableLimits, paimon: PaimonLake
    ) -> AssetCheckResult:
        health = _health_or_none(paimon, table)
        if health is None:
            return AssetCheckResult(passed=True, description=f"{table} is not created yet.")
        small, live = int(health["small_files"]), int(health["live_files"])  # type: ignore[call-overload]
        passed = small <= config.small_file_limit
        return AssetCheckResult(
            passed=passed,
            severity=AssetCheckSeverity.WARN,
            description=(
                f"{small} of {live} live files are small."
                if passed
                else f"{small} of {live} live files are small (limit {config.small_file_limit}): "
                "scans slow down; run lake_maintenance (compact) and check its schedule."
            ),
            metadata={"small_files": small, "live_files": live},
        )

    return _check


def staged_records_per_hour(
    raw_event_log: RawEventLog, hour: dt.datetime, written_before: dt.datetime | None
) -> dict[bool, int]:
    """Distinct staged records of an hour by validity: what the ODS load keeps (it drops
    at-least-once duplicates by dedup key)."""
    records, _ = raw_event_log.read_hour(sa_events.CONTRACT, hour, written_before)
    frame = pl.from_arrow(records.select(["dedup_key", "is_valid"]))
    assert isinstance(frame, pl.DataFrame)
    unique = frame.unique(subset="dedup_key", keep="first")
    return {valid: unique.filter(pl.col("is_valid") == valid).height for valid in (True, False)}


def ods_rows_per_hour(paimon: PaimonLake, table: str, days: list[str]) -> dict[dt.datetime, int]:
    """Rows of an ODS table per event hour in the given `dt` partitions."""
    if not paimon.table_exists(table):
        return {}
    frames = [read_table(paimon, table, ["time", "dt"], day).select("time") for day in days]
    times = pl.concat(frames) if frames else pl.DataFrame(schema={"time": pl.Datetime("ms")})
    counts = times.group_by(pl.col("time").dt.truncate("1h").alias("hour")).len("rows")
    return {hour.replace(tzinfo=dt.UTC): rows for hour, rows in counts.iter_rows()}


def _reconciliation_check(spec: TableSpec, valid: bool) -> AssetChecksDefinition:
    what = "valid" if valid else "invalid"

    @asset_check(
        asset=spec.name,
        name=f"{spec.name}_reconciles_with_staging",
        partitions_def=hourly_partitions,
        description=(
            f"Per hour, the table holds exactly the distinct {what} staged records the newest "
            "load saw (raw → ODS)."
        ),
    )
    def _check(
        context: AssetCheckExecutionContext, raw_event_log: RawEventLog, paimon: PaimonLake
    ) -> AssetCheckResult:
        hours = hours_in(context.partition_time_window)
        cutoff = latest_staged_before(context, AssetKey(spec.name))
        in_lake = ods_rows_per_hour(paimon, spec.name, sorted({f"{h:%Y-%m-%d}" for h in hours}))
        table = pl.DataFrame(
            [
                {
                    "hour": f"{hour:%Y-%m-%d %H}:00",
                    "staged": staged_records_per_hour(raw_event_log, hour, cutoff)[valid],
                    "ods": in_lake.get(hour, 0),
                }
                for hour in hours
            ],
            schema={"hour": pl.String, "staged": pl.Int64, "ods": pl.Int64},
        )
        mismatched = table.filter(pl.col("staged") != pl.col("ods"))
        return AssetCheckResult(
            passed=mismatched.is_empty(),
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"Staging and {spec.name} agree."
                if mismatched.is_empty()
                else f"{mismatched.height} hour(s) differ between staging and {spec.name}: "
                "re-materialize those partitions of the ODS."
            ),
            metadata={
                "staged_records": int(table["staged"].sum()),
                "ods_rows": int(table["ods"].sum()),
                "mismatched_hours": MetadataValue.md(markdown_table(mismatched.head(24))),
            },
        )

    return _check


# Run with each ODS load (same partitions), not on the health schedule.
ods_reconciliation_checks = [
    _reconciliation_check(ODS_EVENTS_CORE, valid=True),
    _reconciliation_check(ODS_EVENTS_DEBUG, valid=False),
]


def mv_problems(state: dict[str, Any], now: dt.datetime) -> list[str]:
    """What is wrong with a model, from `LakeWarehouse.model_state` (empty when healthy).

    StarRocks reports activity and the last refresh (information_schema); the embedded
    warehouse only whether the table exists.
    """
    if not state.get("exists"):
        return ["the model does not exist: materialize it (or deploy the StarRocks views)"]
    if state.get("engine") != "starrocks":
        return []
    problems = []
    if str(state.get("is_active", "")).lower() != "true":
        problems.append(
            f"the view is inactive ({state.get('inactive_reason') or 'no reason given'}): "
            "ALTER MATERIALIZED VIEW … ACTIVE after fixing its base tables"
        )
    refresh_state = str(state.get("last_refresh_state", "")).upper()
    if refresh_state and refresh_state not in ("SUCCESS", "RUNNING", "PENDING"):
        problems.append(
            f"the last refresh is {refresh_state}: {state.get('last_refresh_error_message') or ''}"
        )
    finished = state.get("last_refresh_finished_time")
    if finished and finished != "None":
        finished_at = dt.datetime.fromisoformat(str(finished)).replace(tzinfo=dt.UTC)
        if now - finished_at > MV_REFRESH_MAX_AGE:
            problems.append(
                f"the last refresh finished at {finished_at:%Y-%m-%d %H:%M} UTC, more than "
                f"{MV_REFRESH_MAX_AGE} ago: the view is stale"
            )
    else:
        problems.append("the view has never refreshed")
    return problems


def _ever_materialized(context: AssetCheckExecutionContext, asset: str) -> bool:
    return context.instance.get_latest_materialization_event(AssetKey(asset)) is not None


def _model_check(model: WarehouseModel) -> AssetChecksDefinition:
    @asset_check(
        asset=model.name,
        name=f"{model.name}_refreshing",
        description=(
            "The model exists once it was materialized; on StarRocks the materialized view is "
            f"active, its last refresh succeeded and finished less than {MV_REFRESH_MAX_AGE} ago."
        ),
    )
    def _check(context: AssetCheckExecutionContext, warehouse: LakeWarehouse) -> AssetCheckResult:
        state = warehouse.model_state(model)
        # Before its first materialization a model cannot exist (a new deployment, or the
        # demo's first minutes): whether it is built in time is its freshness check's job.
        if not state.get("exists") and not _ever_materialized(context, model.name):
            return AssetCheckResult(
                passed=True,
                description=f"{model.qualified_name} is not built yet: automation builds it "
                "once its inputs land (its freshness check says when that is late).",
                metadata={f"state/{k}": str(v) for k, v in state.items()},
            )
        problems = mv_problems(state, dt.datetime.now(dt.UTC))
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(problems) or f"{model.qualified_name} is healthy.",
            metadata={f"state/{k}": str(v) for k, v in state.items()},
        )

    return _check


# The time-partitioned parents of the daily models (dim_user_mapping is not partitioned:
# it says nothing about whether a day had data).
PARTITIONED_PARENTS = {
    **{name: Upstream(name, hourly_partitions) for name in HOURLY_LAKE_TABLES},
    DIM_ORDERS.name: Upstream(DIM_ORDERS.name, daily_partitions),
    **{name: Upstream(name, daily_partitions) for name in MODELS},
}


def model_upstream(model: WarehouseModel) -> list[Upstream]:
    return [
        PARTITIONED_PARENTS[name]
        for name in (*model.lake_tables, *model.models)
        if name in PARTITIONED_PARENTS
    ]


raw_sa_events_upstream = [Upstream("raw_sa_events", hourly_partitions)]
lake_health_checks = [
    # ODS: reloaded at :05 and :15, so the previous hour is final by :30.
    *partition_freshness_checks(
        {
            ODS_EVENTS_CORE.name: raw_sa_events_upstream,
            ODS_EVENTS_DEBUG.name: raw_sa_events_upstream,
        },
        hourly_partitions,
        dt.timedelta(minutes=30),
    ),
    # Daily models: yesterday is refreshed a last time at 00:50.
    *partition_freshness_checks(
        {
            DIM_ORDERS.name: [PARTITIONED_PARENTS[ODS_EVENTS_CORE.name]],
            **{name: model_upstream(model) for name, model in MODELS.items()},
        },
        daily_partitions,
        dt.timedelta(minutes=75),
    ),
    *[_snapshot_check(spec.name) for spec in LAKE_TABLES],
    *[_small_files_check(spec.name) for spec in LAKE_TABLES],
    *[_model_check(model) for model in MODELS.values()],
]
