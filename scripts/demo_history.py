"""The demo's history load, launched through the running Dagster so a person watches it in
the UI: the demo configuration as one run and one partition backfill per architecture
(behaviors → ClickHouse and rollups; Sensors events → Paimon ODS). Downstream models
follow by declarative automation; the analytics API reads the rollups per request. Prints
one line per phase and a progress line whenever a backfill's count of loaded hours changes.

Usage: python scripts/demo_history.py --url http://127.0.0.1:3000 --hours 24
"""

import argparse
import datetime as dt
import sys
import time

import httpx

REPOSITORY = {"repositoryLocationName": "analytics", "repositoryName": "__repository__"}
CONFIGURATION = ["mongodb/scenarios", "mongodb/items", "mongodb/models", "mongodb/experiments"]
CONFIGURATION += ["mongodb/user_profiles"]
# One backfill per architecture: its raw stream's loads (their rollups share the run).
BACKFILLS = {
    "behaviors": [
        "user_behaviors",
        "metrics_hourly",
        "item_stats_daily",
        "experiment_metrics",
        "user_funnel_hourly",
        "metrics_by_scope",
        "user_activity_monthly",
        "experiment_users_monthly",
        "item_stats_by_scope",
    ],
    "lakehouse": ["ods_events_core", "ods_events_debug"],
}

LAUNCH_RUN = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""
LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }
"""
RUN_STATUS = """
query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }
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
BACKFILL_STATUS = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
  }
}
"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
DONE |= {"SUCCESS", "FAILURE", "CANCELED"}  # run statuses
SUCCEEDED = {"COMPLETED", "COMPLETED_SUCCESS", "SUCCESS"}


def graphql(client: httpx.Client, url: str, query: str, **variables: object) -> dict:
    answer = client.post(f"{url}/graphql", json={"query": query, "variables": variables})
    answer.raise_for_status()
    body = answer.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL error: {body['errors']}")
    return body["data"]


def keys(names: list[str]) -> list[dict[str, list[str]]]:
    return [{"path": name.split("/")} for name in names]


def history_partitions(hours: int, now: dt.datetime) -> list[str]:
    """The hourly partitions of the history and the open hour, oldest first."""
    open_hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [f"{open_hour - dt.timedelta(hours=h):%Y-%m-%d-%H:%M}" for h in range(hours, -1, -1)]


def wait_for_code_location(client: httpx.Client, url: str) -> None:
    """The UI answers before the code location has loaded; launches need it loaded."""
    while True:
        entries = graphql(client, url, LOCATIONS)["workspaceOrError"].get("locationEntries")
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            return
        time.sleep(1)


def launch_configuration(client: httpx.Client, url: str) -> str:
    """The demo configuration as one run, launched beside the backfills (nothing in them
    reads it; the analytics API reads it per request)."""
    params = {
        "selector": {**REPOSITORY, "jobName": "__ASSET_JOB", "assetSelection": keys(CONFIGURATION)},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "demo", "value": "configuration"}]},
    }
    launched = graphql(client, url, LAUNCH_RUN, params=params)["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"configuration run not launched: {launched}")
    return launched["run"]["runId"]


def run_status(client: httpx.Client, url: str, run_id: str) -> str:
    return graphql(client, url, RUN_STATUS, id=run_id)["runOrError"]["status"]


def launch_backfill(client: httpx.Client, url: str, name: str, partitions: list[str]) -> str:
    params = {
        "assetSelection": keys(BACKFILLS[name]),
        "partitionNames": partitions,
        "title": f"demo history: {name}",
        "tags": [{"key": "demo", "value": "history"}],
    }
    launched = graphql(client, url, LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"{name} backfill not launched: {launched}")
    return launched["backfillId"]


def backfill_progress(client: httpx.Client, url: str, backfill_id: str) -> tuple[str, int, int]:
    """Status, hours loaded and hours targeted, counted on the backfill's first asset."""
    backfill = graphql(client, url, BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"]
    first = backfill["assetBackfillData"]["assetBackfillStatuses"][0]
    return backfill["status"], first["numPartitionsMaterialized"], first["numPartitionsTargeted"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the Dagster UI")
    parser.add_argument("--hours", type=int, required=True)
    args = parser.parse_args()
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        wait_for_code_location(client, args.url)
        run_id = launch_configuration(client, args.url)
        partitions = history_partitions(args.hours, dt.datetime.now(dt.UTC))
        ids = {name: launch_backfill(client, args.url, name, partitions) for name in BACKFILLS}
        links = ", ".join(f"{name} {args.url}/runs/b/{i}" for name, i in ids.items())
        print(
            f"==> launched: configuration {args.url}/runs/{run_id}, backfills of "
            f"{len(partitions)} hours: {links}",
            flush=True,
        )
        shown, statuses = "", {}
        while not statuses or not all(status in DONE for status in statuses.values()):
            statuses["configuration"] = run_status(client, args.url, run_id)
            progress = [f"configuration {statuses['configuration'].lower()}"]
            for name, backfill_id in ids.items():
                status, loaded, targeted = backfill_progress(client, args.url, backfill_id)
                statuses[name] = status
                progress.append(f"{name} {loaded}/{targeted} hours")
            line = ", ".join(progress)
            if line != shown:
                print(f"    {line} ({time.monotonic() - started:.0f} s)", flush=True)
                shown = line
            time.sleep(3)
    failed = {name: s for name, s in statuses.items() if s not in SUCCEEDED}
    if failed:
        print(f"==> history load did not complete: {failed}; see {args.url}/runs", flush=True)
        return 1
    print(
        f"==> history loaded in {time.monotonic() - started:.0f} s; the warehouse models "
        "follow by automation",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
