"""The services behind the collector restarted under load — Apache Kafka (Kafka sink,
KRaft, stopped, killed -9, down longer than the delivery timeout), SeaweedFS (staging sink
with the raw log on S3), Redis (the whitelist) — each through its `stack` launcher, on the
same ports and data. The collector holds or buffers what arrives meanwhile and recovers;
every acknowledged event is found downstream.
"""

import contextlib
import dataclasses
import datetime as dt
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis

from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_collector.event_log import KAFKA_TOPICS
from analytics_lib.raw_log import behaviors, sa_events
from analytics_lib.raw_log.contract import StreamContract
from analytics_lib.raw_log.storage import hour_floor
from stack.kafka import KafkaBroker, collector_topics
from stack.processes import free_port
from stack.redis import RedisServer
from stack.seaweedfs import S3Endpoint, SeaweedFS, free_ports
from tests.reliability import report
from tests.support.kafka import read_topic
from tests.support.load import LoadGenerator, sensors_event_id
from tests.support.servers import CollectorProcess, collector_process
from tests.support.staging import read_stream

EVENTS_PER_SECOND = 300
BEFORE_SECONDS = 5.0  # load before the fault
AFTER_SECONDS = 8.0  # load after the service is back
# Kafka is down for well under the Kafka sink's delivery timeout (10 s): a restart, not an
# outage (longer: see the outage test). S3 long enough for several failed uploads.
KAFKA_DOWN_SECONDS = 3.0
S3_DOWN_SECONDS = 8.0
REDIS_DOWN_SECONDS = 5.0
WHITELIST_FAILED = "whitelist lookup failed (Redis unavailable)"


@dataclass(frozen=True)
class Outage:
    """When a service was asked to stop, when it had stopped and when it answered again
    (wall clock)."""

    stop_requested: float
    stopped: float
    restarted: float

    def covers(self, moment: float, slack: float = 0.0) -> bool:
        return self.stop_requested - slack <= moment <= self.restarted + slack

    def describe(self, service: str) -> str:
        return (
            f"{service} stopping {self.stopped - self.stop_requested:.1f} s, "
            f"down {self.restarted - self.stopped:.1f} s"
        )


def restart(
    service: SeaweedFS | KafkaBroker | RedisServer, down_seconds: float, kill: bool = False
) -> Outage:
    """Stop the service (its launcher's SIGTERM, waited for; SIGKILL when `kill`), keep it
    down, start it on the same port and data; returns when it answers again."""
    stop_requested = time.time()
    if kill:
        dataclasses.replace(service.daemon, stop_signal=signal.SIGKILL).stop()
    else:
        service.stop()
    stopped = time.time()
    time.sleep(down_seconds)
    service.start()
    return Outage(stop_requested, stopped, time.time())


@contextlib.contextmanager
def seaweedfs(directory: Path, buckets: tuple[str, ...]) -> Iterator[SeaweedFS]:
    """SeaweedFS on free ports, kept as the launcher (`stack.seaweedfs.seaweedfs_s3` yields
    only the endpoint), so a test can restart it."""
    server = SeaweedFS(directory / "seaweedfs", free_ports(), "reliability-key", "reliability-s")
    try:
        server.start()
        server.create_buckets(buckets)
        yield server
    finally:
        server.stop()


def s3_environment(endpoint: S3Endpoint, root: str) -> dict[str, str]:
    return {
        "RAW_LOG_ROOT": root,
        "RAW_LOG_S3_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
    }


def read_raw_log(log: RawEventLog, contract: StreamContract, since: dt.datetime) -> pa.Table:
    """Every row of a stream from the hour of `since` to now (folder or S3)."""
    hour, tables = hour_floor(since), []
    while hour <= dt.datetime.now(dt.UTC):
        tables.append(log.read_hour(contract, hour)[0])
        hour += dt.timedelta(hours=1)
    return pa.concat_tables(tables)


def wait_until_shipped(server: CollectorProcess, timeout: float = 60) -> None:
    """Until the collector's disk buffer is empty (every segment shipped to the raw log)."""
    deadline = time.monotonic() + timeout
    while list(server.buffer.glob("*.seg")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.buffer} still holds segments after {timeout} s")
        time.sleep(0.2)


def acknowledged_during(load: LoadGenerator, outage: Outage) -> int:
    """Batches answered 2xx while the service was down."""
    return sum(
        1
        for b in load.batches
        if b.acknowledged_at is not None and outage.covers(b.acknowledged_at)
    )


def held_longer_than(load: LoadGenerator, seconds: float) -> int:
    """Requests whose acknowledgement took longer than `seconds`."""
    return sum(1 for b in load.batches if b.latency is not None and b.latency > seconds)


def ids_in_topic(bootstrap: str, topic: str) -> list[str]:
    return [orjson.loads(value)["event_id"] for value in read_topic(bootstrap, topic)]


def run_with_kafka_outage(
    tmp_path: Path, down_seconds: float, kill: bool = False
) -> tuple[LoadGenerator, Outage, list[str], str]:
    """Kafka sink (acks=all, idempotent producer) against Apache Kafka; the broker stopped
    (or killed -9) and started again on the same data mid-run. The load, the outage,
    every `event_id` in `user-behaviors` (both front doors map there) and the collector's
    log."""
    broker = KafkaBroker(tmp_path / "kafka", free_port(), free_port())
    try:
        broker.start()
        broker.create_topics(collector_topics())
        env = {"COLLECTOR_SINK": "kafka", "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
        with collector_process(tmp_path, env=env) as server:
            load = LoadGenerator(server.url, EVENTS_PER_SECOND, senders=4)
            with load.running(drain_seconds=20):
                time.sleep(BEFORE_SECONDS)
                outage = restart(broker, down_seconds, kill=kill)
                time.sleep(AFTER_SECONDS)
        found = ids_in_topic(broker.bootstrap, KAFKA_TOPICS[behaviors.STREAM])
        return load, outage, found, server.log_path.read_text()
    finally:
        broker.stop()


def record_kafka_outcome(
    load: LoadGenerator, outage: Outage, found: list[str], scenario: str, how: str
) -> report.Outcome:
    acknowledged = load.acknowledged_ids()
    distinct = set(found)
    never = len(load.sent_ids() - acknowledged)
    refused = f"; {never} events never acknowledged ({load.last_refusal[:90]}…)" if never else ""
    return report.record(
        report.Outcome(
            scenario=scenario,
            faults=f"Apache Kafka (KRaft) {how} and started mid-run; {outage.describe('broker')}",
            sent=len(load.sent_ids()),
            acknowledged=len(acknowledged),
            found=len(acknowledged & distinct),
            duplicates=len(found) - len(distinct),
            note=(
                f"downstream = topic user-behaviors read from the start to its high watermark "
                f"(distinct event_id; no dedup on a topic, so duplicates are counted, not "
                f"removed); {held_longer_than(load, 1.0)} requests held over 1 s while "
                f"librdkafka queued their messages; {load.summary()}{refused}"
            ),
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kill", "scenario", "how"),
    [
        (False, "Kafka restart (Kafka sink)", "stopped"),
        (True, "Kafka kill -9 (Kafka sink)", "killed -9"),
    ],
    ids=["sigterm", "kill-9"],
)
def test_kafka_restart_under_load_keeps_every_acknowledged_event_once(
    tmp_path: Path, kill: bool, scenario: str, how: str
) -> None:
    """Stopped (a controlled shutdown) or killed -9 with acks=all, started 3 s later on the
    same data: what the broker acknowledged is in its log (after a kill the page cache
    outlives the process), and the idempotent producer's retries of unacknowledged
    batches are written once (the broker rebuilds producer state from its log); the only
    duplicates are copies the clients re-sent after a timeout or a 503."""
    load, outage, found, _ = run_with_kafka_outage(tmp_path, KAFKA_DOWN_SECONDS, kill=kill)
    outcome = record_kafka_outcome(load, outage, found, scenario, how)

    acknowledged = load.acknowledged_ids()
    assert len(acknowledged) > BEFORE_SECONDS * EVENTS_PER_SECOND, "the load never got going"
    assert outcome.lost == 0, f"{len(acknowledged - set(found))} acknowledged events not in Kafka"
    assert acknowledged == load.sent_ids(), f"the collector did not recover after being {how}"
    assert held_longer_than(load, 1.0) > 0, f"no request waited: the broker {how} missed the load"
    assert outcome.duplicates <= load.retried_copies(), (
        f"{outcome.duplicates} duplicates, more than the {load.retried_copies()} copies "
        "clients re-sent: the idempotent producer's own retries wrote twice"
    )


@pytest.mark.slow
def test_kafka_outage_longer_than_the_delivery_timeout_recovers(tmp_path: Path) -> None:
    """Down longer than the 10 s delivery timeout: the requests waiting meanwhile are
    refused (503) and retried by their clients, and the collector serves again once the
    broker is back."""
    load, outage, found, _ = run_with_kafka_outage(tmp_path, down_seconds=15.0)
    outcome = record_kafka_outcome(
        load, outage, found, "Kafka outage > delivery timeout", "stopped for 15 s"
    )

    assert outcome.lost == 0, f"{outcome.lost} acknowledged events not in Kafka"
    assert load.acknowledged_ids() == load.sent_ids(), (
        f"still refused after the broker came back: {load.last_refusal}"
    )
    assert load.retried_batches() > 0, "no request failed: the outage was too short"


@pytest.mark.slow
def test_seaweedfs_restart_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    root = "s3://raw-log/reliability"
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)  # events of the last minute
    with seaweedfs(tmp_path, ("raw-log",)) as s3:
        env = s3_environment(s3.endpoint, root) | {"COLLECTOR_SEGMENT_MAX_SECONDS": "1"}
        with collector_process(tmp_path, env=env) as server:
            load = LoadGenerator(server.url, EVENTS_PER_SECOND, senders=4)
            with load.running(drain_seconds=20):
                time.sleep(BEFORE_SECONDS)
                outage = restart(s3, S3_DOWN_SECONDS)
                time.sleep(AFTER_SECONDS)
            wait_until_shipped(server)
        raw_log = RawEventLog(
            root=root,
            s3_endpoint_url=s3.endpoint.url,
            s3_access_key_id=s3.endpoint.access_key,
            s3_secret_access_key=s3.endpoint.secret_key,
        )
        stored = read_raw_log(raw_log, behaviors.CONTRACT, started)
    ship_failures = server.log_path.read_text().count("failed; retrying")
    acknowledged = load.acknowledged_ids()
    stored_ids = set(stored["event_id"].to_pylist())
    outcome = report.record(
        report.Outcome(
            scenario="SeaweedFS restart (staging on S3)",
            faults=f"SeaweedFS stopped and started mid-run; {outage.describe('S3')}",
            sent=len(load.sent_ids()),
            acknowledged=len(acknowledged),
            found=len(acknowledged & stored_ids),
            duplicates=stored.num_rows - len(stored_ids),
            note=(
                f"downstream = behaviors files in the raw-log bucket (distinct event_id; the "
                f"user_behaviors load dedups them); {acknowledged_during(load, outage)} "
                f"batches answered from the disk buffer while S3 was down, {ship_failures} "
                f"failed uploads retried; {load.summary()}"
            ),
        )
    )

    assert len(acknowledged) > BEFORE_SECONDS * EVENTS_PER_SECOND, "the load never got going"
    assert ship_failures > 0, "no upload failed: the restart missed the shipper"
    assert acknowledged_during(load, outage) > 0, "the disk buffer did not take the load"
    assert outcome.lost == 0, f"{len(acknowledged - stored_ids)} acknowledged events not on S3"
    assert acknowledged == load.sent_ids(), "requests were refused: the buffer did not absorb it"
    assert outcome.duplicates == 0, "a re-shipped segment duplicated rows (names must be stable)"


def whitelist_everyone(url: str, users: int) -> None:
    """`user_whitelist:u<n>` for every user the traffic generator draws."""
    with redis.Redis.from_url(url) as client:
        client.mset({f"user_whitelist:u{n}": "reliability" for n in range(users)})


@pytest.mark.slow
def test_redis_restart_keeps_records_invalid_with_a_reason_and_loses_none(
    tmp_path: Path,
) -> None:
    whitelist = RedisServer(tmp_path / "redis", free_port(), persistent=True)
    try:
        whitelist_everyone(whitelist.start(), users=20_000)
        env = {"COLLECTOR_REDIS_URL": whitelist.url}
        with collector_process(tmp_path, env=env) as server:
            load = LoadGenerator(server.url, EVENTS_PER_SECOND, senders=4, sensors_every=1)
            with load.running(drain_seconds=20):
                time.sleep(BEFORE_SECONDS)
                outage = restart(whitelist, REDIS_DOWN_SECONDS)
                time.sleep(AFTER_SECONDS)
    finally:
        whitelist.stop()
    records = read_stream(server.staging, sa_events.CONTRACT)
    mapped = set(read_stream(server.staging, behaviors.CONTRACT)["event_id"].to_pylist())
    acknowledged = load.acknowledged_keys()
    found_keys = set(records["dedup_key"].to_pylist())
    failed = records.filter(pc.equal(records["invalid_reason"], WHITELIST_FAILED))
    other_invalid = records.filter(
        pc.and_(
            pc.invert(records["is_valid"]),
            pc.not_equal(records["invalid_reason"], WHITELIST_FAILED),
        )
    )
    failed_at = [t.timestamp() for t in failed["received_at"].to_pylist()]
    valid_keys = set(records.filter(records["is_valid"])["dedup_key"].to_pylist())
    outcome = report.record(
        report.Outcome(
            scenario="Redis restart (whitelist)",
            faults=f"Redis stopped and started mid-run; {outage.describe('Redis')}",
            sent=len(load.sent_keys()),
            acknowledged=len(acknowledged),
            found=len(acknowledged & found_keys),
            duplicates=records.num_rows - len(found_keys),
            note=(
                f"downstream = sa_events in staging (distinct dedup_key); {failed.num_rows} "
                f"records kept with is_valid=false '{WHITELIST_FAILED}' (lookups of users "
                f"not in the collector's 60 s cache during the outage), valid ones also in "
                f"behaviors; {load.summary()}"
            ),
        )
    )

    assert len(acknowledged) > BEFORE_SECONDS * EVENTS_PER_SECOND, "the load never got going"
    assert outcome.lost == 0, f"{len(acknowledged - found_keys)} acknowledged records lost"
    assert acknowledged == load.sent_keys(), "requests failed because Redis was down"
    assert failed.num_rows > 0, "no lookup failed: the restart missed the load"
    assert all(outage.covers(t, slack=2.0) for t in failed_at), (
        "records marked 'whitelist lookup failed' outside the outage: the client did not reconnect"
    )
    assert other_invalid.num_rows == 0, "records invalid for another reason"
    assert mapped == {sensors_event_id(key) for key in valid_keys}, (
        "behaviors must be exactly the valid records (invalid ones are not mapped)"
    )
