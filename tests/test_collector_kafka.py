"""The Kafka event log against a real Kafka-API broker (Tansu): acks=all, idempotent
producer; a request is acknowledged only after its messages are."""

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaError
from starlette.testclient import TestClient

from analytics_assets.ingest.collector.app import create_app
from analytics_assets.ingest.collector.event_log import (
    KAFKA_TOPICS,
    KafkaEventLog,
    breaks_producer,
)
from analytics_assets.ingest.collector.sensors_protocol import encode_records
from analytics_assets.ingest.collector.settings import CollectorSettings
from stack.kafka import tansu_broker
from tests.support.kafka import consume_all


@pytest.mark.slow
def test_collector_writes_every_stream_to_kafka(tmp_path: Path) -> None:
    with tansu_broker(tmp_path, tuple(KAFKA_TOPICS.values())) as bootstrap:
        settings = CollectorSettings(sink="kafka", kafka_bootstrap_servers=bootstrap)
        now = int(time.time() * 1000)
        records = [
            {
                "type": "track",
                "event": "RecClick",
                "distinct_id": f"u{i}",
                "time": now,
                "_track_id": i,
                "properties": {"scenario_id": "home_feed", "item_id": f"i{i}"},
            }
            for i in range(300)
        ] + [{"type": "mystery"}]
        behavior = {
            "tenant_id": "acme",
            "scenario_id": "s",
            "user_id": "api-user",
            "item_id": "i",
            "action_type": "order",
        }
        with TestClient(create_app(settings, KafkaEventLog(bootstrap))) as http:
            sensors = http.post(
                "/sa?project=acme", data={"data_list": encode_records(records), "gzip": "1"}
            )
            api = http.post("/api/v1/behaviors", json=behavior)
        assert sensors.status_code == 200 and api.status_code == 200
        sa = [orjson.loads(v) for v in consume_all(bootstrap, "sa-events", 300)]
        behaviors = [orjson.loads(v) for v in consume_all(bootstrap, "user-behaviors", 301)]
        letters = [orjson.loads(v) for v in consume_all(bootstrap, "dead-letters", 1)]
    assert sorted(e["_track_id"] if "_track_id" in e else e["track_id"] for e in sa) == list(
        range(300)
    )
    assert {e["time"] for e in sa} == {now}  # epoch milliseconds, as Flink's JSON format reads
    assert sorted(b["user_id"] for b in behaviors) == sorted(
        ["api-user", *(f"u{i}" for i in range(300))]
    )
    assert [letter["reason"] for letter in letters] == ["unknown record type 'mystery'"]


def test_an_unreachable_broker_answers_503_so_sdks_retry(tmp_path: Path) -> None:
    event_log = KafkaEventLog("127.0.0.1:1", delivery_timeout_seconds=1.5)
    settings = CollectorSettings(sink="kafka", kafka_bootstrap_servers="127.0.0.1:1")
    record = {"type": "track", "event": "E", "distinct_id": "u", "time": int(time.time() * 1000)}
    with TestClient(create_app(settings, event_log)) as http:
        answer = http.post("/sa", data={"data": encode_records([record], gzip=False)})
    assert answer.status_code == 503
    assert "Kafka did not acknowledge" in answer.text
    assert event_log.producers_replaced == 0, "a timeout is transient: the producer is kept"


@pytest.mark.parametrize(
    ("code", "replace"),
    [
        (KafkaError.PRODUCER_FENCED, True),  # what Tansu answers after an epoch bump
        (KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, True),
        (KafkaError.INVALID_PRODUCER_EPOCH, True),
        (KafkaError._FATAL, True),
        (KafkaError._MSG_TIMED_OUT, False),  # broker down: the same producer retries
        (KafkaError._TRANSPORT, False),
        (KafkaError.NOT_LEADER_FOR_PARTITION, False),
    ],
)
def test_only_errors_that_end_an_idempotent_producer_replace_it(code: int, replace: bool) -> None:
    assert breaks_producer(KafkaError(code)) is replace
    assert breaks_producer(KafkaError(code, fatal=True)), "librdkafka's fatal flag always does"
