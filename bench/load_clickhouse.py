"""Benchmark: staging → user_behaviors load rate, and dashboard query latency.

    .venv/bin/python bench/load_clickhouse.py [--events 10000000] [--scale-to 100000000]

Against `CLICKHOUSE_URL` when set, otherwise a fresh local ClickHouse server (chdb-core,
`stack/clickhouse`) under the work folder: the same server `make demo` runs.

1. Writes `--events` demo behaviors over 24 UTC hours into a fresh staging folder.
2. Loads them hour by hour exactly as the `user_behaviors` asset does (read + validate +
   dedup + delete hour + insert) and reports rows/s. The floor, in the same run: each
   hour's very Arrow batch inserted again into a copy of the table by a bare
   clickhouse-connect client (no resource, no dedup token), and the whole table copied
   inside the server (`INSERT … SELECT`, no HTTP, no Arrow), both with the load's
   `INSERT_SETTINGS`.
3. Rebuilds the rollups, then times the dashboard queries (p50/p95 over repeated runs).
4. With `--scale-to`, grows user_behaviors inside ClickHouse to that many rows (copies of
   the loaded days shifted back in time with fresh event ids), rebuilds rollups, re-times.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from timing import percentile, timed

from analytics_assets.behavior.rollups import ROLLUPS, script_days
from analytics_assets.behavior.user_behaviors import clear_hour, insert_hour, read_hour
from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.clickhouse import ClickHouseEndpoint
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.behaviors import INSERT_SETTINGS
from stack.clickhouse import clickhouse_server

RESULTS = Path(__file__).parent / "results"


def _latencies(
    clickhouse: ClickHouseResource, day: dt.datetime, repeats: int
) -> dict[str, dict[str, float]]:
    end = day + dt.timedelta(days=1)
    queries = {
        "overview (rollup)": (
            "dashboard/overview",
            {"tenant_id": "acme", "scenario_id": "", "start": day, "end": end},
        ),
        "hourly_trend (rollup)": (
            "dashboard/hourly_trend",
            {"tenant_id": "acme", "scenario_id": "", "start": day, "end": end},
        ),
        "top_items (rollup)": (
            "dashboard/top_items",
            {
                "tenant_id": "acme",
                "scenario_id": "",
                "start_day": day.date(),
                "end_day": day.date(),
                "limit": 10,
            },
        ),
        "user_funnel (rollup)": (
            "dashboard/user_funnel",
            {"tenant_id": "acme", "scenario_id": "home_feed", "start": day, "end": end},
        ),
    }
    report = {}
    for label, (name, params) in queries.items():
        clickhouse.query(name, params)  # warm-up
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            clickhouse.query(name, params)
            samples.append((time.perf_counter() - started) * 1000)
        report[label] = {
            "p50_ms": round(percentile(samples, 50), 1),
            "p95_ms": round(percentile(samples, 95), 1),
        }
        print(
            f"  {label}: p50 {report[label]['p50_ms']} ms, p95 {report[label]['p95_ms']} ms",
            flush=True,
        )
    return report


def rebuild_rollups(clickhouse: ClickHouseResource) -> None:
    days = clickhouse.query_sql("SELECT DISTINCT date FROM user_behaviors ORDER BY date")[
        "date"
    ].to_list()
    for name in ROLLUPS:  # in order: a rollup of a rollup comes after its source
        for day in script_days(name, days):
            clickhouse.run_script(f"rollups/{name}", {"day": day})


def bench_day() -> dt.datetime:
    """The UTC day the benchmarks load: two days ago, midnight."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def stage(log: RawEventLog, day: dt.datetime, events: int) -> list[dt.datetime]:
    """Write `events` demo behaviors over the day's 24 hours into staging; its hours."""
    hours = [day + dt.timedelta(hours=h) for h in range(24)]
    per_hour = events // 24

    def write() -> None:
        for hour in hours:
            log.write(
                behaviors.CONTRACT,
                generate_behaviors(hour, hour + dt.timedelta(hours=1), per_hour, seed=hour.hour),
            )

    timed(f"generate + stage {events:,} events", write)
    return hours


def load(
    clickhouse: ClickHouseResource,
    log: RawEventLog,
    hours: list[dt.datetime],
    floor: Any | None = None,
) -> tuple[int, float, float, float]:
    """Load the hours as the `user_behaviors` asset does: (rows, read s, insert s, floor s).
    With `floor` (a bare clickhouse-connect client), each hour's batch is inserted again
    into `floor_behaviors` by it, timed apart."""
    read_seconds = insert_seconds = floor_seconds = 0.0
    rows = 0
    for hour in hours:
        batch, seconds = timed(
            f"  read+validate {hour:%H}:00", lambda hour=hour: read_hour(log, hour)
        )
        read_seconds += seconds
        _, seconds = timed(
            f"  replace {hour:%H}:00 ({batch.events.num_rows:,} rows)",
            lambda batch=batch: (
                clear_hour(clickhouse, batch.hour),
                insert_hour(clickhouse, batch, "bench"),
            ),
        )
        insert_seconds += seconds
        if floor is not None:
            _, seconds = timed(
                "  floor: the same batch, bare clickhouse-connect insert_arrow",
                lambda batch=batch: floor.insert_arrow(
                    "floor_behaviors", batch.events, settings=INSERT_SETTINGS
                ),
            )
            floor_seconds += seconds
        rows += batch.events.num_rows
    return rows, read_seconds, insert_seconds, floor_seconds


@contextlib.contextmanager
def server_url(work: Path) -> Iterator[str]:
    """`CLICKHOUSE_URL`, or a fresh local server for the length of the block."""
    if os.environ.get("CLICKHOUSE_URL"):
        yield os.environ["CLICKHOUSE_URL"]
        return
    with clickhouse_server(work / "clickhouse") as url:
        yield url


def bare_client(url: str) -> Any:
    """A clickhouse-connect client with nothing of ours around it (the floor)."""
    return ClickHouseEndpoint.parse(url).client()


_COPY_DAY = (
    "INSERT INTO user_behaviors SELECT * REPLACE (generateUUIDv4() AS event_id, "
    "timestamp - toIntervalDay({shift:UInt32}) AS timestamp, now64(3) AS ingested_at) "
    "FROM user_behaviors WHERE date = {day:Date}"
)


def grow(
    clickhouse: ClickHouseResource, day: dt.datetime, rows: int, scale_to: int, exact: bool = False
) -> None:
    """Copy the loaded day (`rows` rows) to the days before it, fresh event ids, until the
    table holds up to `scale_to` rows in whole copies; `exact` adds part of one more copy
    so it holds exactly `scale_to`."""
    copies = scale_to // rows - 1
    remainder = scale_to - (copies + 1) * rows if exact else 0

    def insert() -> None:
        for copy in range(1, copies + 1):
            clickhouse.execute_sql(_COPY_DAY, {"shift": copy, "day": day.date()})
        if remainder:
            clickhouse.execute_sql(
                _COPY_DAY + " LIMIT {rows:UInt64}",
                {"shift": copies + 1, "day": day.date(), "rows": remainder},
            )

    timed(f"grow to {(copies + 1) * rows + remainder:,} rows inside ClickHouse", insert)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--scale-to", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    log = RawEventLog(root=str(work / "staging"))
    day = bench_day()
    hours = stage(log, day, args.events)
    result: dict[str, object] = {
        "machine": "2 cores, 24 GB",
        "load_average_at_start": os.getloadavg()[0],
        "events_requested": args.events,
    }
    with server_url(work) as url, ClickHouseResource(url=url).opened() as clickhouse:
        result["clickhouse"] = ClickHouseEndpoint.parse(url).base_url
        clickhouse.execute_sql("DROP TABLE IF EXISTS floor_behaviors")
        clickhouse.execute_sql("CREATE TABLE floor_behaviors AS user_behaviors")
        floor = bare_client(url)
        rows, read_seconds, insert_seconds, floor_seconds = load(clickhouse, log, hours, floor)
        result["rows_loaded"] = rows
        result["load_rows_per_s_end_to_end"] = round(rows / (read_seconds + insert_seconds))
        result["load_rows_per_s_clickhouse_insert"] = round(rows / insert_seconds)
        result["floor_rows_per_s_bare_insert_arrow"] = round(rows / floor_seconds)
        clickhouse.execute_sql("TRUNCATE TABLE floor_behaviors")
        _, seconds = timed(
            "floor: INSERT INTO floor_behaviors SELECT * FROM user_behaviors (inside the server)",
            lambda: floor.command(
                "INSERT INTO floor_behaviors SELECT * FROM user_behaviors",
                settings=INSERT_SETTINGS,
            ),
        )
        result["floor_rows_per_s_insert_select"] = round(rows / seconds)
        clickhouse.execute_sql("DROP TABLE floor_behaviors")
        floor.close()
        print(
            f"load: {rows:,} rows, {result['load_rows_per_s_end_to_end']:,} rows/s end to end, "
            f"{result['load_rows_per_s_clickhouse_insert']:,} rows/s insert only; floors: "
            f"{result['floor_rows_per_s_bare_insert_arrow']:,} rows/s bare insert_arrow, "
            f"{result['floor_rows_per_s_insert_select']:,} rows/s INSERT … SELECT"
        )
        _, seconds = timed("rebuild rollups", lambda: rebuild_rollups(clickhouse))
        result["rollup_rebuild_s_per_day"] = round(seconds, 2)
        print(f"dashboard latency over {rows:,} raw events:")
        result[f"latency_{rows // 1_000_000}M"] = _latencies(clickhouse, day, args.repeats)

        if args.scale_to > rows:
            grow(clickhouse, day, rows, args.scale_to)
            timed("rebuild rollups", lambda: rebuild_rollups(clickhouse))
            total = clickhouse.query_sql("SELECT count() AS n FROM user_behaviors")["n"][0]
            print(f"dashboard latency over {total:,} raw events:")
            result[f"latency_{total // 1_000_000}M"] = _latencies(clickhouse, day, args.repeats)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_clickhouse.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
