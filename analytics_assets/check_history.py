"""What a check saw last time: counters are cumulative, so a rate over "since the last
evaluation" needs the previous evaluation's numbers, which its metadata keeps."""

import datetime as dt

from dagster import AssetCheckExecutionContext, AssetKey
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


STAGED_BEFORE = "staged_before"  # load metadata: files landed before this were loaded


def latest_staged_before(
    context: AssetCheckExecutionContext, asset_key: AssetKey
) -> dt.datetime | None:
    """The newest load's cutoff (its `staged_before` metadata): a reconciliation compares
    against the files that load saw, not the ones that landed since."""
    event = context.instance.get_latest_materialization_event(asset_key)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get(STAGED_BEFORE) if materialization else None
    return dt.datetime.fromtimestamp(value.value, dt.UTC) if value is not None else None
