"""Benchmark: the stream jobs on a local Flink cluster (from the wheel), a local Redis and a
local ClickHouse server (chdb-core, for `clickhouse_sink`).

    .venv/bin/python bench/stream.py [--events 1000000] [--file-events 10000] [--seconds 60]

1. Throughput, one job at a time: `--events` behaviors already staged in files of
   `--file-events`; the job starts with empty state and reads the backlog. Rate = events /
   (time from its first row read until every row is read and its newest event is in Redis).
2. Latency, all jobs together: for `--seconds`, a small file lands every 0.5 s with events
   stamped "now"; latency = first time Redis shows the file's newest event minus the time its
   notice was written (file landed), per job, p50/p99.
Results: bench/results/stream.json. Anchor: Nexmark hot items ≈ 22 K events/s per core.
"""

import argparse
import datetime as dt
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis
from timing import timed

from analytics_assets.flink.cluster import FlinkRest, build_bundle, submit
from analytics_assets.ingest.demo_traffic import generate_behaviors
from analytics_assets.raw_log import behaviors
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.stream.jobs import STREAM_JOBS, status_key
from tests.support.servers import clickhouse_server, local_flink, redis_server

RESULTS = Path(__file__).parent / "results"


def _settings(
    job: str, redis_url: str, raw_log: RawEventLog, root: Path, sink: ClickHouseSinkTarget
) -> str:
    settings = {
        "job": job,
        "redis_url": redis_url,
        "notices_dir": raw_log.notices_root(behaviors.STREAM),
        "dead_letter_dir": str(root / "dead"),
    }
    if job == "clickhouse_sink":
        settings.update(sink.job_settings())
    return json.dumps(settings)


def _newest_per_job(table) -> dict[str, int]:
    """The newest event each job writes for a batch (user_recent skips impressions)."""
    engagements = table.filter(pc.not_equal(table["action_type"], "impression"))
    newest = {}
    for job in STREAM_JOBS:
        rows = engagements if job.name == "user_recent" else table
        newest[job.name] = pc.max(rows["timestamp"]).value if rows.num_rows else 0
    return newest


def _throughput(
    rest: FlinkRest, job: str, job_id: str, events: int, newest_ms: int, client, submitted: float
) -> float:
    """Events/s between the first metrics sample that shows rows read and completion (every
    row read and the job's newest event in Redis); Flink refreshes metrics every 2 s, so a
    job that finishes within one refresh is timed from its submission instead."""
    first: tuple[float, int] | None = None
    while True:
        rows = rest.operator_counter(job_id, "rowsRead")
        now = time.monotonic()
        if rows and first is None:
            first = (now, rows)
        last = int(client.hget(status_key(job), "last_event_ms") or 0)
        if rows >= events and last >= newest_ms:
            if first and first[1] < events and now > first[0]:
                return (events - first[1]) / (now - first[0])
            return events / (now - submitted)
        time.sleep(0.2)


def _latency(raw_log: RawEventLog, client, seconds: float) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {job.name: [] for job in STREAM_JOBS}
    pending: list[tuple[dict[str, int], int]] = []  # (newest event ms per job, landed ms)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def write() -> None:
        while time.monotonic() < stop:
            now = dt.datetime.now(dt.UTC)
            table = generate_behaviors(
                now - dt.timedelta(milliseconds=500),
                now,
                200,
                seed=int(now.timestamp() * 1000) % 2**31,
            )
            # Funnel steps come seconds after their impression, so a 0.5 s slice holds
            # impressions only; every fourth becomes a click so user_recent has samples.
            clicks = pc.equal(pc.bit_wise_and(pa.array(range(table.num_rows)), 3), 0)
            actions = pc.if_else(clicks, "click", table["action_type"])
            table = table.set_column(
                table.schema.get_field_index("action_type"), "action_type", actions
            )
            newest = _newest_per_job(table)
            raw_log.write(behaviors.CONTRACT, table)
            with lock:
                pending.append((newest, int(time.time() * 1000)))
            time.sleep(0.5)

    writer = threading.Thread(target=write)
    writer.start()
    seen: dict[str, int] = {job.name: 0 for job in STREAM_JOBS}
    while writer.is_alive() or any(seen[j] < len(pending) for j in seen):
        now_ms = int(time.time() * 1000)
        for job in STREAM_JOBS:
            last = int(client.hget(status_key(job.name), "last_event_ms") or 0)
            with lock:
                while (
                    seen[job.name] < len(pending) and pending[seen[job.name]][0][job.name] <= last
                ):
                    newest, landed_ms = pending[seen[job.name]]
                    if newest[job.name]:  # a file with nothing for this job is no sample
                        samples[job.name].append((now_ms - landed_ms) / 1000)
                    seen[job.name] += 1
        time.sleep(0.02)
        if time.monotonic() > stop + 60:
            break
    writer.join()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file-events", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, object] = {"events": args.events, "file_events": args.file_events}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as temp:
        root = Path(temp)
        raw_log = RawEventLog(root=str(root / "staging"))
        start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
        table, _ = timed(
            "generate",
            lambda: generate_behaviors(start, start + dt.timedelta(hours=2), args.events, seed=5),
        )
        newest_ms = _newest_per_job(table)
        for offset in range(0, table.num_rows, args.file_events):
            raw_log.write(behaviors.CONTRACT, table.slice(offset, args.file_events))
        with (
            local_flink(root / "flink") as cluster,
            redis_server(root) as redis_url,
            clickhouse_server(root / "clickhouse") as clickhouse_url,
        ):
            sink = ClickHouseSinkTarget(url=f"{clickhouse_url}/default")
            sink.ensure_schema()
            rest = FlinkRest(cluster.rest_url)
            client = redis.Redis.from_url(redis_url)
            bundle = build_bundle(root / "bundle")
            rates = {}
            for job in STREAM_JOBS:
                client.flushall()
                submitted = time.monotonic()
                job_id = submit(
                    cluster.rest_url,
                    job.name,
                    _settings(job.name, redis_url, raw_log, root, sink),
                    bundle,
                    work_dir=root / "submit",
                )
                rate = _throughput(
                    rest, job.name, job_id, table.num_rows, newest_ms[job.name], client, submitted
                )
                rest.cancel(job_id)
                rates[job.name] = round(rate)
                print(
                    f"{job.name}: {rate:,.0f} events/s ({table.num_rows:,} events backlog)",
                    flush=True,
                )
            results["throughput_events_per_second"] = rates
            while any(j.active for j in rest.jobs()):
                time.sleep(0.5)
            # latency: all jobs together on an empty log folder
            live_log = RawEventLog(root=str(root / "live"))
            live_log.write(
                behaviors.CONTRACT,
                generate_behaviors(start, start + dt.timedelta(seconds=1), 10, seed=1),
            )
            client.flushall()
            for job in STREAM_JOBS:
                submit(
                    cluster.rest_url,
                    job.name,
                    _settings(job.name, redis_url, live_log, root, sink),
                    bundle,
                    work_dir=root / "submit",
                )
            time.sleep(15)  # all tasks running, the first file read
            samples = _latency(live_log, client, args.seconds)
            results["latency_seconds"] = {
                job: {
                    "files": len(values),
                    "p50": round(float(np.percentile(values, 50)), 3) if values else None,
                    "p99": round(float(np.percentile(values, 99)), 3) if values else None,
                }
                for job, values in samples.items()
            }
            print(json.dumps(results["latency_seconds"], indent=1), flush=True)
    (RESULTS / "stream.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
