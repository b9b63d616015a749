"""The stream layer on a real Flink cluster (from the apache-flink wheel), a real Redis and
a real ClickHouse server: the supervisor sensor launches every job, Redis and
`user_behaviors` equal the independent computation although the raw log delivers events
twice (10 % copies within and across files, then every event twice, the second copy
after a restore), cancelled jobs are relaunched from their checkpoints with counts exact
(not doubled), no duplicate job is ever submitted, and malformed input becomes dead
letters. (A TaskManager killed while files land:
tests/reliability/test_stream_faults.py.)"""

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from dagster import DagsterInstance, DagsterRunStatus, SensorResult, build_sensor_context

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.checks import stream_health_checks
from analytics_assets.stream.jobs import STREAM_JOBS
from analytics_assets.stream.launch import STREAM_JOB_TAG, launch_stream_job
from analytics_assets.stream.sensors import stream_keys_observer
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import FlinkRest, LocalFlinkCluster
from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.storage import NOTICES
from tests.support.checks import evaluate
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

START = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def flink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFlinkCluster]:
    with local_flink(tmp_path_factory.mktemp("flink")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with clickhouse_server(tmp_path_factory.mktemp("clickhouse")) as url:
        yield f"{url}/default"


def _write_malformed(root: Path) -> pa.Table:
    """A hand-written file that skips the contract (2 bad rows of 6) and a garbage file,
    each announced by a notice; returns the file's valid rows."""
    rows = generate_behaviors(START, START + dt.timedelta(minutes=1), 6, seed=99).to_pylist()
    rows[0]["action_type"] = "teleport"
    rows[1]["item_id"] = None
    hour = root / "behaviors" / "dt=2026-11-20" / "hour=10"
    landed = root / NOTICES / "behaviors" / "dt=2026-11-20" / "hour=10"
    landed.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), hour / "part-handmade.parquet")
    (hour / "part-garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    for name in ("part-handmade", "part-garbage"):
        (landed / f"{name}.json").write_text(json.dumps({"uri": str(hour / f"{name}.parquet")}))
    return behaviors.CONTRACT.conform(pa.Table.from_pylist(rows[2:]))


def test_supervised_jobs_match_the_oracle_through_a_restart(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flink: LocalFlinkCluster,
    redis_url: str,
    clickhouse_url: str,
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    staging = tmp_path / "staging"
    raw_log = RawEventLog(root=str(staging))
    resources = {
        "flink": FlinkResource(rest_url=flink.rest_url),
        "raw_event_log": raw_log,
        "realtime_redis": RealtimeRedis(url=redis_url),
        "clickhouse_sink": ClickHouseSinkTarget(url=clickhouse_url),
    }
    clickhouse = ClickHouseResource(url=clickhouse_url)
    client = redis.Redis.from_url(redis_url)
    rest = FlinkRest(flink.rest_url)
    instance = DagsterInstance.ephemeral()
    supervisor = Supervisor(instance, resources)

    first = generate_behaviors(START, START + dt.timedelta(minutes=20), 8_000, seed=11)
    raw_log.write(behaviors.CONTRACT, with_copies(first.slice(0, 5_000), 0.1, seed=1))
    raw_log.write(behaviors.CONTRACT, first.slice(5_000))
    retried = np.random.default_rng(2).choice(first.num_rows, 800, replace=False)
    raw_log.write(behaviors.CONTRACT, first.take(pa.array(retried)))  # 10 % again, later
    valid_handmade = _write_malformed(staging)

    # 1. The supervisor launches each declared job exactly once.
    assert supervisor.launch_requested() == sorted(j.name for j in STREAM_JOBS)
    assert supervisor.tick() == []  # all running: no second copy
    events = pl.from_arrow(pa.concat_tables([first, valid_handmade]))
    seconds = wait_for_redis(client, events)
    print(f"Redis matched the oracle {seconds:.1f} s after the last submission")
    with clickhouse.opened():
        wait_for(lambda: clickhouse_mismatch(clickhouse, events), "user_behaviors")

    # 2. Malformed input went to each job's dead letters; no job failed.
    dead_root = tmp_path / "data" / "flink" / "dead_letters"
    for job in ("hot_items", "clickhouse_sink"):
        wait_until(lambda job=job: len(dead_letters(dead_root / job)) == 3, 60, "dead letters")
    reasons = sorted(
        letter["reason"].split(":")[0] for letter in dead_letters(dead_root / "hot_items")
    )
    assert reasons == [
        "not a readable Parquet file",
        "required values missing",
        "unknown action_type 'teleport'",
    ]
    assert all(j.state == "RUNNING" for j in rest.jobs())
    flink_checks = [
        c for c in stream_health_checks if c.check_key.name.endswith("_flink_job_healthy")
    ]
    healthy = evaluate(flink_checks, resources, instance)
    assert all(e.passed for e in healthy.values()), [e.description for e in healthy.values()]

    # 3. The observation sensor reports each Redis asset with its newest event time.
    observed = stream_keys_observer(build_sensor_context(instance=instance, resources=resources))
    assert isinstance(observed, SensorResult)
    newest_ms = int(events["timestamp"].max().timestamp() * 1000)
    by_key = {e.asset_key.path[-1]: e.metadata for e in observed.asset_events}
    assert set(by_key) == {"hot_items", "realtime_metrics", "user_recent", "user_behaviors"}
    assert (
        by_key["hot_items"]["key_count"].value
        == events.select("tenant_id", "scenario_id").n_unique()
    )
    assert by_key["realtime_metrics"]["last_event_time"].value == newest_ms / 1000

    # 4. Kill three jobs; more data lands while they are down.
    killed = ("hot_items", "realtime_metrics", "clickhouse_sink")
    victims = {j.job_id: j.name for j in rest.jobs() if j.name in killed}
    time.sleep(6)  # at least one checkpoint after the data above
    for job_id in victims:
        rest.cancel(job_id)
    wait_until(
        lambda: all(j.state == "CANCELED" for j in rest.jobs() if j.job_id in victims), 60, "cancel"
    )
    down = evaluate(flink_checks, resources, instance)
    assert {name for name, e in down.items() if not e.passed} == {
        "hot_items_flink_job_healthy",
        "realtime_metrics_flink_job_healthy",
    }
    assert "CANCELED" in (down["hot_items_flink_job_healthy"].description or "")
    second = generate_behaviors(
        START + dt.timedelta(minutes=15), START + dt.timedelta(minutes=30), 4_000, seed=12
    )
    raw_log.write(behaviors.CONTRACT, second)

    # 5. A launch already in flight blocks a second one; once it is gone, exactly the
    #    dead jobs are relaunched, from their checkpoints.
    in_flight = instance.create_run_for_job(
        launch_stream_job,
        run_config={"ops": {"submit_stream_job": {"config": {"stream_job": "hot_items"}}}},
        tags={STREAM_JOB_TAG: "hot_items"},
        status=DagsterRunStatus.STARTED,
    )
    assert sorted(r.tags[STREAM_JOB_TAG] for r in supervisor.tick()) == [
        "clickhouse_sink",
        "realtime_metrics",
    ]
    instance.delete_run(in_flight.run_id)
    assert supervisor.launch_requested() == sorted(victims.values())
    assert supervisor.tick() == []
    relaunched = {j.name: j.job_id for j in rest.jobs() if j.name in victims.values() and j.active}
    assert len(relaunched) == 3
    wait_restored(rest, relaunched)
    raw_log.write(behaviors.CONTRACT, second)  # every event of `second` a second time

    # 6. Counts are exact: the replayed batches rewrote the same values, the copies were
    #    dropped by the restored seen ids, nothing doubled.
    everything = pl.from_arrow(pa.concat_tables([first, valid_handmade, second]))
    wait_for_redis(client, everything)
    with clickhouse.opened():
        wait_for(lambda: clickhouse_mismatch(clickhouse, everything), "user_behaviors")
    assert len(dead_letters(dead_root / "hot_items")) == 3  # the restore re-read no file
