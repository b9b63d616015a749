"""Data drives the runs: files landing in the raw log, reported by `raw_landing_sensor`,
make declarative automation load their hour and rebuild what depends on it. Evaluated
with Dagster's own `evaluate_automation_conditions` over the real code location's asset
graph: the open hour, a late file in a closed hour, a file older than the lookback, and
no landing at all."""

import datetime as dt
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    build_sensor_context,
    evaluate_automation_conditions,
)

from analytics_assets.ingest.landings import landing_events, raw_landing_sensor
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.sensors_events import generate_sa_events
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors, sa_events
from definitions import defs

NOW = dt.datetime.now(dt.UTC).replace(minute=20, second=0, microsecond=0)
OPEN_HOUR = NOW.replace(minute=0)
LOADS = (
    "user_behaviors",
    "metrics_hourly",
    "item_stats_daily",
    "experiment_metrics",
    "user_funnel_hourly",
    "metrics_by_scope",
    "user_activity_monthly",
    "experiment_users_monthly",
    "item_stats_by_scope",
)


def key(hour: dt.datetime) -> str:
    return f"{hour:%Y-%m-%d-%H:%M}"


def land(log: RawEventLog, hour: dt.datetime, stream: str = "behaviors") -> None:
    """One file of demo events in `hour`, written like the collector writes it."""
    end = hour + dt.timedelta(minutes=10)
    if stream == "behaviors":
        log.write(behaviors.CONTRACT, generate_behaviors(hour, end, 40))
    else:
        log.write(sa_events.CONTRACT, generate_sa_events(hour, end, 40))


def requested(result) -> dict[str, set[str | None]]:  # type: ignore[no-untyped-def]
    keys = [node.key for node in defs.resolve_asset_graph().asset_nodes]
    found = {k.to_user_string(): result.get_requested_partitions(k) for k in keys}
    return {name: partitions for name, partitions in found.items() if partitions}


class Tick:
    """The landing sensor and the automation sensor, one tick at a time, on one instance."""

    def __init__(self, log: RawEventLog) -> None:
        self.log = log
        self.instance = DagsterInstance.ephemeral()
        self.sensor_cursor: dict | None = None
        self.automation_cursor = None

    def landings(self) -> list[AssetMaterialization]:
        events, self.sensor_cursor = landing_events(self.log, self.sensor_cursor, NOW)
        for event in events:
            self.instance.report_runless_asset_event(event)
        return events

    def automation(self) -> dict[str, set[str | None]]:
        result = evaluate_automation_conditions(
            defs=defs,
            instance=self.instance,
            evaluation_time=NOW,
            cursor=self.automation_cursor,
        )
        self.automation_cursor = result.cursor
        return requested(result)

    def finish(self, asset_names: tuple[str, ...], partition: str | None) -> None:
        """What the requested runs would report when they succeed."""
        for name in asset_names:
            self.instance.report_runless_asset_event(
                AssetMaterialization(AssetKey(name), partition=partition)
            )


def test_landings_drive_loads_and_rollups(tmp_path: Path) -> None:
    log = RawEventLog(root=str(tmp_path / "staging"))
    land(log, OPEN_HOUR - dt.timedelta(hours=5))  # history, before the sensor first ran
    tick = Tick(log)
    assert tick.landings() == []  # the first tick records what is there, reports nothing
    assert tick.automation() == {}

    # No landing: nothing is reported and nothing runs.
    assert tick.landings() == []
    assert tick.automation() == {}

    # The open hour receives a file: its load and rollups run together, in one run.
    land(log, OPEN_HOUR)
    (event,) = tick.landings()
    assert (event.asset_key, event.partition) == (AssetKey("raw_behaviors"), key(OPEN_HOUR))
    assert tick.automation() == {name: {key(OPEN_HOUR)} for name in LOADS}
    # Requested, not yet finished: nothing is requested twice; finished, nothing follows
    # (the API reads the rollups per request).
    assert tick.automation() == {}
    tick.finish(LOADS, key(OPEN_HOUR))
    assert tick.automation() == {}

    # A late file in an hour that closed three hours ago reloads that hour only.
    late = OPEN_HOUR - dt.timedelta(hours=3)
    land(log, late)
    assert [e.partition for e in tick.landings()] == [key(late)]
    assert tick.automation() == {name: {key(late)} for name in LOADS}

    # Sensors events land: the ODS loads the hour; the lake's models follow its run.
    land(log, OPEN_HOUR, stream="sa_events")
    assert [e.asset_key for e in tick.landings()] == [AssetKey("raw_sa_events")]
    ods = ("ods_events_core", "ods_events_debug")
    assert tick.automation() == {name: {key(OPEN_HOUR)} for name in ods}
    tick.finish(ods, key(OPEN_HOUR))
    assert tick.automation() == {
        "dim_orders": {f"{OPEN_HOUR:%Y-%m-%d}"},
        "dim_user_mapping": {None},
    }


def test_a_file_older_than_the_lookback_is_not_loaded_automatically(tmp_path: Path) -> None:
    tick = Tick(RawEventLog(root=str(tmp_path / "staging")))
    tick.landings()
    tick.automation()
    old = OPEN_HOUR - dt.timedelta(hours=30)
    land(tick.log, old)
    assert tick.landings() == []  # outside the watched hours
    # Even reported by hand, it is a backfill's job.
    tick.instance.report_runless_asset_event(
        AssetMaterialization(AssetKey("raw_behaviors"), partition=key(old))
    )
    assert tick.automation() == {}


def test_landing_sensor_keeps_its_cursor_between_ticks(tmp_path: Path) -> None:
    log = RawEventLog(root=str(tmp_path / "staging"))
    land(log, OPEN_HOUR)
    context = build_sensor_context(resources={"raw_event_log": log})
    first = raw_landing_sensor(context)
    assert not first.asset_events and first.skip_reason and first.cursor
    land(log, OPEN_HOUR)
    second = raw_landing_sensor(
        build_sensor_context(cursor=first.cursor, resources={"raw_event_log": log})
    )
    (event,) = second.asset_events
    assert event.metadata["new_files"].value == 1 and event.metadata["landed_files"].value == 2
    assert event.metadata["dagster/uri"].value == RawEventLog.hour_directory(
        str(tmp_path / "staging"), "behaviors", OPEN_HOUR
    )


def test_daily_assets_accept_yesterday_and_today_in_one_request() -> None:
    """Automation asks for yesterday and today at once when a backfill has loaded a day's
    worth of hours (the demo's 24 h history); so does a UI backfill of a range that ends
    today. Today maps to hours that are not partitions yet, and Dagster's backfill daemon
    fails the whole request if any mapped upstream partition does not exist (measured: the
    demo's `dim_orders` backfill failed and yesterday was never built)."""
    graph = defs.resolve_asset_graph()
    today = NOW.date()
    days = [f"{today - dt.timedelta(days=1):%Y-%m-%d}", f"{today:%Y-%m-%d}"]
    checked = []
    for node in graph.asset_nodes:
        daily = node.partitions_def
        if daily is None or getattr(daily, "cron_schedule", "") != "0 0 * * *":
            continue
        for parent in node.parent_keys:
            hourly = graph.get(parent).partitions_def
            if hourly is None or getattr(hourly, "cron_schedule", "") != "0 * * * *":
                continue
            mapping = graph.get_partition_mapping(node.key, parent)
            result = mapping.get_upstream_mapped_partitions_result_for_partitions(
                daily.subset_with_partition_keys(days), daily, hourly
            )
            missing = list(result.required_but_nonexistent_subset.get_partition_keys())
            assert not missing, (node.key.to_user_string(), parent.to_user_string(), missing[:3])
            assert len(result.partitions_subset) >= 24  # yesterday's hours are all mapped
            checked.append((node.key.to_user_string(), parent.to_user_string()))
    assert ("dim_orders", "ods_events_core") in checked
    assert ("dwd_user_full_track", "ods_events_core") in checked
