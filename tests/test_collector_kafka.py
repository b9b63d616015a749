"""The Kafka event log against Apache Kafka (KRaft, `stack.kafka`): acks=all, idempotent
producer; a request is acknowledged only after its messages are."""

import time
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_collector.app import build_event_log, create_app
from analytics_collector.event_log import (
    BothEventLogs,
    KafkaEventLog,
    StagingEventLog,
)
from analytics_collector.sensors_protocol import encode_records
from analytics_collector.settings import CollectorSettings
from analytics_lib.raw_log import behaviors
from stack.kafka import kafka_broker
from tests.support.kafka import read_topic
from tests.support.staging import read_stream


@pytest.mark.slow
def test_collector_writes_every_stream_to_kafka(tmp_path: Path) -> None:
    with kafka_broker(tmp_path) as bootstrap:
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
        sa = [orjson.loads(v) for v in read_topic(bootstrap, "sa-events")]
        written = [orjson.loads(v) for v in read_topic(bootstrap, "user-behaviors")]
        letters = [orjson.loads(v) for v in read_topic(bootstrap, "dead-letters")]
    assert sorted(e["_track_id"] if "_track_id" in e else e["track_id"] for e in sa) == list(
        range(300)
    )
    assert {e["time"] for e in sa} == {now}  # epoch milliseconds, as Flink's JSON format reads
    assert sorted(b["user_id"] for b in written) == sorted(
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


def post_behaviors(http: TestClient, users: list[str]) -> int:
    rows = [
        {
            "tenant_id": "acme",
            "scenario_id": "s",
            "user_id": u,
            "item_id": "i",
            "action_type": "click",
        }
        for u in users
    ]
    return http.post("/api/v1/behaviors", json=rows).status_code


@pytest.mark.slow
def test_staging_and_kafka_both_get_every_acknowledged_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`COLLECTOR_SINK=staging+kafka`: the files for the batch layers, the topic for Flink."""
    monkeypatch.setenv("RAW_LOG_ROOT", str(tmp_path / "staging"))
    with kafka_broker(tmp_path) as bootstrap:
        settings = CollectorSettings(
            sink="staging+kafka", kafka_bootstrap_servers=bootstrap, buffer_dir=tmp_path / "buf"
        )
        event_log = build_event_log(settings)
        assert isinstance(event_log, BothEventLogs)
        with TestClient(create_app(settings, event_log)) as http:
            assert post_behaviors(http, [f"u{i}" for i in range(200)]) == 200
        in_topic = [orjson.loads(v)["user_id"] for v in read_topic(bootstrap, "user-behaviors")]
    in_files = read_stream(tmp_path / "staging", behaviors.CONTRACT)["user_id"].to_pylist()
    assert sorted(in_topic) == sorted(in_files) == sorted(f"u{i}" for i in range(200))


def test_with_kafka_down_staging_keeps_the_batch_and_the_client_is_told_to_retry(
    tmp_path: Path,
) -> None:
    """Staging first, then Kafka: a 503 leaves a copy in the files that the client's retry
    duplicates, and the loads remove (by event id); nothing acknowledged is missing."""
    staging = StagingEventLog(
        RawEventLog(root=str(tmp_path / "staging")), tmp_path / "buf", max_segment_seconds=60
    )
    both = BothEventLogs(staging, KafkaEventLog("127.0.0.1:1", delivery_timeout_seconds=1.5))
    settings = CollectorSettings(buffer_dir=tmp_path / "buf")
    with TestClient(create_app(settings, both)) as http:
        assert post_behaviors(http, ["u1", "u2"]) == 503
    assert sorted(read_stream(tmp_path / "staging", behaviors.CONTRACT)["user_id"].to_pylist()) == [
        "u1",
        "u2",
    ]
