"""Benchmark: the analytics API's latency per endpoint over 100 M raw events.

    .venv/bin/python bench/api.py [--events 10000000] [--scale-to 100000000]
                                  [--requests 500] [--warmup 20]

Why: issue 6 asks for p95 < 50 ms per endpoint. Every request is a Redis read of a snapshot
that `dashboard_snapshots` precomputes, so the API should not slow down as raw data grows;
what does grow is the step that builds the snapshots. This measures both, at full size.

1. Stages `--events` demo behaviors over one UTC day and loads them as the `user_behaviors`
   asset does, grows user_behaviors inside ClickHouse to exactly `--scale-to` rows (copies
   of that day on the days before it) and rebuilds the rollups (bench/load_clickhouse.py).
2. Loads the demo configuration and materializes `dashboard_snapshots` (Dagster, as in
   tests/test_dashboard.py) as of the end of the loaded day into a local redis-server,
   once over the loaded day and once after the growth: wall time and step time. Feeds the
   day's last staged hour through the stream jobs' own Redis writers (flink/stream_jobs:
   realtime metrics, hot items) so /realtime has what the Flink jobs would leave there.
3. Serves the API as production does (`python -m analytics_assets.api`: uvicorn, its own
   process, access log on) on a free loopback port. One keep-alive httpx client requests
   every GET route under /api/v1 (read from `app.routes`) plus query variants, sequentially,
   round robin over the endpoints and the demo tenants: `--warmup` requests per endpoint,
   then `--requests` timed ones (request sent to body read). Every answer should be 200
   with status "ok".
4. Prints p50/p95/p99/max per endpoint with PASS/FAIL against the 50 ms target (it does
   not fail the run) and writes bench/results/api.json.

Takes about 5 minutes at the defaults on 2 cores; `--events 200000 --scale-to 0` for a
quick check.
"""

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import redis
from dagster import materialize
from fastapi.routing import APIRoute
from load_clickhouse import bench_day, grow, load, rebuild_rollups, server_url, stage
from timing import timed

from analytics_assets.api.app import create_app
from analytics_assets.behavior.user_behaviors import read_hour
from analytics_assets.configuration import defs as configuration_defs
from analytics_assets.dashboard import defs as dashboard_defs
from analytics_assets.dashboard.assets import dashboard_snapshots
from analytics_assets.ingest.demo_traffic import DEFAULT_PROFILE
from analytics_assets.project import PROJECT_ROOT
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.paimon import PaimonLake
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.resources.warehouse import EmbeddedWarehouse
from tests.support.servers import api_server, redis_server

RESULTS = Path(__file__).parent / "results"
TARGET_P95_MS = 50.0
API_PREFIX = "/api/v1/"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # Dagster's run log


@dataclass
class Endpoint:
    label: str
    path: str
    params: dict[str, str]
    samples_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    response_bytes: int = 0


def _snapshot_resources(
    clickhouse: ClickHouseResource, store: ConfigStore, redis_url: str, work: Path
) -> dict[str, Any]:
    """What `dashboard_snapshots` asks for, built as tests/test_dashboard.py builds it."""
    required = set(dashboard_snapshots.required_resource_keys)
    resources: dict[str, Any] = {
        "clickhouse": clickhouse,
        "config_store": store,
        "realtime_redis": RealtimeRedis(url=redis_url),
        # No lake pipeline here: the lakehouse overview is the empty state.
        "warehouse": EmbeddedWarehouse(
            clickhouse=clickhouse, paimon=PaimonLake(warehouse=str(work / "lake"))
        ),
    }
    missing = required - resources.keys() - {"io_manager"}  # Dagster's default
    if missing:
        raise SystemExit(f"dashboard_snapshots needs resources this benchmark lacks: {missing}")
    return {key: value for key, value in resources.items() if key in required}


def _publish_snapshots(resources: dict[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    """Materialize `dashboard_snapshots`; its wall time, step time and what it published."""
    started = time.perf_counter()
    result = materialize(
        dashboard_defs.assets,
        resources=resources,
        run_config={
            "ops": {"dashboard_snapshots": {"config": {"as_of": as_of.isoformat()}}},
            **QUIET,
        },
    )
    wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit("dashboard_snapshots failed")
    (step,) = [
        event.event_specific_data
        for event in result.get_step_success_events()
        if event.step_key == "dashboard_snapshots"
    ]
    (materialization,) = result.asset_materializations_for_node("dashboard_snapshots")
    metadata = materialization.metadata
    report = {
        "materialize_wall_s": round(wall, 2),
        "step_s": round(step.duration_ms / 1000, 2),
        "redis_keys": metadata["redis_keys"].value,
        "payload_bytes": metadata["payload_bytes"].value,
    }
    print(f"dashboard_snapshots: {report}", flush=True)
    return report


def _feed_stream_jobs(redis_url: str, events: pa.Table) -> int:
    """Write what the realtime_metrics and hot_items jobs write for these events, with the
    jobs' own functions (their pure logic runs outside Flink, as in tests); keys written."""
    sys.path.insert(0, str(PROJECT_ROOT / "flink"))
    from stream_jobs import hot_items, realtime_metrics
    from stream_jobs.batches import Batch
    from stream_jobs.settings import JobSettings

    client = redis.Redis.from_url(redis_url)
    batch = Batch("bench", events)
    metrics = JobSettings(job="realtime_metrics", redis_url=redis_url)
    hot = JobSettings(job="hot_items", redis_url=redis_url)
    keys = 0
    for part in realtime_metrics.partials(batch, metrics):
        realtime_metrics.write(
            client, part.tenant, part.scenario, part.windows, part.max_event_ms, metrics
        )
        keys += 1
    for part in hot_items.partials(batch, hot):
        scores = hot_items.merge_scores([None] * len(part.items), part)
        touched = dict(zip(part.items, scores.tolist(), strict=True))
        top = hot_items.top_n([], touched, hot.top_n)
        hot_items.write(client, part.tenant, part.scenario, top, part.max_event_ms, hot)
        keys += 1
    return keys


def _endpoints(redis_url: str, tokens: dict[str, str], as_of: dt.datetime) -> list[Endpoint]:
    """Every GET route under /api/v1 with its defaults, plus the query variants below."""
    variants: dict[str, list[dict[str, str]]] = {
        "/api/v1/dashboard": [{"scenario_id": "home_feed"}],
        "/api/v1/metrics/trend": [
            {"granularity": "day"},
            # the one request that filters rows in Python (168 hourly points)
            {
                "granularity": "hour",
                "start": f"{as_of - dt.timedelta(hours=24):%Y-%m-%dT%H:%MZ}",
                "end": f"{as_of:%Y-%m-%dT%H:%MZ}",
            },
        ],
        "/api/v1/items/distribution": [{"limit": "20"}],
    }
    app = create_app(redis_url, tokens)
    endpoints = []
    for route in app.routes:
        if not (
            isinstance(route, APIRoute)
            and route.path.startswith(API_PREFIX)
            and "GET" in route.methods
        ):
            continue
        if route.dependant.path_params:
            print(f"skipped {route.path}: path parameters", flush=True)
            continue
        for params in [{}, *variants.get(route.path, [])]:
            query = "&".join(f"{k}={v}" for k, v in params.items())
            label = route.path.removeprefix("/api/v1") + (f"?{query}" if query else "")
            endpoints.append(Endpoint(label, route.path, params))
    return endpoints


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _measure(
    url: str, endpoints: list[Endpoint], tokens: list[str], warmup: int, requests: int
) -> None:
    headers = [{"Authorization": f"Bearer {token}"} for token in tokens]
    with httpx.Client(base_url=url, timeout=10) as client:
        for endpoint in endpoints:
            for n in range(warmup):
                client.get(endpoint.path, params=endpoint.params, headers=headers[n % len(headers)])
        for n in range(requests):
            for endpoint in endpoints:
                started = time.perf_counter()
                response = client.get(
                    endpoint.path, params=endpoint.params, headers=headers[n % len(headers)]
                )
                endpoint.samples_ms.append((time.perf_counter() - started) * 1000)
                status = (
                    response.json().get("status", "?") if response.status_code == 200 else "error"
                )
                endpoint.statuses[f"{response.status_code} {status}"] += 1
                endpoint.response_bytes = max(endpoint.response_bytes, len(response.content))
            if (n + 1) % 100 == 0:
                print(f"  {n + 1}/{requests} rounds of {len(endpoints)} endpoints", flush=True)


def _report(endpoints: list[Endpoint]) -> dict[str, dict[str, Any]]:
    report = {}
    width = max(len(endpoint.label) for endpoint in endpoints)
    print(
        f"\n{'endpoint':<{width}} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'bytes':>7}  "
        f"answers           p95 < {TARGET_P95_MS:.0f} ms"
    )
    for endpoint in endpoints:
        ordered = sorted(endpoint.samples_ms)
        row = {
            "p50_ms": round(_percentile(ordered, 0.50), 1),
            "p95_ms": round(_percentile(ordered, 0.95), 1),
            "p99_ms": round(_percentile(ordered, 0.99), 1),
            "max_ms": round(ordered[-1], 1),
            "response_bytes": endpoint.response_bytes,
            "answers": dict(endpoint.statuses),
            "all_200_ok": set(endpoint.statuses) == {"200 ok"},
        }
        row["target"] = "PASS" if row["p95_ms"] < TARGET_P95_MS else "FAIL"
        report[endpoint.label] = row
        answers = ", ".join(f"{k}: {v}" for k, v in endpoint.statuses.items())
        print(
            f"{endpoint.label:<{width}} {row['p50_ms']:>7} {row['p95_ms']:>7} {row['p99_ms']:>7} "
            f"{row['max_ms']:>7} {row['response_bytes']:>7}  {answers:<17} {row['target']}",
            flush=True,
        )
    for label, row in report.items():
        if not row["all_200_ok"]:
            print(f"not every answer is 200 ok: {label} {row['answers']}", flush=True)
    return report


def _build(
    args: argparse.Namespace,
    clickhouse: ClickHouseResource,
    log: RawEventLog,
    hours: list[dt.datetime],
    redis_url: str,
    work: Path,
    as_of: dt.datetime,
) -> dict[str, Any]:
    """Steps 1 and 2: the raw data, the rollups, the snapshots and the stream keys."""
    rows, _, _, _ = load(clickhouse, log, hours)
    print(f"load: {rows:,} rows", flush=True)
    timed("rebuild rollups", lambda: rebuild_rollups(clickhouse))

    store = ConfigStore(path=str(work / "config"))
    timed(
        "demo configuration",
        lambda: materialize(
            configuration_defs.assets, resources={"config_store": store}, run_config=QUIET
        ),
    )
    resources = _snapshot_resources(clickhouse, store, redis_url, work)
    snapshots = {f"{rows / 1e6:.1f}M rows": _publish_snapshots(resources, as_of)}

    if args.scale_to > rows:
        grow(clickhouse, hours[0], rows, args.scale_to, exact=True)
        timed("rebuild rollups", lambda: rebuild_rollups(clickhouse))
    total = int(clickhouse.query_sql("SELECT count() AS n FROM user_behaviors")["n"][0])
    days = int(clickhouse.query_sql("SELECT uniqExact(date) AS n FROM user_behaviors")["n"][0])
    print(f"user_behaviors: {total:,} rows over {days} days", flush=True)
    if total > rows:
        snapshots[f"{total / 1e6:.1f}M rows"] = _publish_snapshots(resources, as_of)

    last_hour = read_hour(log, hours[-1]).events
    keys, _ = timed(
        f"stream jobs' writers over the last hour ({last_hour.num_rows:,} events)",
        lambda: _feed_stream_jobs(redis_url, last_hour),
    )
    print(f"  {keys} tenant/scenario keys", flush=True)
    return {
        "rows_loaded": rows,
        "rows_user_behaviors": total,
        "days": days,
        "dashboard_snapshots": {"as_of": as_of.isoformat(), **snapshots},
    }


def _serve_and_measure(
    args: argparse.Namespace,
    redis_url: str,
    tokens: dict[str, str],
    as_of: dt.datetime,
    work: Path,
) -> dict[str, Any]:
    """Steps 3 and 4: the API in its own process (as the tests start it), measured from
    this one."""
    with api_server(work, redis_url, tokens) as url:
        endpoints = _endpoints(redis_url, tokens, as_of)
        print(
            f"API on {url}: {len(endpoints)} endpoints, {args.warmup} warm-up + "
            f"{args.requests} requests each, round robin",
            flush=True,
        )
        load_before = os.getloadavg()[0]
        _, seconds = timed(
            "requests",
            lambda: _measure(url, endpoints, list(tokens), args.warmup, args.requests),
        )
        load_after = os.getloadavg()[0]
    return {
        "server": "python -m analytics_assets.api (uvicorn, one process, access log on)",
        "client": "httpx, one keep-alive connection, sequential, round robin over endpoints "
        "and tenants; request sent to body read",
        "warmup_per_endpoint": args.warmup,
        "requests_per_endpoint": args.requests,
        "requests_per_s": round(len(endpoints) * args.requests / seconds),
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "target_p95_ms": TARGET_P95_MS,
        "endpoints": _report(endpoints),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--scale-to", type=int, default=100_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    run_started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    log = RawEventLog(root=str(work / "staging"))
    day = bench_day()
    as_of = day + dt.timedelta(days=1)
    hours = stage(log, day, args.events)
    tokens = {f"bench-{tenant}": tenant for tenant in DEFAULT_PROFILE.tenants}
    result: dict[str, Any] = {"machine": "2 cores, 24 GB", "events_requested": args.events}
    with redis_server(work) as redis_url, server_url(work) as clickhouse_url:
        with ClickHouseResource(url=clickhouse_url).opened() as clickhouse:
            result |= _build(args, clickhouse, log, hours, redis_url, work, as_of)
        # ClickHouse is closed: the API and the client have the cores (with whatever else runs)
        result["api"] = _serve_and_measure(args, redis_url, tokens, as_of, work)
    result["run_s"] = round(time.perf_counter() - run_started)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(work)  # kept when a step fails, for its logs (api.log)


if __name__ == "__main__":
    main()
