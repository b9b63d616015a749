"""kill -9 the collector (staging sink) under load, twice, restarting it on the same disk
buffer: every acknowledged event reaches the raw log, and the `user_behaviors` load removes
the at-least-once duplicates that retried requests leave there."""

import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.storage import hour_floor
from stack.processes import free_port
from tests.conftest import materialize_behavior
from tests.reliability import report
from tests.support.load import LoadGenerator
from tests.support.servers import collector_process
from tests.support.staging import read_stream

KILLS = 2
LIFETIME_SECONDS = 6.0  # load each collector process takes before it is killed
EVENTS_PER_SECOND = 400
# Segments roll every 2 s, so each kill leaves both shipped files and a buffer to recover.
COLLECTOR_ENV = {"COLLECTOR_SEGMENT_MAX_SECONDS": "2"}
# Every 10th acknowledged batch is sent again (an answer lost on the way back), so the raw
# log certainly holds duplicates, besides those a kill between fsync and answer leaves.
REPLAY_EVERY = 10


@pytest.mark.slow
def test_kill_9_twice_under_load_loses_no_acknowledged_event(
    tmp_path: Path, clickhouse: ClickHouseResource
) -> None:
    port = free_port()
    load = LoadGenerator(
        f"http://127.0.0.1:{port}", EVENTS_PER_SECOND, senders=4, replay_every=REPLAY_EVERY
    )
    left_behind: list[int] = []  # segments each killed process left on disk
    try:
        for _ in range(KILLS):
            with collector_process(tmp_path, env=COLLECTOR_ENV, port=port) as server:
                if not load.batches:
                    load.start()
                time.sleep(LIFETIME_SECONDS)
                server.kill()  # SIGKILL: no shutdown hook, the open segment stays on disk
                left_behind.append(len(list(server.buffer.glob("*.seg"))))
        # The last start ships what the second kill left; a clean stop ships the rest.
        with collector_process(tmp_path, env=COLLECTOR_ENV, port=port) as server:
            time.sleep(LIFETIME_SECONDS)
            load.stop(drain_seconds=20)
    finally:
        load.stop(drain_seconds=0)

    acknowledged = load.acknowledged_ids()
    staged = read_stream(server.staging, behaviors.CONTRACT)
    staged_ids = set(staged["event_id"].to_pylist())
    staged_duplicates = staged.num_rows - len(staged_ids)

    # Downstream: the hours' user_behaviors load into ClickHouse, counted without FINAL.
    low, high = pc.min_max(staged["timestamp"]).values()
    raw_event_log = RawEventLog(root=str(server.staging))
    result = materialize_behavior(
        clickhouse,
        raw_event_log,
        hour_floor(low.as_py()),
        hour_floor(high.as_py()),
        selection=("user_behaviors",),
    )
    loaded = clickhouse.query_sql("SELECT toString(event_id) AS event_id FROM user_behaviors")
    loaded_ids = set(loaded["event_id"].to_list())
    outcome = report.record(
        report.Outcome(
            scenario="collector kill -9 (staging sink)",
            faults=(
                f"kill -9 collector under load, {KILLS} times, restart on the same buffer dir; "
                f"every {REPLAY_EVERY}th batch re-sent after its 2xx"
            ),
            sent=len(load.sent_ids()),
            acknowledged=len(acknowledged),
            found=len(acknowledged & loaded_ids),
            duplicates=loaded.height - len(loaded_ids),
            note=(
                f"downstream = ClickHouse user_behaviors after the hourly load (rows without "
                f"FINAL); raw log {staged.num_rows} rows / {len(staged_ids)} distinct "
                f"({staged_duplicates} at-least-once duplicates); kills left {left_behind} "
                f"segments; {load.summary()}"
            ),
        )
    )

    assert result.success, "the user_behaviors load failed"
    assert len(acknowledged) > 5 * EVENTS_PER_SECOND, "the load never got going"
    assert any(left_behind), "no kill left a disk buffer: the recovery path was not exercised"
    assert load.retried_batches() > 0, "no request failed: the kills missed the load"
    assert not list(server.buffer.glob("*.seg")), "segments left after a clean stop"
    assert staged_duplicates >= len(load.replayed_ids()) > 0, "re-sent batches not in the log"
    missing = acknowledged - staged_ids
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events not in the log"
    assert outcome.lost == 0, f"{outcome.lost} acknowledged events not in user_behaviors"
    assert outcome.duplicates == 0, f"{outcome.duplicates} duplicate rows in user_behaviors"
    assert loaded_ids == staged_ids, "the load did not take exactly the staged events"
