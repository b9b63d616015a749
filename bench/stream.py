"""Benchmark: the stream jobs on a local Flink cluster (from the wheel), a local Redis and a
local ClickHouse server (chdb-core, for `clickhouse_sink`).

    .venv/bin/python bench/stream.py [--events 1000000] [--file-events 10000] [--seconds 60]
        [--phases throughput,latency] [--sources raw_log,kafka]

1. Throughput, one job at a time: `--events` behaviors already staged in files of
   `--file-events`; the job starts with empty state and reads the backlog. Rate = events /
   (time from its first row read until every row is read and its newest event is in Redis),
   and per core = events / CPU seconds the TaskManager and its Python workers spent in
   that time (/proc), which other work on a shared machine does not inflate.
2. Latency, all four jobs together, from each source: for `--seconds`, 200 events stamped
   "now" arrive every 0.5 s, as a file in the raw log (FileSource polling every
   `monitor_interval_ms`) and then as messages the collector's Kafka sink produces to a
   local Apache Kafka broker; latency = first time Redis shows the batch's newest event
   minus the time it landed (notice written / every message acknowledged), per job,
   p50/p90/p99. The job states, the TaskManager count and the load average (before and
   after) are recorded too: a phase without samples says why, and a shared machine's load
   is beside every number. The first batch after the jobs start is timed apart (it pays
   for the first pass through each job's path); per phase: the batches over 2 s with the
   checkpoints triggered meanwhile, the TaskManager's GC time, and every batch and
   checkpoint in bench/results/stream_latency_<source>.json. `--sources` picks the sources (the raw log is the anchor of
   Kafka's: same jobs, same minute).
Results: bench/results/stream.json. Anchors: Nexmark q5 (hot items) in Flink SQL, run in
the same bench (`nexmark_hot_items.py`, after the throughput phase), and its published
≈ 22 K events/s per core; each job's events per CPU second is reported as a ratio to the
same run's q5.
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import redis
from timing import percentile, timed

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.stream.jobs import STREAM_JOBS, status_key
from analytics_collector.event_log import KafkaEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import (
    FlinkInstallation,
    FlinkRest,
    LocalFlinkCluster,
    build_bundle,
    descendants,
    submit,
)
from analytics_lib.raw_log import behaviors
from stack.kafka import KafkaBroker, collector_topics
from stack.processes import free_port
from tests.support.servers import clickhouse_server, local_flink, redis_server

RESULTS = Path(__file__).parent / "results"


def _settings(
    job: str,
    redis_url: str,
    raw_log: RawEventLog,
    root: Path,
    sink: ClickHouseSinkTarget,
    source: dict[str, str] | None = None,
) -> str:
    settings = {
        "job": job,
        "redis_url": redis_url,
        "notices_dir": raw_log.notices_root(behaviors.STREAM),
        "dead_letter_dir": str(root / "dead"),
        **(source or {}),
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


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(cluster: LocalFlinkCluster) -> float:
    """CPU time (user + system) of the TaskManagers and their live Python workers."""
    total = 0
    for pid in cluster.daemon_pids("taskexecutor"):
        for process in [pid, *descendants(pid)]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _throughput(
    cluster: LocalFlinkCluster,
    job: str,
    job_id: str,
    events: int,
    newest_ms: int,
    client,
    submitted: float,
) -> tuple[float, float]:
    """Events/s and events per CPU second between the first metrics sample that shows rows
    read and completion (every row read and the job's newest event in Redis); Flink
    refreshes metrics every 2 s, so a job that finishes within one refresh is timed from
    its submission instead."""
    rest = FlinkRest(cluster.rest_url)
    first: tuple[float, float, int] | None = None
    started = (submitted, _cpu_seconds(cluster), 0)
    while True:
        rows = rest.operator_counter(job_id, "rowsRead")
        now, cpu = time.monotonic(), _cpu_seconds(cluster)
        if rows and first is None:
            first = (now, cpu, rows)
        last = int(client.hget(status_key(job), "last_event_ms") or 0)
        if rows >= events and last >= newest_ms:
            since = first if first and first[2] < events and now > first[0] else started
            return (events - since[2]) / (now - since[0]), (events - since[2]) / (cpu - since[1])
        time.sleep(0.2)


def _live_batch() -> pa.Table:
    """200 events of the last 0.5 s. Funnel steps come seconds after their impression, so
    such a slice holds impressions only; every fourth becomes a click so user_recent has
    samples."""
    now = dt.datetime.now(dt.UTC)
    table = generate_behaviors(
        now - dt.timedelta(milliseconds=500), now, 200, seed=int(now.timestamp() * 1000) % 2**31
    )
    clicks = pc.equal(pc.bit_wise_and(pa.array(range(table.num_rows)), 3), 0)
    actions = pc.if_else(clicks, "click", table["action_type"])
    return table.set_column(table.schema.get_field_index("action_type"), "action_type", actions)


def _latency(
    land: Callable[[pa.Table], None], client, seconds: float
) -> tuple[dict[str, list[float]], list[dict[str, object]]]:
    """Latencies per job, and per batch: when it landed (epoch ms), how long landing took
    (for Kafka, produce until every message is acknowledged) and, per job, the latency and
    the write time the job's status recorded (`updated_ms`)."""
    samples: dict[str, list[float]] = {job.name: [] for job in STREAM_JOBS}
    # (newest event ms per job, landed ms, seconds landing took)
    pending: list[tuple[dict[str, int], int, float]] = []
    details: list[dict[str, object]] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def write() -> None:
        while time.monotonic() < stop:
            table = _live_batch()
            newest = _newest_per_job(table)
            started = time.monotonic()
            land(table)
            landing = time.monotonic() - started
            with lock:
                pending.append((newest, int(time.time() * 1000), landing))
                details.append({"landed_ms": pending[-1][1], "landing_s": round(landing, 3)})
            time.sleep(0.5)

    writer = threading.Thread(target=write)
    writer.start()
    seen: dict[str, int] = {job.name: 0 for job in STREAM_JOBS}
    while writer.is_alive() or any(seen[j] < len(pending) for j in seen):
        now_ms = int(time.time() * 1000)
        for job in STREAM_JOBS:
            status = client.hgetall(status_key(job.name))
            last = int(status.get(b"last_event_ms", 0))
            with lock:
                while (
                    seen[job.name] < len(pending) and pending[seen[job.name]][0][job.name] <= last
                ):
                    newest, landed_ms, _ = pending[seen[job.name]]
                    if newest[job.name]:  # a file with nothing for this job is no sample
                        samples[job.name].append((now_ms - landed_ms) / 1000)
                        details[seen[job.name]][job.name] = {
                            "seconds": (now_ms - landed_ms) / 1000,
                            "written_s": (int(status.get(b"updated_ms", 0)) - landed_ms) / 1000,
                        }
                    seen[job.name] += 1
        time.sleep(0.02)
        if time.monotonic() > stop + 60:
            break
    writer.join()
    return samples, details


class _Checkpoints(threading.Thread):
    """Every job's completed checkpoints (trigger time, duration), polled every 3 s while
    the latency phase runs: Flink's REST history keeps only the last ten."""

    def __init__(self, rest: FlinkRest, job_ids: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.rest, self.job_ids, self.found = rest, job_ids, {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(3):
            for job, job_id in self.job_ids.items():
                with contextlib.suppress(Exception):
                    for entry in self.rest.checkpoints(job_id).get("history", []):
                        self.found[(job, entry["id"])] = {
                            "job": job,
                            "trigger_ms": entry.get("trigger_timestamp"),
                            "ack_ms": entry.get("latest_ack_timestamp"),
                            "duration_ms": entry.get("end_to_end_duration"),
                            "status": entry.get("status"),
                        }

    def stop(self) -> list[dict[str, object]]:
        self.stopping.set()
        self.join()
        return sorted(self.found.values(), key=lambda c: c["trigger_ms"] or 0)


def _gc_ms(rest_url: str) -> dict[str, float]:
    """Cumulative GC time (ms) and count of the TaskManagers, by collector (Flink metrics)."""
    import httpx

    totals: dict[str, float] = {}
    for manager in httpx.get(f"{rest_url}/taskmanagers", timeout=10).json()["taskmanagers"]:
        base = f"{rest_url}/taskmanagers/{manager['id']}/metrics"
        names = [
            m["id"]
            for m in httpx.get(base, timeout=10).json()
            if m["id"].startswith("Status.JVM.GarbageCollector.")
        ]
        if names:
            for metric in httpx.get(base, params={"get": ",".join(names)}, timeout=10).json():
                totals[metric["id"]] = totals.get(metric["id"], 0) + float(metric["value"])
    return totals


def _slow_batches(
    details: list[dict[str, object]], checkpoints: list[dict[str, object]], over: float = 2.0
) -> list[dict[str, object]]:
    """Batches some job showed later than `over` seconds, with their index and the
    checkpoints triggered between landing and becoming visible."""
    slow = []
    for index, batch in enumerate(details):
        latencies = [v["seconds"] for v in batch.values() if isinstance(v, dict)]
        if latencies and max(latencies) > over:
            landed, visible = batch["landed_ms"], batch["landed_ms"] + max(latencies) * 1000
            slow.append(
                {
                    "index": index,
                    **batch,
                    "checkpoints_meanwhile": [
                        {**c, "trigger_after_landing_s": (c["trigger_ms"] - landed) / 1000}
                        for c in checkpoints
                        if c["trigger_ms"] and landed - 1000 <= c["trigger_ms"] <= visible
                    ],
                }
            )
    return slow


def _nexmark_anchor(events: int) -> dict[str, float]:
    """Nexmark q5 in Flink SQL (JVM only) on this machine, now: see nexmark_hot_items.py."""
    script = Path(__file__).parent / "nexmark_hot_items.py"
    result = subprocess.run(
        [str(FlinkInstallation().python), str(script), "--events", str(events)],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    return {
        "batches": len(values),
        **{f"p{q}": round(percentile(values, q), 3) if values else None for q in (50, 90, 99)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file-events", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--anchor-events", type=int, default=2_000_000)
    parser.add_argument("--phases", default="throughput,latency", help="comma-separated")
    parser.add_argument("--sources", default="raw_log,kafka", help="latency: comma-separated")
    args = parser.parse_args()
    phases, wanted_sources = set(args.phases.split(",")), args.sources.split(",")
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
            if "throughput" in phases:
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
                    rate, per_cpu = _throughput(
                        cluster,
                        job.name,
                        job_id,
                        table.num_rows,
                        newest_ms[job.name],
                        client,
                        submitted,
                    )
                    rest.cancel(job_id)
                    rates[job.name] = {"per_second": round(rate), "per_cpu_second": round(per_cpu)}
                    print(
                        f"{job.name}: {rate:,.0f} events/s, {per_cpu:,.0f} per CPU second "
                        f"({table.num_rows:,} events backlog)",
                        flush=True,
                    )
                anchor = _nexmark_anchor(args.anchor_events)
                print(f"Nexmark q5 (Flink SQL): {anchor}", flush=True)
                for rate in rates.values():
                    rate["ratio_to_q5_per_cpu"] = round(
                        rate["per_cpu_second"] / anchor["per_cpu_second"], 2
                    )
                results["throughput_events"] = rates
                results["anchor_nexmark_q5"] = anchor
                while any(j.active for j in rest.jobs()):
                    time.sleep(0.5)
            if "latency" not in phases:
                (RESULTS / "stream.json").write_text(json.dumps(results, indent=2))
                return
            # latency: all jobs together, from a raw log folder of their own, then Kafka
            live_log = RawEventLog(root=str(root / "live"))
            live_log.write(
                behaviors.CONTRACT,
                generate_behaviors(start, start + dt.timedelta(seconds=1), 10, seed=1),
            )
            broker = KafkaBroker(root / "kafka", free_port(), free_port())
            broker.start()
            try:
                broker.create_topics(collector_topics())
                producer = KafkaEventLog(broker.bootstrap)
                sources = {
                    "raw_log": (
                        {},
                        lambda table: live_log.write(behaviors.CONTRACT, table),
                    ),
                    "kafka": (
                        {"source": "kafka", "kafka_bootstrap_servers": broker.bootstrap},
                        lambda table: asyncio.run(producer.append({behaviors.STREAM: table})),
                    ),
                }
                results["latency_seconds"] = {}
                for name in wanted_sources:
                    source, land = sources[name]
                    client.flushall()
                    names = [job.name for job in STREAM_JOBS]
                    # submitted together: each `flink run` is a client JVM of its own
                    with ThreadPoolExecutor(len(STREAM_JOBS)) as pool:
                        ids = list(
                            pool.map(
                                lambda job, source=source: submit(
                                    cluster.rest_url,
                                    job.name,
                                    _settings(job.name, redis_url, live_log, root, sink, source),
                                    bundle,
                                    work_dir=root / "submit" / job.name,
                                ),
                                STREAM_JOBS,
                            )
                        )
                    time.sleep(15)  # all tasks running
                    # The first batch after a job starts is no sample of freshness: it
                    # pays for the job's first pass through its operators (and, from an
                    # empty topic, its first fetch). Timed apart, then the phase starts.
                    first, _ = _latency(land, client, 0.1)
                    checkpoints = _Checkpoints(rest, dict(zip(names, ids, strict=True)))
                    checkpoints.start()
                    gc_before = _gc_ms(cluster.rest_url)
                    load_before = os.getloadavg()
                    samples, details = _latency(land, client, args.seconds)
                    gc_after = _gc_ms(cluster.rest_url)
                    completed = checkpoints.stop()
                    results["latency_seconds"][name] = {
                        "jobs": {j.name: j.state for j in rest.jobs() if j.job_id in ids},
                        "taskmanagers": rest.overview()["taskmanagers"],
                        "load_average_1m": [load_before[0], os.getloadavg()[0]],
                        "first_batch_seconds": {job: v[:1] for job, v in first.items()},
                        **{job: _percentiles(values) for job, values in samples.items()},
                        "over_2s": {
                            job: sum(v > 2 for v in values) for job, values in samples.items()
                        },
                        "gc_during_phase": {k: gc_after[k] - gc_before.get(k, 0) for k in gc_after},
                        "checkpoints": len(completed),
                        "checkpoint_ms_max": max(
                            (c["duration_ms"] or 0 for c in completed), default=None
                        ),
                        "slow_batches": _slow_batches(details, completed),
                    }
                    (RESULTS / f"stream_latency_{name}.json").write_text(
                        json.dumps({"batches": details, "checkpoints": completed}, indent=1)
                    )
                    print(name, json.dumps(results["latency_seconds"][name], indent=1), flush=True)
                    for job_id in ids:
                        rest.cancel(job_id)
                    while any(j.active for j in rest.jobs()):
                        time.sleep(0.5)
            finally:
                broker.stop()
    (RESULTS / "stream.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
