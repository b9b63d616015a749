"""kill -9 the Flink TaskManager (and its Python workers) while behaviors files keep
landing: the jobs wait in RESTARTING, `flink_job_supervisor` (ticked as the daemon ticks
it, cursor carried) launches nothing, Flink restores the same jobs from their newest
checkpoints once a TaskManager is back, and Redis and the ClickHouse sink equal the
independent computation over everything that landed: nothing lost, nothing doubled,
although the log delivers 10 % of each file's events twice and every third file twice.

The same crash under the ClickHouse sink reading Kafka, right after a fresh job's first
inserts (its one checkpoint was taken before any message): `user_behaviors` holds each
event once (counted without FINAL), though the micro-batches replayed after the restore
are cut differently from the ones inserted before the crash."""

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import redis
from dagster import DagsterInstance, RunRequest

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream import launch
from analytics_assets.stream.jobs import STREAM_JOBS
from analytics_assets.stream.launch import STREAM_JOB_TAG
from analytics_collector.event_log import KafkaEventLog
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import FlinkRest, LocalFlinkCluster
from analytics_lib.raw_log import behaviors
from stack.kafka import KafkaBroker, collector_topics
from stack.processes import free_port
from tests.reliability import report
from tests.support.servers import (
    clickhouse_server,
    kill_taskmanagers,
    local_flink,
    redis_server,
    wait_until,
)
from tests.support.stream import (
    Supervisor,
    clickhouse_mismatch,
    redis_mismatch,
    wait_for,
    wait_restored,
    with_copies,
)

START = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
FILE_EVERY_SECONDS = 0.5
EVENTS_PER_FILE = 250


@pytest.fixture(scope="module")
def flink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFlinkCluster]:
    with local_flink(tmp_path_factory.mktemp("flink")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    server = KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port())
    try:
        server.start()
        server.create_topics(collector_topics())
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with clickhouse_server(tmp_path_factory.mktemp("clickhouse")) as url:
        yield f"{url}/default"


class Landing(threading.Thread):
    """Delivers one behaviors batch every FILE_EVERY_SECONDS (a file and its notice, or
    messages on the topic), each a further minute of events, until stopped: traffic that
    does not wait for Flink. As at-least-once delivery would: 10 % of each batch's events
    twice, every third batch twice."""

    def __init__(self, deliver: Callable[[pa.Table], None]) -> None:
        super().__init__(daemon=True)
        self.deliver = deliver
        self.files: list[pa.Table] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.wait(FILE_EVERY_SECONDS):
                minute = START + dt.timedelta(minutes=10 + len(self.files))
                batch = generate_behaviors(
                    minute,
                    minute + dt.timedelta(minutes=1),
                    EVENTS_PER_FILE,
                    seed=100 + len(self.files),
                )
                self.deliver(with_copies(batch, 0.1, len(self.files)))
                if len(self.files) % 3 == 0:
                    self.deliver(batch)
                self.files.append(batch)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def stop(self) -> list[pa.Table]:
        self._halt.set()
        self.join(30)
        if self.error is not None:
            raise self.error
        return self.files


def _settled(check, what: str, timeout: float) -> str | None:  # type: ignore[no-untyped-def]
    """None once `check` reports no difference, else the last difference."""
    try:
        wait_for(check, what, timeout)
    except AssertionError as exc:
        return str(exc)
    return None


@pytest.mark.slow
def test_taskmanager_killed_while_files_land_loses_and_doubles_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flink: LocalFlinkCluster,
    redis_url: str,
    clickhouse_url: str,
) -> None:
    started = time.monotonic()
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    raw_log = RawEventLog(root=str(tmp_path / "staging"))
    resources = {
        "flink": FlinkResource(rest_url=flink.rest_url),
        "raw_event_log": raw_log,
        "realtime_redis": RealtimeRedis(url=redis_url),
        "clickhouse_sink": ClickHouseSinkTarget(url=clickhouse_url),
    }
    rest = FlinkRest(flink.rest_url)
    supervisor = Supervisor(DagsterInstance.ephemeral(), resources)
    first = generate_behaviors(START, START + dt.timedelta(minutes=10), 2_000, seed=21)
    raw_log.write(behaviors.CONTRACT, first)

    assert supervisor.launch_requested() == sorted(j.name for j in STREAM_JOBS)
    running = {j.name: j.job_id for j in rest.jobs() if j.active}
    landing = Landing(lambda table: raw_log.write(behaviors.CONTRACT, table))
    landing.start()
    # A checkpoint of every job before the crash, so Flink has something to restore.
    wait_until(
        lambda: all(rest.checkpoints(i)["counts"]["completed"] >= 1 for i in running.values()),
        60,
        "a completed checkpoint of every job",
    )
    killed_at = time.monotonic()
    killed = kill_taskmanagers(flink)
    wait_until(lambda: rest.overview()["taskmanagers"] == 0, 60, "TaskManager loss noticed")
    # Their Python workers end with them (flink/worker/bound_to_taskmanager.py), rather than
    # live on as orphans.
    orphans_gone = _settled(
        lambda: f"alive: {alive}" if (alive := killed.workers_alive()) else None, "workers", 30
    )
    down_states = {j.state for j in rest.jobs() if j.job_id in running.values()}
    ticks_while_down = [supervisor.tick() for _ in range(3)]
    time.sleep(2)  # files keep landing while no TaskManager runs
    flink.start_taskmanager()
    wait_until(
        lambda: {j.name: j.job_id for j in rest.jobs() if j.state == "RUNNING"} == running,
        120,
        "the same jobs RUNNING again",
    )
    time.sleep(2)  # and a little after the restore
    files = landing.stop()
    wait_restored(rest, running)
    recovered_at = time.monotonic()
    ticks_after = supervisor.tick()

    everything = pl.from_arrow(pa.concat_tables([first, *files]))
    client = redis.Redis.from_url(redis_url)
    clickhouse = ClickHouseResource(url=clickhouse_url)
    redis_problem = _settled(lambda: redis_mismatch(client, everything), "Redis", 120)
    with clickhouse.opened():
        sink_problem = _settled(
            lambda: clickhouse_mismatch(clickhouse, everything), "user_behaviors", 120
        )
        stored = clickhouse.query_sql(
            "SELECT count() AS n, uniqExact(event_id) AS ids FROM user_behaviors"
        ).row(0, named=True)
        sunk = set(
            clickhouse.query_sql("SELECT DISTINCT toString(event_id) AS id FROM user_behaviors")[
                "id"
            ].to_list()
        )
    found = len(sunk & set(everything["event_id"].cast(pl.String).to_list()))
    copies = Counter(j.name for j in rest.jobs())
    outcome = report.record(
        report.Outcome(
            scenario="Flink TaskManager kill -9 (stream jobs)",
            faults=(
                f"kill -9 {killed.taskmanagers} TaskManager (its {len(killed.python_workers)} "
                f"Python worker processes {'ended with it' if orphans_gone is None else 'ORPHANED'}"
                f"), {len(files)} files landing at 2/s throughout"
            ),
            sent=everything.height,
            acknowledged=everything.height,  # written to the raw log, notice included
            found=found,
            duplicates=int(stored["n"]) - int(stored["ids"]),
            note=(
                f"found = ClickHouse sink rows; Redis {'= oracle' if redis_problem is None else 'MISMATCH'}; "
                f"jobs {sorted(down_states)} while down, the same 4 restored by Flink; "
                f"supervisor launches {len(supervisor.launched)} (0 during the outage); "
                f"recovered {recovered_at - killed_at:.0f} s after the kill, "
                f"test {time.monotonic() - started:.0f} s"
            ),
        )
    )
    assert killed.taskmanagers == 1
    assert killed.python_workers and orphans_gone is None, orphans_gone
    assert all(ticks == [] for ticks in [*ticks_while_down, ticks_after]), "a double launch"
    assert sorted(supervisor.launched) == sorted(running) == sorted(copies)
    assert set(copies.values()) == {1}, f"a job was submitted twice: {copies}"
    assert not down_states & {"FAILED", "CANCELED", "FINISHED"}, down_states
    assert redis_problem is None, redis_problem
    assert sink_problem is None, sink_problem
    assert outcome.lost == 0 and outcome.duplicates == 0


@pytest.mark.slow
def test_taskmanager_killed_and_cancel_under_the_kafka_clickhouse_sink_double_no_row(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    broker: KafkaBroker,
    redis_url: str,
) -> None:
    """Kafka micro-batches are processing-time windows: after a restore the replayed
    messages are cut into other batches than the ones inserted before the crash, so the
    insert tokens differ while the seen ids rolled back with the checkpoint. The kill comes
    right after a fresh job's first inserts, when its only checkpoint knows no insert; the
    cancel 3 s after a later checkpoint, with micro-batches inserted since. Its own cluster
    and server: only the sink runs."""
    started = time.monotonic()
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    with (
        local_flink(tmp_path / "flink") as flink,
        clickhouse_server(tmp_path / "clickhouse") as clickhouse_root,
    ):
        clickhouse = ClickHouseResource(url=f"{clickhouse_root}/default")
        resources = {
            "flink": FlinkResource(
                rest_url=flink.rest_url, source="kafka", kafka_bootstrap_servers=broker.bootstrap
            ),
            "raw_event_log": RawEventLog(root=str(tmp_path / "staging")),  # unused by Kafka
            "realtime_redis": RealtimeRedis(url=redis_url),
            "clickhouse_sink": ClickHouseSinkTarget(url=clickhouse.url),
        }
        rest = FlinkRest(flink.rest_url)
        topic = KafkaEventLog(broker.bootstrap)

        def deliver(table: pa.Table) -> None:
            asyncio.run(topic.append({behaviors.STREAM: table}))

        first = generate_behaviors(START, START + dt.timedelta(minutes=10), 2_000, seed=23)
        supervisor = Supervisor(DagsterInstance.ephemeral(), resources)

        def launch_sink() -> str:
            """The launch run the supervisor would request (only the sink: the Redis jobs
            are not under test)."""
            supervisor.launch(
                RunRequest(
                    run_config={
                        "ops": {"submit_stream_job": {"config": {"stream_job": "clickhouse_sink"}}}
                    },
                    tags={STREAM_JOB_TAG: "clickhouse_sink"},
                )
            )
            (active,) = [j.job_id for j in rest.jobs() if j.active]
            return active

        def seconds_after_a_checkpoint(job_id: str) -> None:
            """Returns 3 s after a further checkpoint: micro-batches inserted since."""
            done = int(rest.checkpoints(job_id)["counts"]["completed"])
            wait_until(
                lambda: int(rest.checkpoints(job_id)["counts"]["completed"]) > done,
                120,
                "a further checkpoint",
            )
            time.sleep(3)

        def inserted() -> int:
            with clickhouse.opened():
                return int(clickhouse.query_sql("SELECT count() AS n FROM user_behaviors")["n"][0])

        # The kill comes right after the first inserts of a job whose first checkpoint was
        # taken before any message: a state that knows no insert yet. Checkpoints 15 s
        # apart, so the first inserts come before the second one on a busy machine too.
        with clickhouse.opened():
            clickhouse.migrate()
            # Without FINAL, a background merge would collapse a doubled row before it is
            # counted (ReplacingMergeTree on event_id): no merges in this test.
            clickhouse.execute_sql("SYSTEM STOP MERGES user_behaviors")
        settings = launch.job_settings

        def slow_checkpoints(*args: object) -> dict[str, object]:
            return {**settings(*args), "checkpoint_interval_ms": 15_000}

        monkeypatch.setattr(launch, "job_settings", slow_checkpoints)
        job_id = launch_sink()
        wait_until(
            lambda: int(rest.checkpoints(job_id)["counts"]["completed"]) >= 1,
            120,
            "a first checkpoint before any message",
        )
        deliver(with_copies(first, 0.1, seed=1))
        landing = Landing(deliver)
        landing.start()
        wait_until(lambda: inserted() > 0, 60, "a first insert")
        killed = kill_taskmanagers(flink)
        wait_until(lambda: rest.overview()["taskmanagers"] == 0, 60, "TaskManager loss noticed")
        time.sleep(2)  # messages keep arriving while no TaskManager runs
        flink.start_taskmanager()
        wait_until(
            lambda: any(j.job_id == job_id and j.state == "RUNNING" for j in rest.jobs()),
            120,
            "the sink RUNNING again",
        )
        wait_restored(rest, {"clickhouse_sink": job_id})
        restored_from = rest.checkpoints(job_id)["latest"]["restored"]["id"]
        # Then cancelled 3 s after a checkpoint, and relaunched from its newest checkpoint.
        seconds_after_a_checkpoint(job_id)
        rest.cancel(job_id)
        wait_until(
            lambda: any(j.job_id == job_id and j.state == "CANCELED" for j in rest.jobs()),
            60,
            "the sink cancelled",
        )
        time.sleep(2)
        relaunched = launch_sink()
        wait_restored(rest, {"clickhouse_sink": relaunched})
        time.sleep(2)
        files = landing.stop()
        everything = pa.concat_tables([first, *files])
        deliver(everything)  # every event a second time, after the restores
        distinct = pl.from_arrow(everything)
        with clickhouse.opened():
            sink_problem = _settled(
                lambda: clickhouse_mismatch(clickhouse, distinct), "user_behaviors", 120
            )
            stored = clickhouse.query_sql(
                "SELECT count() AS n, uniqExact(event_id) AS ids FROM user_behaviors"
            ).row(0, named=True)
            sunk = set(
                clickhouse.query_sql(
                    "SELECT DISTINCT toString(event_id) AS id FROM user_behaviors"
                )["id"].to_list()
            )
        expected = set(distinct["event_id"].cast(pl.String).to_list())
        outcome = report.record(
            report.Outcome(
                scenario="Flink TaskManager kill -9, cancel (ClickHouse sink on Kafka)",
                faults=(
                    f"kill -9 {killed.taskmanagers} TaskManager right after the first "
                    f"inserts (restored from checkpoint {restored_from}, taken before any "
                    "message), then a cancel 3 s after a checkpoint and a relaunch; "
                    f"{len(files)} batches produced at 2/s throughout, every event again after"
                ),
                sent=distinct.height,
                acknowledged=distinct.height,  # acknowledged by Kafka (acks=all)
                found=len(sunk & expected),
                duplicates=int(stored["n"]) - int(stored["ids"]),
                note=(
                    f"found = user_behaviors rows without FINAL ({stored['n']} rows, "
                    f"{stored['ids']} ids); test {time.monotonic() - started:.0f} s"
                ),
            )
        )
    assert killed.taskmanagers == 1
    assert restored_from == 1, f"restored from checkpoint {restored_from}: killed too late"
    assert sunk == expected, f"{len(sunk - expected)} ids never sent"
    assert outcome.lost == 0 and outcome.duplicates == 0, outcome
    assert sink_problem is None, sink_problem
