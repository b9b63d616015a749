"""Benchmark: end to end on the local stack — collector → raw log on S3 → ClickHouse
server and Paimon ODS (S3 + JDBC catalog in PostgreSQL), and the stream path collector →
Apache Kafka → Flink → Redis / ClickHouse.

    .venv/bin/python bench/e2e_stack.py [--seconds 45] [--rate 2000] [--sink-seconds 15]
                                        [--sinks-only | --stream-only]

Starts a private stack (`stack.local.LocalStack`, free ports, a temporary folder) and sends
demo traffic at a fixed rate through both front doors (behavior API and Sensors protocol).

1. Collector sinks, same traffic and rate, one after the other (`--sink-seconds` each):
   `staging` (disk buffer → raw log on S3, 10 s segments), `kafka` (acks=all) and
   `staging+kafka` (both, what the stack runs): events acknowledged per second and the
   latency of each request until its 2xx (p50/p99); the ratios to `staging`.
2. Stream path: the four Flink jobs launched from Kafka on the stack's Flink cluster as the
   platform launches them (`flink_job_supervisor` → `launch_stream_job`, `FLINK_SOURCE=kafka`).
   They first read what phase 1 left on the topic (backlog: events/s per job, all four
   running); then the collector (`staging+kafka`) takes `--rate` events/s for `--seconds`
   while marker events (a click of a fresh user, `--markers` per second, behavior API) are
   timed from their 2xx until `user:recent:{tenant}:{user}` exists in Redis (`user_recent`)
   and until their `event_id` is in `user_behaviors` (`clickhouse_sink`). Flink's own
   `rowsRead` counters give each job's rate during the run and its catch-up after the last
   acknowledgement.
3. What a dashboard user waits for on the batch path, from the same run:
  - landing lag: from the last acknowledgement until every acknowledged event is in the
    raw log (segment roll + upload);
  - load time: the `user_behaviors` range load into the ClickHouse server and the ODS
    load into Paimon, as the schedules run them (Dagster `materialize`; the stream jobs
    are cancelled first, so the loads do not share the cores with them);
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
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# tests.support.stream imports the jobs' settings (pytest's pythonpath has flink/ too)
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "flink"))

import httpx
from dagster import materialize
from timing import percentile, timed

from analytics_assets.resources import resources_from_environment
from analytics_demo.traffic import generate_behaviors, send_to_collector
from analytics_lib.environment import raw_log_settings, resolved
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.storage import RawLogStorage, hour_floor
from stack.local import RAW_LOG_BUCKET, LocalStack, free_port_base
from tests.conftest import partition_range_tags
from tests.support.servers import collector_process, wait_until

RESULTS = Path(__file__).parent / "results"
COLLECTOR_VARIABLES = (
    "RAW_LOG_ROOT",
    "RAW_LOG_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "KAFKA_BOOTSTRAP_SERVERS",
)
SINKS = ("staging", "kafka", "staging+kafka")
TOPIC = "user-behaviors"


def percentiles(values: list[float], scale: float = 1.0, digits: int = 3) -> dict[str, object]:
    if not values:
        return {"n": 0, "p50": None, "p99": None}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50) * scale, digits),
        "p99": round(percentile(values, 99) * scale, digits),
    }


class TimedClient:
    """An httpx client that records each POST's time until its answer (the 2xx)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.latencies: list[float] = []

    def post(self, *args: object, **kwargs: object) -> httpx.Response:
        started = time.perf_counter()
        response = self.client.post(*args, **kwargs)  # type: ignore[arg-type]
        self.latencies.append(time.perf_counter() - started)
        return response


@dataclass
class Sent:
    acknowledged: int
    elapsed: float
    last_ack: float
    latencies: list[float] = field(default_factory=list)
    warmup: int = 0  # acknowledged before the clock started (first requests of a process)
    started: float = 0.0  # monotonic time the clock started


def send_at_rate(url: str, rate: int, seconds: int, seed: int = 0) -> Sent:
    """Send `rate` events per second for `seconds`. The traffic (events of the last 10
    minutes) is generated first, so the clock measures only the collector; a second whose
    sending takes longer than a second delays the next, so the achieved rate is what the
    collector sustains on this machine (sending stops after `seconds` either way)."""
    now = dt.datetime.now(dt.UTC)
    traffic = generate_behaviors(
        now - dt.timedelta(minutes=10), now, int(rate * seconds * 1.3), seed=seed
    )
    traffic = traffic.sort_by("timestamp")
    with httpx.Client(timeout=30) as client:
        # One untimed second first: a fresh collector's first requests import and connect.
        warmup = traffic.slice(rate * seconds, min(rate, 1000))
        send_to_collector(client, url, warmup)
        acknowledged, started = 0, time.monotonic()
        timed_client = TimedClient(client)
        for tick in range(seconds):
            batch = traffic.slice(tick * rate, rate)
            if batch.num_rows == 0 or time.monotonic() - started >= seconds:
                break  # a collector that falls behind gets `seconds` of traffic, not more
            send_to_collector(timed_client, url, batch)  # type: ignore[arg-type]
            acknowledged += batch.num_rows
            behind = started + tick + 1 - time.monotonic()
            if behind > 0:
                time.sleep(behind)
    return Sent(
        acknowledged,
        time.monotonic() - started,
        time.monotonic(),
        timed_client.latencies,
        warmup.num_rows,
        started,
    )


def staged_events(hours: list[dt.datetime]) -> int:
    raw_event_log = RawLogStorage(**raw_log_settings(resolved))
    return sum(raw_event_log.distinct_event_count(behaviors.STREAM, hour) for hour in hours)


def collector_env(sink: str, raw_log_root: str | None = None) -> dict[str, str]:
    env = {name: os.environ[name] for name in COLLECTOR_VARIABLES}
    env["COLLECTOR_SINK"] = sink
    env["COLLECTOR_SEGMENT_MAX_SECONDS"] = "10"  # the production default
    if raw_log_root:
        env["RAW_LOG_ROOT"] = raw_log_root
    return env


def topic_size(bootstrap: str) -> int:
    """Messages on the behaviors topic: the sum of its partitions' high watermarks (an
    idempotent, non-transactional producer: one offset per message)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-e2e-watermarks"})
    try:
        partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


# -- phase 1: the collector's sinks side by side -------------------------------------------


def sinks_phase(directory: Path, rate: int, seconds: int) -> dict[str, object]:
    results: dict[str, object] = {}
    for index, sink in enumerate(SINKS):
        folder = directory / f"collector-{sink.replace('+', '-')}"
        folder.mkdir()
        # Its own raw log root: the batch-path measurements below count only their own run.
        root = f"s3://{RAW_LOG_BUCKET}/bench-sinks/{sink.replace('+', '-')}"
        with collector_process(folder, collector_env(sink, root)) as collector:
            sent = send_at_rate(collector.url, rate, seconds, seed=100 + index)
        rate_achieved = sent.acknowledged / sent.elapsed
        results[sink] = {
            "acknowledged": sent.acknowledged,
            "events_per_second": round(rate_achieved),
            "requests": len(sent.latencies),
            "ack_ms": percentiles(sent.latencies, 1000, 1),
        }
        ack = results[sink]["ack_ms"]  # type: ignore[index]
        print(
            f"sink {sink}: {rate_achieved:,.0f} events/s acknowledged, "
            f"ack p50 {ack['p50']} ms / p99 {ack['p99']} ms ({len(sent.latencies)} requests)",
            flush=True,
        )
    staging = results["staging"]["ack_ms"]  # type: ignore[index]
    for sink in SINKS[1:]:
        ack = results[sink]["ack_ms"]  # type: ignore[index]
        results[sink]["ack_p50_ratio_to_staging"] = round(ack["p50"] / staging["p50"], 2)  # type: ignore[index]
        results[sink]["ack_p99_ratio_to_staging"] = round(ack["p99"] / staging["p99"], 2)  # type: ignore[index]
        results[sink]["events_per_second_ratio_to_staging"] = round(  # type: ignore[index]
            results[sink]["events_per_second"] / results["staging"]["events_per_second"],  # type: ignore[index]
            3,
        )
    return results


# -- phase 2: the stream path ----------------------------------------------------------------


class RowsRead:
    """Samples each active job's `rowsRead` (Flink's operator counter, summed over
    subtasks; the cluster refreshes metrics every 2 s) every `interval` s in a thread."""

    def __init__(self, rest_url: str, interval: float = 2.0) -> None:
        from analytics_lib.flink_cluster.cluster import FlinkRest

        self.rest = FlinkRest(rest_url)
        self.interval = interval
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self.job_ids: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "RowsRead":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for job in self.rest.jobs():
                    if job.active:
                        self.job_ids[job.name] = job.job_id
                for name, job_id in list(self.job_ids.items()):
                    rows = self.rest.operator_counter(job_id, "rowsRead")
                    self.samples.setdefault(name, []).append((time.monotonic(), rows))
            except Exception:  # a job between states, a busy JobManager: next round
                pass
            self._stop.wait(self.interval)

    def newest(self, job: str) -> int:
        return self.samples.get(job, [(0.0, 0)])[-1][1]

    def first_reaching(self, job: str, rows: int, after: float = 0.0) -> float | None:
        return next((t for t, r in self.samples.get(job, []) if t >= after and r >= rows), None)

    def rate(self, job: str, start: float, end: float) -> float | None:
        """Rows read per second between the first and last samples in [start, end]."""
        window = [(t, r) for t, r in self.samples.get(job, []) if start <= t <= end]
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            return None
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])

    def backlog_rate(self, job: str, backlog: int) -> float | None:
        """Events/s from the first sample showing rows read until the backlog is read;
        None when the job read it all within one metrics refresh."""
        first = next(((t, r) for t, r in self.samples.get(job, []) if r > 0), None)
        done = self.first_reaching(job, backlog)
        if first is None or done is None or first[1] >= backlog or done <= first[0]:
            return None
        return (backlog - first[1]) / (done - first[0])


class Markers:
    """Marker events: a click of a fresh user each, through the behavior API, timed from
    the collector's 2xx until `user:recent:{tenant}:{user}` exists in Redis (`user_recent`)
    and until the event is in `user_behaviors` (`clickhouse_sink`)."""

    def __init__(
        self, url: str, redis_url: str, clickhouse_url: str, per_second: float, seed: int = 7
    ) -> None:
        import redis

        self.url = url
        self.redis = redis.Redis.from_url(redis_url)
        self.clickhouse_url = clickhouse_url
        self.interval = 1 / per_second
        now = dt.datetime.now(dt.UTC)
        (self.template,) = (
            generate_behaviors(now - dt.timedelta(seconds=1), now, 1, seed=seed)
            .slice(0, 1)
            .to_pylist()
        )
        self.run = uuid.uuid4().hex[:8]
        self.sent: list[tuple[str, str, float, float]] = []  # id, key, 2xx time, request s
        self.in_redis: dict[str, float] = {}
        self.in_clickhouse: dict[str, float] = {}
        self.lock = threading.Lock()
        self.sending = threading.Event()
        self.polling = threading.Event()
        self.threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._poll_redis, daemon=True),
            threading.Thread(target=self._poll_clickhouse, daemon=True),
        ]

    def start(self) -> "Markers":
        self.sending.set()
        self.polling.set()
        for thread in self.threads:
            thread.start()
        return self

    def stop_sending(self) -> None:
        self.sending.clear()
        self.threads[0].join(30)

    def wait_visible(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
            len(self.in_redis) < len(self.sent) or len(self.in_clickhouse) < len(self.sent)
        ):
            time.sleep(0.2)
        self.polling.clear()
        for thread in self.threads[1:]:
            thread.join(30)

    def _row(self, number: int) -> tuple[str, str, dict[str, object]]:
        t = self.template
        event_id, user = str(uuid.uuid4()), f"bench-{self.run}-{number}"
        row = {
            "event_id": event_id,
            "tenant_id": t["tenant_id"],
            "scenario_id": t["scenario_id"],
            "user_id": user,
            "item_id": t["item_id"],
            "action_type": "click",
            "timestamp": int(time.time() * 1000),
            "watch_duration": t["watch_duration"],
            "completion_rate": t["completion_rate"],
            "experiment_id": t["experiment_id"],
            "experiment_group": t["experiment_group"],
            "context": {k: t[k] for k in ("device_type", "os", "location", "ip")},
        }
        return event_id, f"user:recent:{t['tenant_id']}:{user}", row

    def _send(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=30) as client:
            number = 0
            while self.sending.is_set():
                event_id, key, row = self._row(number)
                before = time.monotonic()
                client.post(f"{self.url}/api/v1/behaviors", json=[row]).raise_for_status()
                acked = time.monotonic()
                with self.lock:
                    self.sent.append((event_id, key, acked, acked - before))
                number += 1
                pause = started + number * self.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

    def _pending(self, seen: dict[str, float]) -> list[tuple[str, str]]:
        with self.lock:
            return [(e, k) for e, k, _, _ in self.sent if e not in seen]

    def _poll_redis(self) -> None:
        while self.polling.is_set():
            pending = self._pending(self.in_redis)
            if pending:
                pipe = self.redis.pipeline(transaction=False)
                for _, key in pending:
                    pipe.exists(key)
                found = pipe.execute()
                now = time.monotonic()
                for (event_id, _), exists in zip(pending, found, strict=True):
                    if exists:
                        self.in_redis[event_id] = now
            time.sleep(0.02)

    def _poll_clickhouse(self) -> None:
        with httpx.Client(timeout=10) as client:
            while self.polling.is_set():
                pending = self._pending(self.in_clickhouse)
                if pending:
                    ids = ",".join(f"'{e}'" for e, _ in pending)
                    try:
                        answer = client.post(
                            self.clickhouse_url,
                            params={"database": "default"},
                            content="SELECT toString(event_id) FROM user_behaviors "
                            f"WHERE event_id IN ({ids}) FORMAT TabSeparated",
                        )
                        now = time.monotonic()
                        if answer.status_code == 200:
                            for event_id in answer.text.split():
                                self.in_clickhouse.setdefault(event_id, now)
                    except httpx.HTTPError:
                        pass
                time.sleep(0.25)

    def latencies(self, seen: dict[str, float]) -> list[float]:
        return [seen[e] - acked for e, _, acked, _ in self.sent if e in seen]

    def summary(self) -> dict[str, object]:
        return {
            "markers": len(self.sent),
            "marker_ack_ms": percentiles([s[3] for s in self.sent], 1000, 1),
            "landed_to_redis_seconds": percentiles(self.latencies(self.in_redis)),
            "landed_to_clickhouse_seconds": percentiles(self.latencies(self.in_clickhouse)),
        }


def launch_stream_jobs() -> list[str]:
    """The platform's way: one `flink_job_supervisor` tick and its `launch_stream_job`
    runs, with the resources the code location builds from the stack's environment."""
    from dagster import DagsterInstance

    from tests.support.stream import Supervisor

    every = resources_from_environment()  # only the launch's: others open connections
    needed = ("flink", "raw_event_log", "realtime_redis", "clickhouse_sink")
    supervisor = Supervisor(DagsterInstance.ephemeral(), {k: every[k] for k in needed})
    return supervisor.launch_requested()


def stream_phase(
    stack: LocalStack, directory: Path, args: argparse.Namespace, results: dict[str, object]
) -> None:
    """The stream measurements, and the batch path's from the same traffic."""
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    backlog = topic_size(bootstrap)
    sampler = RowsRead(os.environ["FLINK_REST_URL"]).start()
    stream: dict[str, object] = {"backlog_events": backlog}
    results["stream"] = stream
    try:
        launched, stream["launch_seconds"] = timed(
            "launch the stream jobs from Kafka (supervisor tick + launch runs)",
            launch_stream_jobs,
        )
        stream["jobs"] = launched
        if backlog:
            wait_until(
                lambda: all(sampler.newest(j) >= backlog for j in launched), 300, "backlog read"
            )
            rates = {j: sampler.backlog_rate(j, backlog) for j in launched}
            stream["backlog_events_per_second"] = {
                j: round(r) if r is not None else None for j, r in rates.items()
            }
            print(f"backlog of {backlog:,} events read: {stream['backlog_events_per_second']}")
        else:
            wait_until(lambda: all(j in sampler.samples for j in launched), 120, "jobs running")

        first_hour = hour_floor(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
        (directory / "collector").mkdir()
        with collector_process(
            directory / "collector", collector_env("staging+kafka")
        ) as collector:
            markers = Markers(
                collector.url, os.environ["REDIS_URL"], stack.clickhouse.url, args.markers
            )
            topic_before = topic_size(bootstrap)
            markers.start()
            sent = send_at_rate(collector.url, args.rate, args.seconds, seed=1)
            markers.stop_sending()
            topic_after = topic_size(bootstrap)
            acknowledged = sent.acknowledged + sent.warmup + len(markers.sent)
            rate = sent.acknowledged / sent.elapsed
            print(
                f"sent and acknowledged {sent.acknowledged} events in {sent.elapsed:.1f} s: "
                f"{rate:,.0f}/s (+{sent.warmup} untimed first, {len(markers.sent)} markers)",
                flush=True,
            )
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
            landing_lag = time.monotonic() - sent.last_ack
        print(f"landing lag (last ack → all in the raw log on S3): {landing_lag:.1f} s")
        results.update(
            acknowledged=acknowledged,
            events_per_second=round(rate),
            ack_ms=percentiles(sent.latencies, 1000, 1),
            landing_lag_seconds=round(landing_lag, 1),
        )

        markers.wait_visible(120)
        stream.update(markers.summary())
        try:
            wait_until(
                lambda: all(sampler.newest(j) >= topic_after for j in launched),
                180,
                "jobs caught up",
            )
        except TimeoutError:
            print("not every job read the whole topic within 180 s of the last marker")
        live_start = sent.started  # the timed traffic: after generation and the warm-up
        produced = topic_after - topic_before - sent.warmup
        stream["topic_events_per_second"] = round(produced / (sent.last_ack - live_start))
        live: dict[str, object] = {}
        for job in launched:
            job_rate = sampler.rate(job, live_start, sent.last_ack)
            reached = sampler.first_reaching(job, topic_after, after=sent.last_ack)
            live[job] = {
                "events_per_second": round(job_rate) if job_rate is not None else None,
                "ratio_to_topic": round(job_rate / float(stream["topic_events_per_second"]), 3)  # type: ignore[arg-type]
                if job_rate is not None
                else None,
                "caught_up_seconds_after_last_ack": round(reached - sent.last_ack, 1)
                if reached is not None
                else None,
            }
        stream["live"] = live
        print(json.dumps(stream, indent=1), flush=True)
    finally:
        sampler.stop()
        rest = sampler.rest
        for job in rest.jobs():  # the loads below do not share the cores with the jobs
            if job.active:
                rest.cancel(job.job_id)
        wait_until(lambda: not any(j.active for j in rest.jobs()), 60, "jobs cancelled")

    from analytics_assets.lakehouse.ods import ods_events
    from tests.support.domains import BEHAVIOR_ASSETS

    resources = resources_from_environment()
    tags = partition_range_tags(hours[0], hours[-1])
    loaded, results["clickhouse_load_seconds"] = timed(
        "user_behaviors range load into the ClickHouse server",
        lambda: materialize(
            [*BEHAVIOR_ASSETS], selection=["user_behaviors"], tags=tags,
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
        landing_lag + float(results["clickhouse_load_seconds"]),  # type: ignore[arg-type]
        1,
    )
    results["freshness_lag_ods_seconds"] = round(
        landing_lag + float(results["ods_load_seconds"]),  # type: ignore[arg-type]
        1,
    )
    assert results["clickhouse_rows"] == acknowledged, results


def table(results: dict[str, object]) -> str:
    """The short summary printed at the end."""
    lines = []
    sinks = results.get("sinks")
    if isinstance(sinks, dict):
        lines.append(
            "collector sink    events/s   ack p50 / p99 ms   vs staging (p50, p99, events/s)"
        )
        for sink, r in sinks.items():
            ratio = (
                f"{r['ack_p50_ratio_to_staging']}x, {r['ack_p99_ratio_to_staging']}x, "
                f"{r['events_per_second_ratio_to_staging']}x"
                if "ack_p50_ratio_to_staging" in r
                else "(anchor)"
            )
            lines.append(
                f"{sink:<16} {r['events_per_second']:>9,}   "
                f"{r['ack_ms']['p50']:>6} / {r['ack_ms']['p99']:<7}   {ratio}"
            )
    stream = results.get("stream")
    if isinstance(stream, dict) and "live" in stream:
        lines.append(
            f"stream: topic took {stream['topic_events_per_second']:,} events/s; "
            f"backlog of {stream['backlog_events']:,} read at "
            f"{stream.get('backlog_events_per_second', {})}"
        )
        for job, r in stream["live"].items():
            lines.append(
                f"  {job:<17} live {r['events_per_second']} events/s "
                f"({r['ratio_to_topic']} of the topic's), caught up "
                f"{r['caught_up_seconds_after_last_ack']} s after the last ack"
            )
        for what in ("landed_to_redis_seconds", "landed_to_clickhouse_seconds"):
            p = stream[what]
            lines.append(f"  {what}: p50 {p['p50']} s / p99 {p['p99']} s ({p['n']} markers)")
    if "landing_lag_seconds" in results:
        lines.append(
            f"batch: {results['events_per_second']:,} events/s; last ack → S3 "
            f"{results['landing_lag_seconds']} s; loads CH {results['clickhouse_load_seconds']:.1f}"
            f" s / ODS {results['ods_load_seconds']:.1f} s"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=45, help="stream phase traffic")
    parser.add_argument("--rate", type=int, default=2000, help="events per second")
    parser.add_argument("--sink-seconds", type=int, default=15, help="traffic per sink")
    parser.add_argument("--markers", type=float, default=2.0, help="marker events per second")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sinks-only", action="store_true", help="phase 1 only")
    only.add_argument("--stream-only", action="store_true", help="phases 2 and 3 only")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    directory.chmod(0o755)  # PostgreSQL runs as its own user when we are root
    stack = LocalStack(directory / "stack", free_port_base())
    results: dict[str, object] = {
        "date": dt.date.today().isoformat(),
        "command": " ".join(["bench/e2e_stack.py", *sys.argv[1:]]),
        "rate_target": args.rate,
        "seconds": args.seconds,
        "sink_seconds": args.sink_seconds,
    }
    started = time.monotonic()
    try:
        _, results["stack_up_seconds"] = timed("stack up", stack.up)
        os.environ.update(stack.environment())
        if not args.stream_only:
            results["sinks"] = sinks_phase(directory, args.rate, args.sink_seconds)
        if not args.sinks_only:
            stream_phase(stack, directory, args, results)
    finally:
        stack.down()
        shutil.rmtree(directory, ignore_errors=True)
        results["wall_seconds"] = round(time.monotonic() - started)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "e2e_stack.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
