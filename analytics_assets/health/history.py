"""What a check saw last time: counters are cumulative, so a rate over "since the last
evaluation" needs the previous evaluation's numbers, which its metadata keeps."""

from dagster import AssetCheckExecutionContext
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)


def previous_numbers(context: AssetCheckExecutionContext) -> dict[str, float]:
    """The numeric metadata of this check's newest completed evaluation (empty if none).

    The check's own run is already recorded as PLANNED, so only completed evaluations count.
    """
    (spec,) = context.check_specs
    history = context.instance.event_log_storage.get_asset_check_execution_history(
        spec.key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    )
    evaluation = history[0].evaluation if history else None
    if evaluation is None:
        return {}
    return {
        name: float(entry.value)
        for name, entry in evaluation.metadata.items()
        if isinstance(entry.value, (int, float)) and not isinstance(entry.value, bool)
    }
