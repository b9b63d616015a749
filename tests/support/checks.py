"""Running asset checks the way Dagster runs them, for tests."""

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetChecksDefinition,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    PartitionsDefinition,
    define_asset_job,
)
from dagster._core.storage.tags import PARTITION_NAME_TAG


def evaluate(
    checks: Sequence[AssetChecksDefinition],
    resources: dict[str, Any],
    instance: DagsterInstance,
    run_config: dict[str, Any] | None = None,
    partitions_def: PartitionsDefinition | None = None,
    partition_key: str | None = None,
) -> dict[str, AssetCheckEvaluation]:
    """Run `checks` as one Dagster job (of one partition, for partitioned checks); the
    evaluations by check name. Their assets are stand-in specs: a check reads its state
    from the resources and the instance, never from the asset definition."""
    keys = {key.asset_key for check in checks for key in check.check_keys}
    job = define_asset_job(
        "checks_under_test",
        selection=AssetSelection.checks(*checks),
        partitions_def=partitions_def,
    )
    defs = Definitions(
        assets=[AssetSpec(key, partitions_def=partitions_def) for key in keys],
        asset_checks=list(checks),
        jobs=[job],
        resources=resources,
    )
    result = defs.resolve_job_def("checks_under_test").execute_in_process(
        instance=instance,
        run_config=run_config or {},
        # As a tag: execute_in_process validates `partition_key` against selected assets,
        # and a checks-only run selects none.
        tags={PARTITION_NAME_TAG: partition_key} if partition_key else None,
    )
    assert result.success
    return {
        event.event_specific_data.check_name: event.event_specific_data  # type: ignore[union-attr]
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def named(checks: Sequence[AssetChecksDefinition], *names: str) -> list[AssetChecksDefinition]:
    chosen = [c for c in checks if any(k.name in names for k in c.check_keys)]
    assert len(chosen) == len(names), names
    return chosen
