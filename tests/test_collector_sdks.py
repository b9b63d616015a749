"""Official Sensors SDKs, which nobody here wrote, send to a real collector server; every
record they send arrives decoded in the raw log."""

import collections
import subprocess
from pathlib import Path

import orjson
import pytest
import sensorsanalytics
from sensorsanalytics import SensorsAnalyticsIdentity as Identity

from analytics_lib.raw_log import behaviors, sa_events
from tests.support.servers import collector_process
from tests.support.staging import read_stream


def send_everything(client: sensorsanalytics.SensorsAnalytics, user: str) -> collections.Counter:
    """All 12 record types through the SDK's public API; returns what was sent, by type."""
    client.track(user, "RecClick", {"scenario_id": "home_feed", "item_id": "i-7", "$ip": "1.2.3.4"})
    client.track(user, "ViewItem", {"price": 9.5, "tags": ["a", "b"]}, is_login_id=True)
    client.track_signup(f"{user}-login", user, {"channel": "ad"})
    client.bind(Identity(Identity.LOGIN_ID, f"{user}-login"), Identity("$identity_mobile", "555"))
    client.unbind(Identity("$identity_mobile", "555"))
    client.profile_set(user, {"city": "Beijing"})
    client.profile_set_once(user, {"first_seen": "2026-11-01"})
    client.profile_increment(user, {"visits": 2})
    client.profile_append(user, {"likes": ["books"]})
    client.profile_unset(user, ["city"])
    client.profile_delete(user)
    client.item_set("book", "b-1", {"price": 3})
    client.item_delete("book", "b-1")
    return collections.Counter(
        {
            "track": 2,
            "track_signup": 1,
            "track_id_bind": 1,
            "track_id_unbind": 1,
            "profile_set": 1,
            "profile_set_once": 1,
            "profile_increment": 1,
            "profile_append": 1,
            "profile_unset": 1,
            "profile_delete": 1,
            "item_set": 1,
            "item_delete": 1,
        }
    )


@pytest.mark.parametrize("consumer_kind", ["DefaultConsumer", "BatchConsumer"])
def test_python_sdk_records_arrive_decoded(tmp_path: Path, consumer_kind: str) -> None:
    with collector_process(tmp_path) as server:
        url = f"{server.url}/sa?project=acme"
        consumer = (
            sensorsanalytics.DefaultConsumer(url)
            if consumer_kind == "DefaultConsumer"
            else sensorsanalytics.BatchConsumer(url, max_size=5)
        )
        client = sensorsanalytics.SensorsAnalytics(consumer)
        sent = send_everything(client, "py-user")
        client.close()
    events = read_stream(server.staging, sa_events.CONTRACT)
    assert collections.Counter(events["type"].to_pylist()) == sent
    rows = events.to_pylist()
    assert {row["project"] for row in rows} == {"acme"}
    assert all(row["is_valid"] for row in rows), [r["invalid_reason"] for r in rows]
    click = next(row for row in rows if row["event"] == "RecClick")
    assert click["remote_addr"] == "1.2.3.4"
    assert '"$lib":"python"' in click["lib"].replace(" ", "")
    assert len({row["dedup_key"] for row in rows}) == len(rows)


NODE_CLIENT = Path(__file__).with_name("sdk_node")


def test_node_sdk_records_arrive_decoded(tmp_path: Path) -> None:
    if not (NODE_CLIENT / "node_modules" / "sa-sdk-node").exists():
        pytest.fail("run `make setup` (npm ci in tests/sdk_node) to install the Node SDK")
    with collector_process(tmp_path) as server:
        sent = subprocess.run(
            ["node", "send.js", f"{server.url}/sa?project=globex", "node-user"],
            cwd=NODE_CLIENT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
    events = read_stream(server.staging, sa_events.CONTRACT)
    assert collections.Counter(events["type"].to_pylist()) == {
        "track": 2,
        "track_signup": 1,
        "profile_set": 1,
        "profile_set_once": 1,
        "profile_increment": 1,
        "profile_append": 1,
        "profile_unset": 1,
        "item_set": 1,
        "item_delete": 1,
    }
    rows = events.to_pylist()
    assert {row["project"] for row in rows} == {"globex"}
    assert all(row["is_valid"] for row in rows), [r["invalid_reason"] for r in rows]
    assert all(row["track_id"] is not None for row in rows)  # the Node SDK sends _track_id
    click = next(row for row in rows if row["event"] == "RecClick")
    assert orjson.loads(click["lib"])["$lib"] == "Node"
    mapped = read_stream(server.staging, behaviors.CONTRACT).to_pylist()
    assert [(m["tenant_id"], m["item_id"], m["ip"]) for m in mapped] == [
        ("globex", "i-9", "8.8.8.8")
    ]
