"""The lake on S3 (SeaweedFS): writes, maintenance and the atomic snapshot commit
(conditional PUT), read back by pypaimon, by chDB's `paimonS3` and by Java Paimon."""

import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.paimon.compaction import compact
from analytics_lib.paimon.expire import expire_snapshots
from analytics_lib.paimon.manifests import merge_manifests
from analytics_lib.paimon.orphans import clean_orphan_files
from analytics_lib.paimon.table_spec import TableSpec
from stack.seaweedfs import S3Endpoint, seaweedfs_s3
from tests.support.java_paimon import summary_java
from tests.support.lake import (
    EVENTS_SCHEMA,
    append_events,
    read_pypaimon,
    referenced_files,
    stored_files,
    summary,
    summary_chdb,
)

pytestmark = pytest.mark.slow

SPEC = TableSpec(
    "events",
    EVENTS_SCHEMA,
    ["dt"],
    {"bucket": "2", "bucket-key": "user_id", "snapshot.num-retained.min": "2"},
)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(
        tmp_path_factory.mktemp("seaweedfs"), buckets=("analytics-lake",)
    ) as endpoint:
        yield endpoint


@pytest.fixture
def lake(
    s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> PaimonLake:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    return PaimonLake(
        warehouse=f"s3://analytics-lake/{request.node.name}",
        s3_endpoint_url=s3.url,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )


def chdb_summary(clickhouse, lake: PaimonLake, s3: S3Endpoint) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return summary_chdb(
        clickhouse,
        "amount",
        source="paimonS3({url:String}, {key:String}, {secret:String})",
        url=lake.table_http_url("events"),
        key=s3.access_key,
        secret=s3.secret_key,
    )


def test_maintenance_on_s3_keeps_every_reader_equal(
    lake: PaimonLake, s3: S3Endpoint, clickhouse
) -> None:  # type: ignore[no-untyped-def]
    lake.ensure_table(SPEC)
    for batch in range(7):
        for day in ("2025-03-01", "2025-03-02"):
            append_events(lake, day, batch, rows=10, users=5, stride=100)
    before = summary(read_pypaimon(lake.table("events")), "amount")
    assert chdb_summary(clickhouse, lake, s3) == before
    assert summary_java(lake.catalog_options(), "ods.events", "amount") == before

    assert compact(lake.metadata("events"), lake.create_if_absent()).commits == 2
    assert (
        merge_manifests(
            lake.metadata("events"), lake.create_if_absent(), force=True
        ).manifests_after
        == 1
    )
    expired = expire_snapshots(
        lake.metadata("events"), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    clean_orphan_files(lake.metadata("events"), older_than=dt.timedelta(0))

    assert expired.expired_snapshot_ids and len(lake.metadata("events").snapshot_ids()) == 2
    assert summary(read_pypaimon(lake.table("events")), "amount") == before
    assert chdb_summary(clickhouse, lake, s3) == before
    assert summary_java(lake.catalog_options(), "ods.events", "amount") == before
    metadata = lake.metadata("events")
    assert all(metadata.exists(p) for p in referenced_files(metadata))
    assert stored_files(metadata) - referenced_files(metadata) == set()


def test_concurrent_committers_on_s3_never_lose_a_commit(lake: PaimonLake) -> None:
    """S3 has no atomic rename: pypaimon's own commit lost 3 of 18 such commits."""
    lake.ensure_table(SPEC)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(
            pool.map(
                lambda batch: append_events(
                    lake, "2025-03-01", batch, rows=10, users=5, stride=100
                ),
                range(12),
            )
        )
    assert read_pypaimon(lake.table("events")).num_rows == 120
    assert summary_java(lake.catalog_options(), "ods.events", "amount")["rows"] == 120
    assert lake.metadata("events").snapshot_ids() == list(range(1, 13))


def test_java_paimon_maintenance_on_s3_through_flinks_filesystem(  # type: ignore[no-untyped-def]
    lake: PaimonLake, s3: S3Endpoint, clickhouse, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Java Paimon's own maintenance (full compaction, manifest compaction, snapshot
    expiry, orphan removal) on the S3 lake, with no `paimon-s3` 2.0.0: Java falls back to
    Flink's s3:// filesystem (`FlinkFileIOLoader`, the flink-s3-fs-hadoop plugin of
    `make flink-env`). Every reader agrees before and after, and the files are merged."""
    from analytics_lib.flink_cluster.cluster import FlinkS3
    from tests.support.servers import local_flink

    lake.ensure_table(
        TableSpec(
            "events", EVENTS_SCHEMA, ["dt"], {**SPEC.options, "snapshot.time-retained": "1 s"}
        )
    )
    for batch in range(6):
        append_events(lake, ["2025-03-01", "2025-03-02"][batch % 2], batch)
    before = summary(read_pypaimon(lake.table("events")), "amount")
    assert before["rows"] == 120
    cluster_s3 = FlinkS3(s3.url, s3.access_key, s3.secret_key, "s3://analytics-lake/flink")
    with local_flink(tmp_path_factory.mktemp("flink"), s3=cluster_s3) as cluster:
        time.sleep(1.5)  # past time-retained
        run = lake.maintain_with_flink(
            "events",
            cluster.rest_url,
            ["compact", "merge_manifests", "expire_snapshots", "clean_orphans"],
            orphan_older_than=dt.timedelta(days=1),
        )
    assert set(run.steps) == {"compact", "merge_manifests", "expire_snapshots", "clean_orphans"}
    metadata = lake.metadata("events")
    ids = metadata.snapshot_ids()
    assert ids[0] > 1 and {metadata.snapshot(i).commit_kind for i in ids} == {"COMPACT"}, ids
    assert len(metadata.live_entries(metadata.snapshot(ids[-1]))) <= 4  # 2 days x 2 buckets
    via_java = summary_java(lake.catalog_options(), "ods.events", "amount")
    assert summary(read_pypaimon(lake.table("events")), "amount") == before == via_java
    assert chdb_summary(clickhouse, lake, s3) == before
