"""Benchmark: end to end on the local stack — collector → raw log on S3 → ClickHouse
server and Paimon ODS (S3 + JDBC catalog in PostgreSQL).

    .venv/bin/python bench/e2e_stack.py [--seconds 60] [--rate 2000]

Starts a private stack (`stack.local.LocalStack`, free ports, a temporary folder), runs
the collector against it as production does (staging sink on S3, 10 s segments), and
sends demo traffic at a fixed rate through both front doors (behavior API and Sensors
protocol). Then it measures what a dashboard user waits for:
  - sustained ingest: events acknowledged per second over the run;
  - landing lag: from the last acknowledgement until every acknowledged event is in the
    raw log (segment roll + upload);
  - load time: the `user_behaviors` range load into the ClickHouse server and the ODS
    load into Paimon, as the schedules run them (Dagster `materialize`);
  - freshness lag = landing lag + load time (plus up to one schedule period, 10 min for
    ClickHouse, 10 to 20 min for the ODS, which is configuration, not work).
Results go to bench/results/e2e_stack.json.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from dagster import materialize
from timing import timed

from analytics_assets.ingest.demo_traffic import generate_behaviors, send_to_collector
from analytics_assets.raw_log import behaviors
from analytics_assets.resources import raw_event_log_from_environment, resources_from_environment
from analytics_assets.resources.raw_event_log import hour_floor
from stack.local import LocalStack, free_port_base
from tests.conftest import partition_range_tags
from tests.support.servers import collector_process, wait_until

RESULTS = Path(__file__).parent / "results"
COLLECTOR_VARIABLES = (
    "RAW_LOG_ROOT",
    "RAW_LOG_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "COLLECTOR_SINK",
)


def send_at_rate(url: str, rate: int, seconds: int) -> tuple[int, float, float]:
    """Send `rate` events per second for `seconds`; (acknowledged, elapsed, last ack time).
    The traffic (events of the last 10 minutes) is generated first, so the clock measures
    only the collector; a second whose sending takes longer than a second delays the next,
    so the achieved rate is what the collector sustains on this machine."""
    now = dt.datetime.now(dt.UTC)
    traffic = generate_behaviors(now - dt.timedelta(minutes=10), now, int(rate * seconds * 1.3))
    traffic = traffic.sort_by("timestamp")
    acknowledged, started = 0, time.monotonic()
    with httpx.Client(timeout=30) as client:
        for tick in range(seconds):
            batch = traffic.slice(tick * rate, rate)
            if batch.num_rows == 0:
                break
            send_to_collector(client, url, batch)
            acknowledged += batch.num_rows
            behind = started + tick + 1 - time.monotonic()
            if behind > 0:
                time.sleep(behind)
    return acknowledged, time.monotonic() - started, time.monotonic()


def staged_events(hours: list[dt.datetime]) -> int:
    raw_event_log = raw_event_log_from_environment(resolved=True)
    return sum(raw_event_log.distinct_event_count(behaviors.STREAM, hour) for hour in hours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=int, default=2000, help="events per second")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    directory.chmod(0o755)  # PostgreSQL runs as its own user when we are root
    stack = LocalStack(directory / "stack", free_port_base())
    results: dict[str, object] = {"rate_target": args.rate, "seconds": args.seconds}
    try:
        _, results["stack_up_seconds"] = timed("stack up", stack.up)
        os.environ.update(stack.environment())
        collector_env = {name: os.environ[name] for name in COLLECTOR_VARIABLES}
        collector_env["COLLECTOR_SEGMENT_MAX_SECONDS"] = "10"  # the production default
        (directory / "collector").mkdir()
        first_hour = hour_floor(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
        with collector_process(directory / "collector", collector_env) as collector:
            acknowledged, elapsed, last_ack = send_at_rate(collector.url, args.rate, args.seconds)
            rate = acknowledged / elapsed
            print(f"sent and acknowledged {acknowledged} events in {elapsed:.1f} s: {rate:,.0f}/s")
            hours = [first_hour]
            while hours[-1] < hour_floor(dt.datetime.now(dt.UTC)):
                hours.append(hours[-1] + dt.timedelta(hours=1))
            progress: list[int] = []

            def all_staged() -> bool:
                progress.append(staged_events(hours))
                return progress[-1] >= acknowledged

            try:
                wait_until(all_staged, 180, "every event staged")
            except TimeoutError:
                metrics = httpx.get(f"{collector.url}/metrics").text
                print(f"staged {progress[-1]} of {acknowledged}; collector metrics:\n{metrics}")
                raise
            landing_lag = time.monotonic() - last_ack
        print(f"landing lag (last ack → all in the raw log on S3): {landing_lag:.1f} s")
        results.update(
            acknowledged=acknowledged,
            events_per_second=round(rate),
            landing_lag_seconds=round(landing_lag, 1),
        )

        from analytics_assets.behavior import defs as behavior_defs
        from analytics_assets.lakehouse.ods import ods_events

        resources = resources_from_environment()
        tags = partition_range_tags(hours[0], hours[-1])
        loaded, results["clickhouse_load_seconds"] = timed(
            "user_behaviors range load into the ClickHouse server",
            lambda: materialize(
                [*behavior_defs.assets], selection=["user_behaviors"], tags=tags,
                resources=resources,
            ),
        )  # fmt: skip
        assert loaded.success
        rows = loaded.asset_materializations_for_node("user_behaviors")[0].metadata
        results["clickhouse_rows"] = rows["dagster/row_count"].value
        ods, results["ods_load_seconds"] = timed(
            "ODS load into Paimon (S3, JDBC catalog)",
            lambda: materialize([ods_events], tags=tags, resources=resources),
        )
        assert ods.success
        results["ods_rows"] = sum(
            materialization.metadata["dagster/row_count"].value  # type: ignore[misc]
            for materialization in ods.asset_materializations_for_node("ods_events")
        )
        results["freshness_lag_clickhouse_seconds"] = round(
            landing_lag + float(results["clickhouse_load_seconds"]),
            1,  # type: ignore[arg-type]
        )
        results["freshness_lag_ods_seconds"] = round(
            landing_lag + float(results["ods_load_seconds"]),
            1,  # type: ignore[arg-type]
        )
        assert results["clickhouse_rows"] == acknowledged, results
    finally:
        stack.down()
        shutil.rmtree(directory, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "e2e_stack.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
