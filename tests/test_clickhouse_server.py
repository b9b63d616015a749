"""The stream sink against the real ClickHouse server (chdb-core's HTTP interface): the
stream sink's insert is idempotent per file and stores what the hourly load stores, an
hourly reload does not lose a file the sink streams in while it runs, and a restored
sink learns what the server received after its checkpoint."""

import datetime as dt
import importlib
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dagster import materialize
from stream_jobs import batches, clickhouse_sink, dedup
from stream_jobs.settings import JobSettings

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.raw_log import behaviors
from tests.conftest import ANCHOR, partition_key
from tests.support.domains import BEHAVIOR_ASSETS

pytestmark = pytest.mark.slow

HOUR = ANCHOR + dt.timedelta(hours=10)
# The package exports the asset under the module's name.
user_behaviors_module = importlib.import_module("analytics_assets.behavior.user_behaviors")
STORED = "SELECT * EXCEPT ingested_at FROM user_behaviors FINAL ORDER BY event_id"


def _sink_settings(clickhouse_url: str) -> JobSettings:
    target = ClickHouseSinkTarget(url=clickhouse_url.replace("//", "//default@"))
    return JobSettings(job="clickhouse_sink", redis_url="redis://unused", **target.job_settings())


def _land_and_sink(raw_log: RawEventLog, events: pa.Table, settings: JobSettings) -> int:
    """Land a file as the collector does and run the sink's read → partial → insert on it."""
    (staged,) = raw_log.write(behaviors.CONTRACT, events)
    notice = next(
        Path(raw_log.notices_root(behaviors.STREAM)).rglob(f"{Path(staged.path).stem}.json")
    )
    batch = batches.read_notice("clickhouse_sink", notice.read_text())
    assert batch.dead_letters == []
    (partial,) = clickhouse_sink.partials(batch, settings)
    clickhouse_sink.insert(partial, settings)
    return partial.rows.num_rows


def _count(clickhouse: ClickHouseResource, final: bool = False) -> int:
    table = "user_behaviors FINAL" if final else "user_behaviors"
    return int(clickhouse.query_sql(f"SELECT count() AS n FROM {table}")["n"][0])


def _load_hour(clickhouse: ClickHouseResource, raw_log: RawEventLog) -> None:
    result = materialize(
        BEHAVIOR_ASSETS,
        selection=["user_behaviors"],
        partition_key=partition_key(HOUR),
        resources={"clickhouse": clickhouse, "raw_event_log": raw_log},
    )
    assert result.success


def test_sink_inserts_each_file_once_and_stores_what_the_hourly_load_stores(
    tmp_path: Path, clickhouse_url: str, clickhouse: ClickHouseResource
) -> None:
    raw_log = RawEventLog(root=str(tmp_path / "staging"))
    settings = _sink_settings(clickhouse_url)
    events = generate_behaviors(HOUR, HOUR + dt.timedelta(minutes=30), 3_000, seed=5)
    rows = _land_and_sink(raw_log, events, settings)
    assert rows == events.num_rows

    # A replay (restore from checkpoint, retry after a timeout) sends the same block with
    # the same token: ClickHouse ignores it, without FINAL or a merge.
    (notice,) = Path(raw_log.notices_root(behaviors.STREAM)).rglob("*.json")
    (partial,) = clickhouse_sink.partials(
        batches.read_notice("clickhouse_sink", notice.read_text()), settings
    )
    clickhouse_sink.insert(partial, settings)
    assert _count(clickhouse) == rows

    streamed = clickhouse.query_sql(STORED)
    _load_hour(clickhouse, raw_log)
    assert _count(clickhouse) == rows  # the reload replaced the streamed hour
    assert clickhouse.query_sql(STORED).equals(streamed)


def test_hourly_reload_keeps_a_file_streamed_in_while_it_runs(
    tmp_path: Path,
    clickhouse_url: str,
    clickhouse: ClickHouseResource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw_log = RawEventLog(root=str(tmp_path / "staging"))
    settings = _sink_settings(clickhouse_url)
    early = generate_behaviors(HOUR, HOUR + dt.timedelta(minutes=20), 2_000, seed=6)
    late = generate_behaviors(
        HOUR + dt.timedelta(minutes=20), HOUR + dt.timedelta(minutes=40), 1_500, seed=7
    )
    _land_and_sink(raw_log, early, settings)

    # The late file lands, and the sink inserts it, right after the reload listed the hour.
    real_read_hour = user_behaviors_module.read_hour

    def read_then_stream(
        log: RawEventLog, hour: dt.datetime, written_before: dt.datetime | None = None
    ) -> user_behaviors_module.HourBatch:
        batch = real_read_hour(log, hour, written_before)
        _land_and_sink(raw_log, late, settings)
        return batch

    monkeypatch.setattr(user_behaviors_module, "read_hour", read_then_stream)
    _load_hour(clickhouse, raw_log)
    assert _count(clickhouse, final=True) == early.num_rows + late.num_rows

    monkeypatch.undo()
    _load_hour(clickhouse, raw_log)  # the next reload sees both files: still exact
    assert _count(clickhouse, final=True) == early.num_rows + late.num_rows


def test_a_restored_sink_drops_what_the_server_received_after_its_checkpoint(
    tmp_path: Path,
    clickhouse_url: str,
    clickhouse: ClickHouseResource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`inserted_since` the last insert a checkpoint knew of returns exactly the rows
    inserted after it (no clock skew between this process and the server), and with them
    among the seen ids, a replay cut differently (one batch, ids in upper case) passes only
    the events that were never inserted."""
    monkeypatch.setattr(clickhouse_sink, "CLOCK_SKEW_MS", 0)
    raw_log = RawEventLog(root=str(tmp_path / "staging"))
    settings = _sink_settings(clickhouse_url)
    events = generate_behaviors(HOUR, HOUR + dt.timedelta(minutes=30), 900, seed=8)
    checkpointed, crashed, never = events.slice(0, 300), events.slice(300, 300), events.slice(600)
    _land_and_sink(raw_log, checkpointed, settings)
    time.sleep(0.01)
    last_checkpointed_insert_ms = int(time.time() * 1000)
    _land_and_sink(raw_log, crashed, settings)  # after the checkpoint, before the crash

    received = clickhouse_sink.inserted_since(settings, last_checkpointed_insert_ms)
    assert sorted(received["event_id"].to_pylist()) == sorted(crashed["event_id"].to_pylist())
    assert sorted(received["timestamp"].to_pylist()) == sorted(
        crashed["timestamp"].cast(pa.int64()).to_pylist()
    )

    def conformed(table: pa.Table) -> batches.Batch:
        return batches.split_valid("clickhouse_sink", "test", table)

    _, state = dedup.fresh(conformed(checkpointed), lambda _hour: None)
    _, learned = dedup.fresh(batches.Batch(source="clickhouse", rows=received), state.get)
    state.update(learned)
    replayed = pa.concat_tables([crashed, never])
    position = replayed.column_names.index("event_id")
    replayed = replayed.set_column(position, "event_id", pc.utf8_upper(replayed["event_id"]))
    new, _ = dedup.fresh(conformed(replayed), state.get)
    assert sorted(new.rows["event_id"].to_pylist()) == sorted(
        pc.utf8_upper(never["event_id"]).to_pylist()
    )

    assert clickhouse_sink.inserted_since(settings, int(time.time() * 1000) + 1000).num_rows == 0
    # The question skips parts written before `since` by the minmax index (migration V005).
    plan = clickhouse.query_sql(
        "EXPLAIN indexes = 1 " + clickhouse_sink.RECEIVED_SINCE,
        {"since": last_checkpointed_insert_ms},
    )
    assert "ingested_at_minmax" in "\n".join(plan["explain"].to_list())
