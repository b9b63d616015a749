"""Benchmark: the analytics API's latency per endpoint and range, computed per request from
the ClickHouse rollups, beside the same queries sent straight to the server (the floor).

    .venv/bin/python bench/api.py [--events 1000000] [--days 88] [--requests 160] [--before REF]

Why: issue 21 serves any time range at request time (no precomputed snapshots) and asks
for p95 < 50 ms per endpoint and range at concurrency 1 and 16, over 100 M raw events.

1. Stages `--events` demo behaviors over one UTC day, loads them as the `user_behaviors`
   asset does into a ClickHouse server (stack.clickhouse, as the tests start it), copies
   that day to the `--days - 1` days before it inside ClickHouse (fresh event ids;
   bench/load_clickhouse.py) and rebuilds every rollup per day, the user funnel's
   included. `--days` stays under the 90-day raw retention.
2. Loads the demo configuration and serves the API twice as production does
   (`python -m analytics_api`: uvicorn, its own process, access log on): as deployed,
   where identical requests share an answer for 10 s (`analytics_api.answer_cache`), and
   with that cache off (`ANALYTICS_API_CACHE_SECONDS=0`): what every request costs when
   nobody asked for the same range in the last seconds.
3. For every data endpoint and the ranges 24 h, 7 d, 30 d and 90 d ending at the end of
   the loaded day: `--requests` requests at concurrency 1 and 16 to each API (threads, one
   keep-alive httpx client each, round robin over the demo tenants, the same range: many
   viewers of one dashboard, for the deployed API), then the endpoint's SQL with the
   same bound parameters straight to the server through clickhouse-connect (the floor: no
   HTTP API, no JSON). Prints p50/p95/p99 per cell with PASS/FAIL against the 50 ms target
   (it does not fail the run) and writes bench/results/api.json. First, the machine's
   anchors at the same concurrencies: the API's `/healthz` and `SELECT 1` to the server.
   With `--before REF`, the endpoint SQL files as they were at git REF run straight to
   the server too (the same data, the same session: the speed-up of a change to the SQL
   and its rollups), after a check that they answer the same as today's for each tenant.
Before 2, it profiles each endpoint's SQL per range on the server: one run alone, then
its system.query_log row (rows and bytes read, peak memory, server-side duration).

The lakehouse endpoint answers the empty state here (no lake pipeline in this benchmark:
its DWS is a StarRocks or local-server table per day and project; bench/lake.py covers the
lake). `--events 20000 --days 10 --requests 40` is a quick check.
"""

import argparse
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from dagster import materialize
from load_clickhouse import bench_day, grow, load, rebuild_rollups, stage
from timing import percentile, timed

from analytics_api.ranges import TimeRange, requested_range
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import DEFAULT_PROFILE
from analytics_lib.sql_files import load_sql
from tests.support.domains import CONFIGURATION_ASSETS
from tests.support.servers import api_server, clickhouse_server, redis_server

RESULTS = Path(__file__).parent / "results"
PROJECT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
RANGES = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30),
          "90d": dt.timedelta(days=90)}  # fmt: skip
CONCURRENCY = (1, 16)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Endpoint:
    """An API call and the SQL file it runs (the floor), with its parameters for a range."""

    label: str
    path: str
    params: dict[str, Any]
    unit: str
    sql: str
    sql_params: Callable[[str, TimeRange], dict[str, Any]]


def _scope(tenant: str) -> dict[str, str]:
    return {"tenant_id": tenant, "scenario_id": ""}


def _hours(tenant: str, span: TimeRange) -> dict[str, Any]:
    return {**_scope(tenant), "start": span.start, "end": span.end}


def _days(tenant: str, span: TimeRange) -> dict[str, Any]:
    return {**_scope(tenant), "start_day": span.first_day, "end_day": span.last_day}


ENDPOINTS = (
    Endpoint("dashboard", "/api/v1/dashboard", {}, "hour", "dashboard/overview", _hours),
    Endpoint("trend by hour", "/api/v1/metrics/trend", {"granularity": "hour"}, "hour",
             "dashboard/hourly_trend", _hours),
    Endpoint("trend by day", "/api/v1/metrics/trend", {"granularity": "day"}, "day",
             "dashboard/daily_trend", _days),
    Endpoint("items", "/api/v1/items/distribution", {"limit": 10}, "day", "dashboard/top_items",
             lambda tenant, span: {**_days(tenant, span), "limit": 10}),
    Endpoint("funnel", "/api/v1/users/behavior", {}, "hour", "dashboard/user_funnel", _hours),
    Endpoint("experiments", "/api/v1/experiments", {}, "day", "dashboard/experiments",
             lambda tenant, span: {"tenant_id": tenant, "start_day": span.first_day,
                                   "end_day": span.last_day}),
)  # fmt: skip


@dataclass
class Cell:
    samples_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def report(self) -> dict[str, Any]:
        return {
            **{f"p{q}_ms": round(percentile(self.samples_ms, q), 1) for q in (50, 95, 99)},
            "answers": dict(self.statuses),
        }


def _run(concurrency: int, requests: int, call: Callable[[int], str]) -> Cell:
    """`requests` calls spread over `concurrency` threads; each call returns its status."""
    cell = Cell()

    def worker(offset: int) -> None:
        for n in range(offset, requests, concurrency):
            started = time.perf_counter()
            status = call(n)
            cell.samples_ms.append((time.perf_counter() - started) * 1000)
            cell.statuses[status] += 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return cell


def _same(old: pl.DataFrame, new: pl.DataFrame) -> bool:
    return old.columns == new.columns and new.cast(old.schema).equals(old)  # type: ignore[arg-type]


def sql_at(ref: str) -> dict[str, str]:
    """Each endpoint's SQL file as it was at git `ref` (`--before`): the same queries
    before a change, run on the same data in the same session."""
    return {
        endpoint.sql: subprocess.check_output(
            ["git", "show", f"{ref}:sql/clickhouse/{endpoint.sql}.sql"], text=True, cwd=PROJECT
        )
        for endpoint in ENDPOINTS
    }


def _anchors(
    clients: list[httpx.Client], clickhouse: ClickHouseResource, requests: int
) -> dict[str, Any]:
    """What this machine costs a request before any data is read, per concurrency: the
    API's `/healthz` (HTTP, FastAPI, no store round trip) and `SELECT 1` straight to the
    server through the floor's client. When these alone come near 50 ms at c=16, the
    cores, not the queries, set the bound there."""
    anchors: dict[str, Any] = {}
    for concurrency in CONCURRENCY:
        for label, call in (
            ("API /healthz", lambda n: str(clients[n % len(clients)].get("/healthz").status_code)),
            ("server SELECT 1", lambda n: str(clickhouse.query_sql("SELECT 1").height)),
        ):
            _run(concurrency, min(requests, 2 * concurrency), call)  # warm-up
            cell = _run(concurrency, requests, call).report()
            anchors[f"{label} c={concurrency}"] = cell
            print(f"anchor {label:<16} c={concurrency:<3} p50 {cell['p50_ms']:>6} "
                  f"p95 {cell['p95_ms']:>6} p99 {cell['p99_ms']:>6} ms", flush=True)  # fmt: skip
    return anchors


def _measure(
    urls: dict[str, str],
    clickhouse: ClickHouseResource,
    tokens: dict[str, str],
    end: dt.datetime,
    requests: int,
    before: dict[str, str],
) -> dict[str, Any]:
    """Every endpoint and range at each concurrency, through each API server of `urls`
    (by label), then straight to the server (the floor) and, with `before`, its old SQL."""
    tenants = list(tokens.items())
    clients = {
        label: [httpx.Client(base_url=url, timeout=30) for _ in range(max(CONCURRENCY))]
        for label, url in urls.items()
    }
    first = next(iter(clients.values()))
    report: dict[str, Any] = {"anchors": _anchors(first, clickhouse, requests)}
    print(f"\n{'endpoint':<15} {'range':>5} {'c':>3}" + "".join(
        f"   {label[:12]:>12} p50 {'p95':>7} {'p99':>7}" for label in [*urls, "floor"]
    ) + ("   before p50     p95     p99" if before else "") + "  answers", flush=True)  # fmt: skip
    for endpoint in ENDPOINTS:
        for label, length in RANGES.items():
            sent = {"start": (end - length).isoformat(), "end": end.isoformat()}
            span = requested_range(
                sent["start"], sent["end"], default=length, unit=endpoint.unit,  # type: ignore[arg-type]
                now=end,
            )  # fmt: skip

            def api_call(
                n: int, server: list[httpx.Client], sent: dict = sent, endpoint: Endpoint = endpoint
            ) -> str:
                token, _ = tenants[n % len(tenants)]
                response = server[n % len(server)].get(
                    endpoint.path,
                    params={**endpoint.params, **sent},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 200:
                    return str(response.status_code)
                return f"200 {response.json()['status']}"

            def floor_call(n: int, span: TimeRange = span, endpoint: Endpoint = endpoint) -> str:
                _, tenant = tenants[n % len(tenants)]
                rows = clickhouse.query(endpoint.sql, endpoint.sql_params(tenant, span))
                return "rows" if rows.height else "no rows"

            def before_call(n: int, span: TimeRange = span, endpoint: Endpoint = endpoint) -> str:
                _, tenant = tenants[n % len(tenants)]
                params = endpoint.sql_params(tenant, span)
                rows = clickhouse.query_sql(before[endpoint.sql], params)
                return "rows" if rows.height else "no rows"

            same = None
            if before:  # the change must not change an answer: compare once per tenant
                same = all(
                    _same(
                        clickhouse.query_sql(before[endpoint.sql], params),
                        clickhouse.query(endpoint.sql, params),
                    )
                    for _, tenant in tenants
                    for params in [endpoint.sql_params(tenant, span)]
                )
            for concurrency in CONCURRENCY:
                cells: dict[str, Any] = {}
                for server_label, server in clients.items():
                    call = functools.partial(api_call, server=server)
                    # warm-up: every client connected, every tenant asked once
                    _run(concurrency, min(requests, 2 * max(concurrency, len(tenants))), call)
                    cells[server_label] = _run(concurrency, requests, call).report()
                floor = _run(concurrency, requests, floor_call).report()
                old = _run(concurrency, requests, before_call).report() if before else None
                key = f"{endpoint.label} {label} c={concurrency}"
                report[key] = {
                    **cells,
                    "floor": floor,
                    "before_floor": old,
                    "same_answer_as_before": same,
                    "target": {
                        server_label: "PASS" if cell["p95_ms"] < TARGET_P95_MS else "FAIL"
                        for server_label, cell in cells.items()
                    },
                }
                answers = "; ".join(
                    f"{server_label}: " + ", ".join(f"{k}: {v}" for k, v in cell["answers"].items())
                    for server_label, cell in cells.items()
                )
                was = (
                    f"   {old['p50_ms']:>10} {old['p95_ms']:>7} {old['p99_ms']:>7}"
                    f"{'' if same else ' ANSWER DIFFERS'}"
                    if old
                    else ""
                )
                columns = "".join(
                    f"   {cell['p50_ms']:>16} {cell['p95_ms']:>7} {cell['p99_ms']:>7}"
                    for cell in [*cells.values(), floor]
                )
                targets = " ".join(f"{k}: {v}" for k, v in report[key]["target"].items())
                print(
                    f"{endpoint.label:<15} {label:>5} {concurrency:>3}{columns}{was}  "
                    f"{answers}  {targets}",
                    flush=True,
                )
    for server in clients.values():
        for client in server:
            client.close()
    return report


def _profile(
    clickhouse: ClickHouseResource,
    tokens: dict[str, str],
    end: dt.datetime,
    before: dict[str, str],
) -> dict:
    """Each endpoint's SQL for each range, run once alone (the first tenant), then what
    the server logged for it: what a request costs the server, without the queueing."""
    tenant = next(iter(tokens.values()))
    tagged = []
    for endpoint in ENDPOINTS:
        for label, length in RANGES.items():
            span = requested_range(
                (end - length).isoformat(), end.isoformat(), default=length,
                unit=endpoint.unit, now=end,  # type: ignore[arg-type]
            )  # fmt: skip
            params = endpoint.sql_params(tenant, span)
            versions = {"": load_sql("clickhouse", endpoint.sql)}
            if endpoint.sql in before:
                versions["before "] = before[endpoint.sql]
            for version, sql in versions.items():
                clickhouse.query_sql(sql, params)  # warm
                comment = f"bench-profile {version}{endpoint.label} {label}"
                clickhouse.query_sql(sql, params, settings={"log_comment": comment})
                tagged.append(comment)
    clickhouse.execute_sql("SYSTEM FLUSH LOGS")
    logged = clickhouse.query_sql(
        "SELECT log_comment, query_duration_ms, read_rows, read_bytes, memory_usage "
        "FROM system.query_log WHERE type = 'QueryFinish' AND log_comment IN {tags:Array(String)}",
        {"tags": tagged},
    )
    print(f"\n{'server profile':<35} {'ms':>6} {'read rows':>11} {'read MB':>8} {'peak MB':>8}")
    profile = {}
    for row in logged.sort("log_comment", maintain_order=True).iter_rows(named=True):
        key = row["log_comment"].removeprefix("bench-profile ")
        profile[key] = {
            "server_ms": row["query_duration_ms"],
            "read_rows": row["read_rows"],
            "read_mb": round(row["read_bytes"] / 1e6, 1),
            "peak_memory_mb": round(row["memory_usage"] / 1e6, 1),
        }
        print(f"{key:<35} {row['query_duration_ms']:>6} {row['read_rows']:>11,} "
              f"{profile[key]['read_mb']:>8} {profile[key]['peak_memory_mb']:>8}")  # fmt: skip
    return profile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="raw events per day")
    parser.add_argument("--days", type=int, default=88, help="days of raw events (≤ 89)")
    parser.add_argument("--requests", type=int, default=160, help="per endpoint, range, c")
    parser.add_argument(
        "--before", default="", help="git ref: also time its SQL files straight to the server"
    )
    args = parser.parse_args()
    if not 1 <= args.days <= 89:
        raise SystemExit("--days must be 1..89: older raw rows fall out of the 90-day TTL")

    run_started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    log = RawEventLog(root=str(work / "staging"))
    day = bench_day()
    end = day + dt.timedelta(days=1)
    hours = stage(log, day, args.events)
    tokens = {f"bench-{tenant}": tenant for tenant in DEFAULT_PROFILE.tenants}
    result: dict[str, Any] = {"machine": "2 cores, shared", "events_per_day": args.events}
    store = ConfigStore(path=str(work / "config"))
    materialize(CONFIGURATION_ASSETS, resources={"config_store": store}, run_config=QUIET)
    with clickhouse_server(work / "clickhouse") as url, redis_server(work) as redis_url:
        clickhouse = ClickHouseResource(url=f"{url}/default")
        with clickhouse.opened():
            rows, *_ = load(clickhouse, log, hours)
            if args.days > 1:
                grow(clickhouse, day, rows, rows * args.days)
            _, seconds = timed("rebuild every rollup", lambda: rebuild_rollups(clickhouse))
            total = int(clickhouse.query_sql("SELECT count() AS n FROM user_behaviors")["n"][0])
            sizes = clickhouse.query_sql(
                "SELECT table, sum(rows) AS rows FROM system.parts WHERE active "
                "AND database = currentDatabase() GROUP BY table ORDER BY table"
            )
            result |= {
                "raw_events": total,
                "days": args.days,
                "rollup_rebuild_s": round(seconds, 1),
                "table_rows": dict(sizes.iter_rows()),
            }
            print(f"user_behaviors: {total:,} rows over {args.days} days", flush=True)
            before = sql_at(args.before) if args.before else {}
            result["before_ref"] = args.before or None
            result["server_profile"] = _profile(clickhouse, tokens, end, before)
            environment = {"CLICKHOUSE_URL": f"{url}/default", "CONFIG_STORE_PATH": store.path}
            with (
                api_server(work, redis_url, tokens, environment) as deployed,
                api_server(
                    work, redis_url, tokens, {**environment, "ANALYTICS_API_CACHE_SECONDS": "0"}
                ) as uncached,
            ):
                load_before = os.getloadavg()[0]
                urls = {"API uncached": uncached, "API deployed": deployed}
                result["cells"] = _measure(urls, clickhouse, tokens, end, args.requests, before)
                result["load_average_1min"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    result["run_s"] = round(time.perf_counter() - run_started)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "cells"}, indent=2))
    shutil.rmtree(work)  # kept when a step fails, for its logs (api.log)


if __name__ == "__main__":
    main()
