"""Accept = durable: kill -9 the collector under load; every acknowledged event is in the
raw log after the next start (which ships the dead process's disk buffer)."""

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from analytics_assets.raw_log import behaviors
from tests.support.servers import collector_process
from tests.support.staging import read_stream


def hammer(url: str, acknowledged: list[str], stop: threading.Event) -> None:
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            batch = [
                {
                    "event_id": str(uuid.uuid4()),
                    "tenant_id": "acme",
                    "scenario_id": "home_feed",
                    "user_id": f"u{i}",
                    "item_id": f"i{i}",
                    "action_type": "impression",
                }
                for i in range(50)
            ]
            try:
                answer = client.post(f"{url}/api/v1/behaviors", json=batch)
            except httpx.HTTPError:
                return  # the server died mid-request: this batch was never acknowledged
            if answer.status_code == 200:
                acknowledged.extend(b["event_id"] for b in batch)


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    acknowledged: list[str] = []
    stop = threading.Event()
    with collector_process(tmp_path, env={"COLLECTOR_SEGMENT_MAX_SECONDS": "3600"}) as server:
        senders = [
            threading.Thread(target=hammer, args=(server.url, acknowledged, stop)) for _ in range(4)
        ]
        for sender in senders:
            sender.start()
        time.sleep(2.0)
        server.kill()  # SIGKILL: no shutdown hook runs, the open segment stays on disk
        stop.set()
        for sender in senders:
            sender.join(10)
        port = int(server.url.rsplit(":", 1)[1])
    assert len(acknowledged) > 1000, "the load never got going"
    assert list(server.buffer.glob("*.seg")), "the killed process left no buffer to recover"
    assert read_stream(server.staging, behaviors.CONTRACT).num_rows < len(acknowledged)
    with collector_process(tmp_path, port=port):
        pass  # start ships the orphaned segments; a clean stop ships its own
    stored = set(read_stream(server.staging, behaviors.CONTRACT)["event_id"].to_pylist())
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events lost"
    assert not list(server.buffer.glob("*.seg"))
