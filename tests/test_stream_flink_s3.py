"""The stream layer on S3, as on the local stack: the raw log on SeaweedFS, a Flink cluster
with the S3 filesystem plugin from Maven Central (`make flink-env`) keeping its checkpoints
on SeaweedFS, and `hot_items` following the raw log's landing notices there (`source:
staging`, s3:// URIs, S3 credentials only in the cluster's environment). Redis equals the
independent computation; after a cancel, the launch run restores the job from its S3
checkpoint and, with more files landed, the job reads only those and Redis is exact again
(nothing lost, nothing doubled)."""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pytest
import redis
from dagster import DagsterInstance

from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.launch import STREAM_JOB_TAG, launch_stream_job
from analytics_demo.traffic import generate_behaviors
from analytics_lib.flink_cluster.cluster import FlinkRest, FlinkS3, LocalFlinkCluster
from analytics_lib.raw_log import behaviors
from stack.seaweedfs import S3Endpoint, seaweedfs_s3
from tests.support.servers import local_flink, redis_server, wait_until
from tests.support.stream import dead_letters, hot_items_mismatch, wait_for, wait_restored

pytestmark = pytest.mark.slow

START = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
RAW_LOG_BUCKET, FLINK_BUCKET = "raw-log", "flink"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("s3"), (RAW_LOG_BUCKET, FLINK_BUCKET)) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def flink(tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint) -> Iterator[LocalFlinkCluster]:
    state = FlinkS3(s3.url, s3.access_key, s3.secret_key, state_uri=f"s3://{FLINK_BUCKET}/state")
    with local_flink(tmp_path_factory.mktemp("flink"), s3=state) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def s3_filesystem(s3: S3Endpoint) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        endpoint_override=s3.url.split("://", 1)[1],
        scheme="http",
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        region=s3.region,
    )


def land_garbage(s3: S3Endpoint, raw_log: RawEventLog) -> None:
    """A file that is not Parquet, announced like any other: one dead letter, once."""
    uri = f"{raw_log.root}/{behaviors.STREAM}/dt=2026-11-22/hour=09/part-garbage.parquet"
    notice = f"{raw_log.notices_root(behaviors.STREAM)}/dt=2026-11-22/hour=09/part-garbage.json"
    filesystem = s3_filesystem(s3)
    with filesystem.open_output_stream(uri.removeprefix("s3://")) as out:
        out.write(b"PAR1 this is not parquet")
    with filesystem.open_output_stream(notice.removeprefix("s3://")) as out:
        out.write(json.dumps({"uri": uri}).encode())


def launch_hot_items(instance: DagsterInstance, resources: dict[str, object]) -> dict[str, str]:
    """The supervisor's launch run for hot_items, in process; the launch record it wrote."""
    result = launch_stream_job.execute_in_process(
        run_config={"ops": {"submit_stream_job": {"config": {"stream_job": "hot_items"}}}},
        resources=resources,
        instance=instance,
        tags={STREAM_JOB_TAG: "hot_items"},
    )
    assert result.success
    flink = resources["flink"]
    assert isinstance(flink, FlinkResource)
    launches = (flink.state_dir() / "launches.jsonl").read_text().splitlines()
    return json.loads(launches[-1])


def test_hot_items_follow_the_raw_log_on_s3_and_restore_from_an_s3_checkpoint(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3: S3Endpoint,
    flink: LocalFlinkCluster,
    redis_url: str,
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    # As on the stack (stack.env sourced): the process that runs `flink run` has the keys.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    raw_log = RawEventLog(
        root=f"s3://{RAW_LOG_BUCKET}/staging",
        s3_endpoint_url=s3.url,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )
    resources: dict[str, object] = {
        "flink": FlinkResource(rest_url=flink.rest_url),
        "raw_event_log": raw_log,
        "realtime_redis": RealtimeRedis(url=redis_url),
        "clickhouse_sink": ClickHouseSinkTarget(),
    }
    client = redis.Redis.from_url(redis_url)
    rest = FlinkRest(flink.rest_url)
    instance = DagsterInstance.ephemeral()
    dead_root = tmp_path / "data" / "flink" / "dead_letters" / "hot_items"

    first = generate_behaviors(START, START + dt.timedelta(minutes=20), 6_000, seed=21)
    raw_log.write(behaviors.CONTRACT, first.slice(0, 3_000))
    raw_log.write(behaviors.CONTRACT, first.slice(3_000))
    land_garbage(s3, raw_log)

    # 1. Launched with empty state, the job reads every landed file from S3.
    launched = launch_hot_items(instance, resources)
    assert launched["restored_from"] is None
    events = pl.from_arrow(first)
    assert isinstance(events, pl.DataFrame)
    wait_for(lambda: hot_items_mismatch(client, events), "hot items")
    wait_until(lambda: len(dead_letters(dead_root)) == 1, 60, "the garbage file's dead letter")

    # 2. Its checkpoints are on S3: wait for one taken after everything was read.
    job_id = launched["job_id"]
    read_at_ms = rest.job(job_id)["now"]
    wait_until(
        lambda: (
            (rest.checkpoints(job_id)["latest"].get("completed") or {}).get(
                "latest_ack_timestamp", 0
            )
            > read_at_ms
        ),
        60,
        "a checkpoint after the first files",
    )

    # 3. Cancel it; more files land while it is down.
    rest.cancel(job_id)
    wait_until(lambda: rest.job(job_id)["state"] == "CANCELED", 60, "cancel")
    checkpoint = rest.latest_restore_point(job_id)
    assert checkpoint is not None and checkpoint.startswith(f"s3://{FLINK_BUCKET}/state/")
    metadata = s3_filesystem(s3).get_file_info(f"{checkpoint.removeprefix('s3://')}/_metadata")
    assert metadata.type == pafs.FileType.File
    second = generate_behaviors(
        START + dt.timedelta(minutes=15), START + dt.timedelta(minutes=30), 3_000, seed=22
    )
    raw_log.write(behaviors.CONTRACT, second)

    # 4. The launch run restores it from the S3 checkpoint; it reads only the new files.
    relaunched = launch_hot_items(instance, resources)
    assert relaunched["restored_from"] == checkpoint
    wait_restored(rest, {"hot_items": relaunched["job_id"]})
    everything = pl.from_arrow(pa.concat_tables([first, second]))
    assert isinstance(everything, pl.DataFrame)
    wait_for(lambda: hot_items_mismatch(client, everything), "hot items after the restore")
    wait_until(
        lambda: rest.operator_counter(relaunched["job_id"], "rowsRead") == second.num_rows,
        30,
        "the restored job's rowsRead to count only the new file",
    )
    assert len(dead_letters(dead_root)) == 1  # the garbage file was not read again

    # 5. The secret key is in no log of the cluster or of its `flink run` clients.
    logs = [*(flink.data_dir / "log").iterdir(), *(tmp_path / "data").rglob("*.log")]
    assert len(logs) >= 3
    leaking = [path.name for path in logs if s3.secret_key in path.read_text(errors="replace")]
    assert leaking == []
