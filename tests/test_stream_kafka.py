"""The stream layer reading Kafka: the collector's Kafka sink (`KafkaEventLog`) writes to
Apache Kafka (KRaft, `stack.kafka`), the supervisor launches every job with `source: kafka`
and the Kafka connector `make flink-env` installs from Maven Central (Apache's shaded
flink-sql-connector-kafka 5.0.0-2.2, built for Flink 2.2, on the Flink 2.3 cluster), and
Redis and `user_behaviors` equal the independent computation although the topic carries
events twice (10 % copies, then every event twice, the second copy after a restore),
through a cancel and a restore from checkpoints (Kafka offsets in the checkpoint: exact
counts, nothing doubled) and with malformed messages as dead letters."""

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import redis
from confluent_kafka import Producer
from dagster import DagsterInstance

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import STREAM_JOBS
from analytics_collector.event_log import KAFKA_TOPICS, KafkaEventLog, json_rows
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import FlinkRest, LocalFlinkCluster
from analytics_lib.raw_log import behaviors
from analytics_lib.stream.consumer_lag import consumer_group_lag, flink_group_id
from stack.kafka import KafkaBroker, collector_topics
from stack.processes import free_port
from tests.support.servers import clickhouse_server, local_flink, redis_server, wait_until
from tests.support.stream import (
    Supervisor,
    clickhouse_mismatch,
    dead_letters,
    wait_for,
    wait_for_redis,
    wait_restored,
    with_copies,
)

pytestmark = pytest.mark.slow

START = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
TOPIC = KAFKA_TOPICS[behaviors.STREAM]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Kept as the launcher, so a test can restart it on the same port and data."""
    server = KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port())
    try:
        server.start()
        server.create_topics(collector_topics())
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bootstrap(broker: KafkaBroker) -> str:
    return broker.bootstrap


@pytest.fixture(scope="module")
def flink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFlinkCluster]:
    with local_flink(tmp_path_factory.mktemp("flink")) as cluster:
        yield cluster


def produce_through_the_collector_sink(bootstrap: str, table: pa.Table) -> None:
    """The collector's own writer: acknowledged only when every message is."""
    asyncio.run(KafkaEventLog(bootstrap).append({behaviors.STREAM: table}))


def produce_malformed(bootstrap: str, template: dict[str, object]) -> None:
    """What a broken producer could put on the topic: no JSON, and an unknown action."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(TOPIC, b"{not json")
    producer.produce(TOPIC, json.dumps({**template, "action_type": "teleport"}).encode())
    assert producer.flush(20) == 0


def test_jobs_read_the_collectors_topic_and_match_the_oracle_through_a_restore(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    broker: KafkaBroker,
    bootstrap: str,
    flink: LocalFlinkCluster,
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    with (
        redis_server(tmp_path / "redis") as redis_url,
        clickhouse_server(tmp_path / "clickhouse") as clickhouse_root,
    ):
        clickhouse_url = f"{clickhouse_root}/default"
        resources = {
            "flink": FlinkResource(
                rest_url=flink.rest_url, source="kafka", kafka_bootstrap_servers=bootstrap
            ),
            "raw_event_log": RawEventLog(root=str(tmp_path / "staging")),  # unused by Kafka jobs
            "realtime_redis": RealtimeRedis(url=redis_url),
            "clickhouse_sink": ClickHouseSinkTarget(url=clickhouse_url),
        }
        clickhouse = ClickHouseResource(url=clickhouse_url)
        client = redis.Redis.from_url(redis_url)
        rest = FlinkRest(flink.rest_url)
        supervisor = Supervisor(DagsterInstance.ephemeral(), resources)

        first = generate_behaviors(START, START + dt.timedelta(minutes=20), 8_000, seed=21)
        produce_through_the_collector_sink(bootstrap, first.slice(0, 5_000))
        produce_through_the_collector_sink(bootstrap, with_copies(first.slice(5_000), 0.1, seed=3))
        retried = np.random.default_rng(4).choice(5_000, 500, replace=False)
        produce_through_the_collector_sink(bootstrap, first.take(pa.array(retried)))
        (template,) = json_rows(behaviors.CONTRACT.conform(first.slice(0, 1)))
        produce_malformed(bootstrap, {**template, "event_id": str(uuid.uuid4())})

        # 1. Every declared job launched once, reading the topic; Redis and ClickHouse
        #    equal the oracle.
        assert supervisor.launch_requested() == sorted(j.name for j in STREAM_JOBS)
        submitted = json.loads(
            (tmp_path / "data" / "flink" / "launches.jsonl").read_text().splitlines()[0]
        )
        assert submitted["job_id"] in {j.job_id for j in rest.jobs()}
        events = pl.from_arrow(first)
        print(f"Redis matched the oracle after {wait_for_redis(client, events):.1f} s")
        with clickhouse.opened():
            wait_for(lambda: clickhouse_mismatch(clickhouse, events), "user_behaviors")

        # 2. The two malformed messages are each job's dead letters; no job failed.
        dead_root = tmp_path / "data" / "flink" / "dead_letters"
        wait_until(lambda: len(dead_letters(dead_root / "hot_items")) == 2, 60, "dead letters")
        reasons = sorted(
            letter["reason"].split(":")[0] for letter in dead_letters(dead_root / "hot_items")
        )
        assert reasons == ["unknown action_type 'teleport'", "unreadable message"]
        assert all(j.state == "RUNNING" for j in rest.jobs())

        # 3. Cancel three jobs after a checkpoint; more events arrive while they are down.
        killed = ("hot_items", "realtime_metrics", "clickhouse_sink")
        victims = {j.job_id: j.name for j in rest.jobs() if j.name in killed}
        time.sleep(6)  # at least one checkpoint (5 s) after the data above
        for job_id in victims:
            rest.cancel(job_id)
        wait_until(
            lambda: all(j.state == "CANCELED" for j in rest.jobs() if j.job_id in victims),
            60,
            "cancel",
        )
        second = generate_behaviors(
            START + dt.timedelta(minutes=15), START + dt.timedelta(minutes=30), 4_000, seed=22
        )
        produce_through_the_collector_sink(bootstrap, second)

        # 4. Relaunched from their checkpoints, they resume at the checkpointed offsets:
        #    every count exact, nothing read twice.
        assert supervisor.launch_requested() == sorted(victims.values())
        relaunched = {
            j.name: j.job_id for j in rest.jobs() if j.name in victims.values() and j.active
        }
        wait_restored(rest, relaunched)
        produce_through_the_collector_sink(bootstrap, second)  # every event a second time
        everything = pl.from_arrow(pa.concat_tables([first, second]))
        wait_for_redis(client, everything)
        with clickhouse.opened():
            wait_for(lambda: clickhouse_mismatch(clickhouse, everything), "user_behaviors")
        assert len(dead_letters(dead_root / "hot_items")) == 2  # no message re-read

        # 5. The broker restarts under the running jobs (stopped, down 5 s, same data):
        #    their sources reconnect, what arrives afterwards is counted once, and each
        #    group's offsets, committed by Flink on checkpoints, reach the topic's end.
        time.sleep(6)  # a checkpoint after the restore
        broker.stop()
        time.sleep(5)
        broker.start()
        third = generate_behaviors(
            START + dt.timedelta(minutes=25), START + dt.timedelta(minutes=40), 3_000, seed=23
        )
        produce_through_the_collector_sink(bootstrap, third)
        everything = pl.from_arrow(pa.concat_tables([first, second, third]))
        print(
            f"Redis matched after the broker restart in {wait_for_redis(client, everything):.1f} s"
        )
        with clickhouse.opened():
            wait_for(lambda: clickhouse_mismatch(clickhouse, everything), "user_behaviors")
        for job in STREAM_JOBS:
            wait_until(
                lambda job=job: (
                    consumer_group_lag(bootstrap, flink_group_id(job.name), TOPIC).messages == 0
                ),
                60,
                f"{job.name}'s committed offsets at the end of {TOPIC}",
            )
        assert len(dead_letters(dead_root / "hot_items")) == 2
