"""The code location as operators meet it: `dagster dev` (webserver, daemon, code server)
answering the UI's GraphQL API. The asset lineage contract, the schedules and sensors, and a
partition backfill the daemon runs end to end on the embedded engines."""

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors
from tests import independent
from tests.conftest import ANCHOR, own_databases, partition_key
from tests.support.servers import DagsterDev, dagster_dev, free_port, redis_server, wait_until

pytestmark = pytest.mark.slow

REPOSITORY = {"repositoryLocationName": "analytics", "repositoryName": "__repository__"}

# The lineage contract: every asset and its upstream assets. An edge that disappears (or a
# new one) must be a deliberate change here too.
EXPECTED_LINEAGE = {
    "dim_orders": ["ods_events_core"],
    "dim_user_mapping": ["ods_events_core"],
    "dwd_user_full_track": ["dim_orders", "dim_user_mapping", "ods_events_core"],
    "dws_event_daily": ["dwd_user_full_track"],
    "dws_user_conversion_daily": ["dwd_user_full_track"],
    "experiment_metrics": ["user_behaviors"],
    "experiment_users_monthly": ["user_behaviors"],
    "item_stats_by_scope": ["item_stats_daily"],
    "item_stats_daily": ["user_behaviors"],
    "metrics_by_scope": ["metrics_hourly"],
    "metrics_hourly": ["user_behaviors"],
    "mongodb/experiments": [],
    "mongodb/items": [],
    "mongodb/models": [],
    "mongodb/scenarios": [],
    "mongodb/user_profiles": [],
    "ods_events_core": ["raw_sa_events"],
    "ods_events_debug": ["raw_sa_events"],
    "raw_behaviors": [],
    "raw_dead_letters": [],
    "raw_sa_events": [],
    "redis/hot_items": ["raw_behaviors"],
    "redis/realtime_metrics": ["raw_behaviors"],
    "redis/user_recent": ["raw_behaviors"],
    "user_activity_monthly": ["user_behaviors"],
    "user_behaviors": ["raw_behaviors"],
    "user_funnel_hourly": ["user_behaviors"],
}
# Read outside Dagster (the Flink jobs read the model and profile collections, the analytics
# API the scenarios, items and experiments; dead letters are for people), so nothing
# downstream in the graph.
STANDALONE = {
    "raw_dead_letters",
    "mongodb/models",
    "mongodb/user_profiles",
    "mongodb/experiments",
    "mongodb/items",
    "mongodb/scenarios",
}

BACKFILL_HOURS = [ANCHOR + dt.timedelta(hours=h) for h in range(3)]

ASSET_NODES = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    description
    groupName
    kinds
  }
}
"""

INSTIGATORS = """
query ($repository: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repository) {
    __typename
    ... on Schedules { results { name defaultStatus scheduleState { id status } } }
    ... on PythonError { message }
  }
  sensorsOrError(repositorySelector: $repository) {
    __typename
    ... on Sensors {
      results {
        name
        defaultStatus
        sensorState { status ticks(limit: 5) { status error { message } } }
      }
    }
    ... on PythonError { message }
  }
}
"""

STOP_SCHEDULE = """
mutation ($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
  }
}
"""

BACKFILL = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      error { message }
      runs { runId status }
    }
    ... on PythonError { message }
  }
}
"""

RUN_ERRORS = """
query ($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { level message }
        ... on ErrorEvent { error { message } }
      }
    }
  }
}
"""

MATERIALIZATIONS = """
query ($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition
        runId
        metadataEntries { label ... on IntMetadataEntry { intRepr } }
      }
    }
  }
}
"""

ASSET_CHECKS = """
query ($key: AssetKeyInput!) {
  assetNodes(assetKeys: [$key]) {
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
}
"""

CHECK_EXECUTIONS = """
query ($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 20) {
    runId
    status
    evaluation { metadataEntries { label ... on IntMetadataEntry { intRepr } } }
  }
}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("webserver") / "data"


@pytest.fixture(scope="module")
def dagster_ui(data_dir: Path, clickhouse_server_url: str) -> Iterator[DagsterDev]:
    """`dagster dev` on embedded defaults under `data_dir`, a Redis of its own and no Flink
    (the supervisor must find none rather than a demo's cluster on 8081), schedules
    stopped so no scheduled run competes with the test's backfill (its hours are older
    than the automation's late-file lookback, so no automated load does either)."""
    directory = data_dir.parent
    with redis_server(directory) as redis_url, own_databases(clickhouse_server_url) as database:
        environment = {
            "ANALYTICS_DATA_DIR": str(data_dir),
            "REDIS_URL": redis_url,
            "CLICKHOUSE_URL": database(),
            "FLINK_LOCAL_REST_PORT": str(free_port()),
            "FLINK_LOCAL_RPC_PORT": str(free_port()),
        }
        with dagster_dev(directory, environment) as server:
            print(f"\ndagster dev answered GraphQL after {server.startup_seconds:.1f} s")
            _stop_schedules(server)
            yield server


def _stop_schedules(server: DagsterDev) -> None:
    schedules = server.graphql(INSTIGATORS, repository=REPOSITORY)["schedulesOrError"]
    for schedule in schedules["results"]:
        if schedule["scheduleState"]["status"] == "RUNNING":
            stopped = server.graphql(STOP_SCHEDULE, id=schedule["scheduleState"]["id"])
            assert stopped["stopRunningSchedule"]["__typename"] == "ScheduleStateResult", stopped


def _key(path: list[str]) -> str:
    return "/".join(path)


def _reachable(start: str, children: dict[str, set[str]]) -> set[str]:
    seen, frontier = {start}, [start]
    while frontier:
        for child in children.get(frontier.pop(), set()) - seen:
            seen.add(child)
            frontier.append(child)
    return seen


def test_asset_lineage_matches_the_contract(dagster_ui: DagsterDev) -> None:
    nodes = dagster_ui.graphql(ASSET_NODES)["assetNodes"]
    lineage = {
        _key(n["assetKey"]["path"]): sorted(_key(d["path"]) for d in n["dependencyKeys"])
        for n in nodes
    }
    assert lineage == EXPECTED_LINEAGE

    for node in nodes:
        key = _key(node["assetKey"]["path"])
        assert node["description"], f"{key} has no description"
        assert node["groupName"] != "default", f"{key} has no group"
        assert node["kinds"], f"{key} has no kinds"

    children: dict[str, set[str]] = {}
    for child, parents in lineage.items():
        for parent in parents:
            children.setdefault(parent, set()).add(child)
    # Every asset but the standalone ones derives from one of the two raw streams.
    derived = _reachable("raw_behaviors", children) | _reachable("raw_sa_events", children)
    assert derived == set(lineage) - STANDALONE


def test_schedules_and_sensors_are_the_definitions(dagster_ui: DagsterDev) -> None:
    from definitions import defs

    repository = defs.get_repository_def()
    answer = dagster_ui.graphql(INSTIGATORS, repository=REPOSITORY)
    schedules = {s["name"]: s for s in answer["schedulesOrError"]["results"]}
    assert set(schedules) == {s.name for s in repository.schedule_defs}
    # Only maintenance and health run on the clock; loads and models follow the data.
    assert set(schedules) == {
        "clickhouse_maintenance_schedule",
        "lake_maintenance_schedule",
        "platform_health_schedule",
        "redis_trim_schedule",
        "staging_retention_schedule",
    }
    assert {s["defaultStatus"] for s in schedules.values()} == {"RUNNING"}

    sensors = {s["name"]: s for s in answer["sensorsOrError"]["results"]}
    assert set(sensors) == {s.name for s in repository.sensor_defs}
    assert {
        "alert_sensor",
        "flink_job_supervisor",
        "raw_landing_sensor",
        "data_driven_automation",
    } <= set(sensors)
    assert sensors["data_driven_automation"]["defaultStatus"] == "RUNNING"

    # The daemon evaluates every running sensor in this environment, and none fails.
    wait_until(lambda: all(_sensor_ticks(dagster_ui).values()), 90, "a first tick of every sensor")
    failed = {
        name: tick["error"]["message"]
        for name, ticks in _sensor_ticks(dagster_ui).items()
        for tick in ticks
        if tick["status"] == "FAILURE"
    }
    assert not failed, failed


def _sensor_ticks(server: DagsterDev) -> dict[str, list[dict]]:
    """The latest ticks of each running sensor."""
    sensors = server.graphql(INSTIGATORS, repository=REPOSITORY)["sensorsOrError"]["results"]
    return {
        s["name"]: s["sensorState"]["ticks"]
        for s in sensors
        if s["sensorState"]["status"] == "RUNNING"
    }


def _stage_behaviors(data_dir: Path) -> dict[str, int]:
    """A few hundred demo behaviors over the backfill hours, written where the webserver's
    runs read (the embedded raw log under its data directory); distinct events per
    partition, counted independently."""
    events = generate_behaviors(
        BACKFILL_HOURS[0], BACKFILL_HOURS[-1] + dt.timedelta(hours=1), 600, seed=31
    )
    RawEventLog(root=str(data_dir / "staging")).write(behaviors.CONTRACT, events)
    per_hour = (
        independent.staged_events(str(data_dir / "staging"))
        .group_by(pl.col("timestamp").dt.truncate("1h").alias("hour"))
        .len()
    )
    return {partition_key(hour): n for hour, n in per_hour.iter_rows()}


def _run_errors(server: DagsterDev, run_id: str) -> list[str]:
    events = server.graphql(RUN_ERRORS, runId=run_id)["logsForRun"]["events"]
    return [
        (event.get("error") or {}).get("message") or event["message"]
        for event in events
        if event.get("error") or event.get("level") == "ERROR"
    ]


def _wait_for_backfill(server: DagsterDev, backfill_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        backfill = server.graphql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
        status = backfill.get("status")
        if status in ("COMPLETED", "COMPLETED_SUCCESS"):
            return backfill
        if status in ("FAILED", "CANCELED", "COMPLETED_FAILED") or time.monotonic() > deadline:
            errors = {run["runId"]: _run_errors(server, run["runId"]) for run in backfill["runs"]}
            raise AssertionError(f"backfill {backfill_id} is {status}: {backfill}; {errors}")
        time.sleep(1)


def test_partition_backfill_runs_through_the_daemon(dagster_ui: DagsterDev, data_dir: Path) -> None:
    staged = _stage_behaviors(data_dir)
    partitions = [partition_key(hour) for hour in BACKFILL_HOURS]
    assert sorted(staged) == partitions
    user_behaviors = {"path": ["user_behaviors"]}

    launched = dagster_ui.graphql(
        LAUNCH_BACKFILL,
        params={"assetSelection": [user_behaviors], "partitionNames": partitions},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    started = time.monotonic()
    backfill = _wait_for_backfill(dagster_ui, launched["backfillId"], timeout=240)
    print(f"\nbackfill of {len(partitions)} partitions took {time.monotonic() - started:.1f} s")
    (run,) = backfill["runs"]  # BackfillPolicy.single_run(): one run for the range
    assert run["status"] == "SUCCESS"

    materializations = dagster_ui.graphql(
        MATERIALIZATIONS, key=user_behaviors, partitions=partitions
    )["assetOrError"]["assetMaterializations"]
    assert sorted(m["partition"] for m in materializations) == partitions
    for materialization in materializations:
        assert materialization["runId"] == run["runId"]
        metadata = {e["label"]: e.get("intRepr") for e in materialization["metadataEntries"]}
        assert int(metadata["dagster/row_count"]) == sum(staged.values())
        assert int(metadata["hours_loaded"]) == len(partitions)

    # Every check of the asset ran in the backfill's run (a ranged run records the result
    # once, not per partition), and the blocking ones reconciled ClickHouse with staging.
    (node,) = dagster_ui.graphql(ASSET_CHECKS, key=user_behaviors)["assetNodes"]
    checks = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
    assert checks["user_behaviors_reconciles_with_staging"] is True
    for name, blocking in checks.items():
        executions = dagster_ui.graphql(CHECK_EXECUTIONS, key=user_behaviors, check=name)
        in_run = [e for e in executions["assetCheckExecutions"] if e["runId"] == run["runId"]]
        statuses = {e["status"] for e in in_run}
        assert statuses and "EXECUTION_FAILED" not in statuses, (name, statuses)
        if blocking:
            assert "SUCCEEDED" in statuses and "FAILED" not in statuses, (name, statuses)
    (reconciliation,) = [
        {m["label"]: m.get("intRepr") for m in e["evaluation"]["metadataEntries"]}
        for e in dagster_ui.graphql(
            CHECK_EXECUTIONS, key=user_behaviors, check="user_behaviors_reconciles_with_staging"
        )["assetCheckExecutions"]
        if e["runId"] == run["runId"] and e["evaluation"]
    ]
    assert int(reconciliation["clickhouse_events"]) == sum(staged.values())
