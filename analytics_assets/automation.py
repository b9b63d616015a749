"""Declarative automation: data, not clocks, drives the loads and everything downstream.

`raw_landing_sensor` reports each hour of the raw log that received files as an event on
`raw_behaviors` / `raw_sa_events`; every asset below carries `on_upstream_update`, so a
landing loads its hour and the load rebuilds its rollups, which the analytics API reads
per request.
Runs start when their inputs changed (the UI shows the condition that fired on each run),
never because a minute came round. Maintenance keeps its schedules: there time is the
trigger.
"""

import datetime as dt

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

# Late files: the collector files events by their own time, so an hour keeps receiving
# files after it closed (SDK retries, offline mobile apps). Hours within this window of the
# open hour are reloaded when a file lands in them; older ones need a backfill.
LATE_FILE_LOOKBACK = dt.timedelta(hours=24)
# Daily partitions touched by a late hour: today and yesterday.
DAILY_LOOKBACK = LATE_FILE_LOOKBACK + dt.timedelta(days=1)


def on_upstream_update(lookback: dt.timedelta = LATE_FILE_LOOKBACK) -> AutomationCondition:
    """Run a partition within `lookback` of the latest one when any input of it updated
    (or is requested on this tick: same-partition assets share one run) since it was last
    requested or updated, once no input and no run of it is in progress.

    `AutomationCondition.eager()` without two of its parts: it looks at the latest
    partition only (late files land in closed hours), and it waits while any input
    partition is missing. A partition whose input never landed is never run.
    """
    return (
        AutomationCondition.in_latest_time_window(lookback)
        & AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("on_upstream_update")


def after_upstream_update(lookback: dt.timedelta = LATE_FILE_LOOKBACK) -> AutomationCondition:
    """`on_upstream_update` for assets partitioned differently from their inputs (daily
    models over hourly loads, unpartitioned ones over anything): they cannot share their
    inputs' run, so they wait until those runs have finished instead of racing them. Missing
    inputs do not hold them back (today's models would wait for tomorrow's hours)."""
    updated = AutomationCondition.any_deps_match(
        AutomationCondition.newly_updated() & ~AutomationCondition.executed_with_root_target()
    ).with_label("any_deps_finished_updating")
    return (
        AutomationCondition.in_latest_time_window(lookback)
        & updated.since_last_handled()
        & ~AutomationCondition.any_deps_match(AutomationCondition.will_be_requested())
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after_upstream_update")


data_driven_automation = AutomationConditionSensorDefinition(
    "data_driven_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Evaluates every asset's automation condition: loads follow landings reported by "
        "raw_landing_sensor, rollups and models follow their inputs."
    ),
)
