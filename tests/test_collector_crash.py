"""Accept = durable: kill -9 the collector under load; every acknowledged event is in the
raw log after the next start (which ships the dead process's disk buffer). The
reliability suite (`tests/reliability/test_collector_faults.py`) kills it twice at a fixed
rate and follows the events into ClickHouse."""

import time
from pathlib import Path

import pytest

from analytics_lib.raw_log import behaviors
from tests.support.load import LoadGenerator
from tests.support.servers import collector_process
from tests.support.staging import read_stream


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    with collector_process(tmp_path, env={"COLLECTOR_SEGMENT_MAX_SECONDS": "3600"}) as server:
        load = LoadGenerator(server.url, events_per_second=2000, senders=4)
        load.start()
        # until a good load is acknowledged (a fixed sleep saw only 600 on a busy CI machine)
        deadline = time.monotonic() + 60
        while len(load.acknowledged_ids()) < 2000 and time.monotonic() < deadline:
            time.sleep(0.2)
        server.kill()  # SIGKILL: no shutdown hook runs, the open segment stays on disk
        load.stop(drain_seconds=0)  # a batch cut off by the kill was never acknowledged
        port = int(server.url.rsplit(":", 1)[1])
    acknowledged = load.acknowledged_ids()
    assert len(acknowledged) > 1000, "the load never got going"
    assert list(server.buffer.glob("*.seg")), "the killed process left no buffer to recover"
    assert read_stream(server.staging, behaviors.CONTRACT).num_rows < len(acknowledged)
    with collector_process(tmp_path, port=port):
        pass  # start ships the orphaned segments; a clean stop ships its own
    stored = set(read_stream(server.staging, behaviors.CONTRACT)["event_id"].to_pylist())
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events lost"
    assert not list(server.buffer.glob("*.seg"))
