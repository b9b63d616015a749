"""Lake maintenance as a Dagster job: per table, in Java Paimon's order (compaction →
manifest merge → partition expiration → snapshot expiry → orphan cleanup), each commit
under the table lock as Java's are. Each step is its own idempotent commit or deletion;
a failed run is simply run again. Results land on the table's asset as observations, so
the UI shows snapshot counts and file counts going down."""

import datetime as dt
from dataclasses import asdict

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.paimon import PAIMON_POOL, PaimonLake
from analytics_lib.lake_tables import LAKE_TABLES, TableSpec
from analytics_lib.paimon.compaction import compact
from analytics_lib.paimon.expire import expire_snapshots
from analytics_lib.paimon.files import TableMetadata
from analytics_lib.paimon.manifests import merge_manifests
from analytics_lib.paimon.orphans import clean_orphan_files
from analytics_lib.paimon.partition_expire import expire_partitions

STEPS = ("compact", "merge_manifests", "expire_partitions", "expire_snapshots", "clean_orphans")


class MaintenanceConfig(Config):
    steps: list[str] = Field(default_factory=lambda: list(STEPS))
    orphan_older_than_hours: float = 24.0
    orphan_dry_run: bool = False
    # "python": the port in analytics_lib/paimon/ (the path; see the README's numbers);
    # "flink": Java Paimon's own procedures, one Flink batch submission per table.
    engine: str = "python"


def table_health(metadata: TableMetadata) -> dict[str, object]:
    """What the UI and the checks look at: snapshot count (the seed alerts above 1000),
    live and small files, manifests to plan through."""
    ids = metadata.snapshot_ids()
    latest = metadata.snapshot(ids[-1]) if ids else None
    live = metadata.live_entries(latest) if latest else []
    small = metadata.options.compaction_file_size
    return {
        "snapshot_count": len(ids),
        "earliest_snapshot": ids[0] if ids else 0,
        "latest_snapshot": ids[-1] if ids else 0,
        "live_files": len(live),
        "small_files": sum(1 for e in live if e.file.file_size < small),
        "live_bytes": sum(e.file.file_size for e in live),
        "manifests": len(metadata.manifests_of(latest)) if latest else 0,
        "total_rows": latest.total_record_count if latest else 0,
        "tags": len(metadata.tagged_snapshots()),
    }


def maintain_table(
    context: OpExecutionContext,
    paimon: PaimonLake,
    spec: TableSpec,
    config: MaintenanceConfig,
    flink: FlinkResource | None = None,
) -> dict[str, object]:
    unknown = set(config.steps) - set(STEPS)
    if unknown:
        raise ValueError(f"unknown maintenance steps {sorted(unknown)}; choose from {STEPS}")
    if config.engine not in ("python", "flink"):
        raise ValueError(
            f"MaintenanceConfig.engine must be 'python' or 'flink', not {config.engine!r}"
        )
    if not paimon.table_exists(spec.name):
        context.log.info(f"{spec.name}: not created yet, nothing to maintain")
        return {}
    create_if_absent = paimon.create_if_absent()
    results: dict[str, object] = {}
    with paimon.maintaining(spec.name, config.engine) as metadata:
        before = table_health(metadata)
        if config.engine == "flink":
            if flink is None:
                raise ValueError("engine 'flink' needs the flink resource")
            run = paimon.maintain_with_flink(
                spec.name,
                flink.ensure_cluster(),
                [step for step in STEPS if step in config.steps],
                orphan_older_than=dt.timedelta(hours=config.orphan_older_than_hours),
                orphan_dry_run=config.orphan_dry_run,
                full_compact_before=dt.datetime.now(dt.UTC).date(),
            )
            results = {"flink": run}
            context.log.info(f"{spec.name}: Java Paimon via Flink: {_summary(run)}")
        for step in STEPS if config.engine == "python" else ():
            if step not in config.steps:
                continue
            metadata = paimon.metadata(spec.name)  # fresh view after the previous commit
            if step == "compact":
                today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                result: object = compact(metadata, create_if_absent, full_before=today)
            elif step == "merge_manifests":
                result = merge_manifests(metadata, create_if_absent)
            elif step == "expire_partitions":
                result = expire_partitions(metadata, create_if_absent)
            elif step == "expire_snapshots":
                result = expire_snapshots(metadata)
            else:
                result = clean_orphan_files(
                    metadata,
                    older_than=dt.timedelta(hours=config.orphan_older_than_hours),
                    dry_run=config.orphan_dry_run,
                )
            results[step] = result
            context.log.info(f"{spec.name}: {step}: {_summary(result)}")
        after = table_health(paimon.metadata(spec.name))
    context.log_event(
        AssetObservation(
            asset_key=AssetKey(spec.name),
            metadata={
                **after,  # type: ignore[arg-type]
                "maintenance_before": MetadataValue.json(before),
                "maintenance": MetadataValue.json(
                    {step: _summary(result) for step, result in results.items()}
                ),
            },
        )
    )
    return after


def _summary(result: object) -> dict[str, object]:
    data = asdict(result)  # type: ignore[call-overload]
    for key, value in list(data.items()):
        if isinstance(value, list) and len(value) > 20:
            data[key] = [*value[:20], f"... {len(value) - 20} more"]
        elif isinstance(value, dt.datetime):
            data[key] = value.isoformat()
    return data


def _maintenance_op(spec: TableSpec):  # type: ignore[no-untyped-def]
    @op(name=f"maintain_{spec.name}", pool=PAIMON_POOL, tags={"kind": "paimon"})
    def maintain(
        context: OpExecutionContext,
        paimon: PaimonLake,
        flink: FlinkResource,
        config: MaintenanceConfig,
    ) -> None:
        maintain_table(context, paimon, spec, config, flink)

    maintain.__doc__ = (
        f"Compact, merge manifests, expire partitions and snapshots, clean orphans of {spec.name}."
    )
    return maintain


_OPS = [_maintenance_op(spec) for spec in LAKE_TABLES]


@job(
    description=(
        "Paimon maintenance for every lake table: small-file compaction (COMPACT snapshots), "
        "manifest merge, partition expiration (partition.expiration-time), snapshot expiry "
        "(snapshot.num-retained.*, snapshot.time-retained; tags and consumers respected) and "
        "orphan file cleanup (older than 24 h). Safe to re-run at any time."
    ),
    tags={"kind": "paimon"},
)
def lake_maintenance() -> None:
    for maintain in _OPS:
        maintain()


lake_maintenance_schedule = ScheduleDefinition(
    job=lake_maintenance,
    cron_schedule="25 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly, at :25, between the behavior loads: keeps snapshot counts and small files bounded.",
)
