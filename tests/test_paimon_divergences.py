"""The divergences of our maintenance port from Java Paimon found in issue 19, each pinned
by a test that failed before its fix. The Java class each one follows is named in the
module that fixes it; these tests read the table back through pypaimon and the files."""

import datetime as dt
import json
import time
import uuid

import pyarrow as pa
import pytest

from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.paimon.commit import commit_entries
from analytics_lib.paimon.compaction import compact
from analytics_lib.paimon.datafiles import write_rows
from analytics_lib.paimon.expire import expire_snapshots
from analytics_lib.paimon.files import FILE_SOURCE_APPEND, TableMetadata
from analytics_lib.paimon.manifests import merge_manifests
from analytics_lib.paimon.orphans import clean_orphan_files
from analytics_lib.paimon.partition_expire import expire_partitions
from analytics_lib.paimon.slices import replace_slice
from analytics_lib.paimon.supported import UnsupportedTable
from analytics_lib.paimon.table_spec import TableSpec
from tests.support.lake import read_pypaimon

DAY = "2025-03-01"
HOUR = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
TIMED = pa.schema(
    [
        ("user_id", pa.string()),
        ("amount", pa.int64()),
        ("time", pa.timestamp("ms")),
        ("dt", pa.string()),
    ]
)


def _timed_rows(times: list[dt.datetime | None], first_amount: int) -> pa.Table:
    return pa.table(
        {
            "user_id": [f"u{i}" for i in range(len(times))],
            "amount": [first_amount + i for i in range(len(times))],
            "time": [t.replace(tzinfo=None) if t else None for t in times],
            "dt": [DAY] * len(times),
        },
        schema=TIMED,
    )


def test_slice_replacement_keeps_null_rows_of_a_file_whose_min_max_lie_inside(
    lake: PaimonLake,
) -> None:
    """Parquet min/max ignore NULLs: a file of times 10:15, 10:30 and NULL has min/max
    inside 10:00-11:00, yet its NULL row is not part of that hour and must survive."""
    table = lake.ensure_table(TableSpec("timed", TIMED, ["dt"]))
    old = _timed_rows([HOUR + dt.timedelta(minutes=15), HOUR + dt.timedelta(minutes=30), None], 1)
    entries = write_rows(table, old, FILE_SOURCE_APPEND)
    commit_entries(table, lake.create_if_absent(), "APPEND", lambda _s: entries)

    new = _timed_rows([HOUR + dt.timedelta(minutes=45)], 100)
    report = replace_slice(
        lake.metadata("timed"),
        lake.create_if_absent(),
        (DAY,),
        "time",
        HOUR,
        HOUR + dt.timedelta(hours=1),
        new,
    )

    rows = read_pypaimon(lake.table("timed")).sort_by("amount")
    assert rows["amount"].to_pylist() == [3, 100], "the NULL-time row (amount 3) is kept"
    assert report.files_dropped == 0 and report.files_rewritten == 1
    assert report.rows_kept_from_rewritten == 1


def _fill(lake: PaimonLake, name: str, commits: int) -> None:
    table = lake.table(name)
    for batch in range(commits):
        rows = _timed_rows([HOUR + dt.timedelta(minutes=batch)], batch * 10)
        entries = write_rows(table, rows, FILE_SOURCE_APPEND)
        commit_entries(table, lake.create_if_absent(), "APPEND", lambda _s, e=entries: e)


def _every_entry_point(lake: PaimonLake, name: str) -> dict[str, object]:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    return {
        "compaction": lambda: compact(lake.metadata(name), lake.create_if_absent(), full=True),
        "manifest merge": lambda: merge_manifests(
            lake.metadata(name), lake.create_if_absent(), force=True
        ),
        "partition expiration": lambda: expire_partitions(
            lake.metadata(name), lake.create_if_absent(), now=later
        ),
        "snapshot expiry": lambda: expire_snapshots(lake.metadata(name), now=later),
        "orphan cleanup": lambda: clean_orphan_files(
            lake.metadata(name), older_than=dt.timedelta(0)
        ),
        "slice replacement": lambda: replace_slice(
            lake.metadata(name),
            lake.create_if_absent(),
            (DAY,),
            "time",
            HOUR,
            HOUR + dt.timedelta(hours=1),
            _timed_rows([], 0),
        ),
    }


@pytest.mark.parametrize(
    ("feature", "options", "primary_keys", "stray_file", "message"),
    [
        ("deletion vectors", {"deletion-vectors.enabled": "true"}, None, None, "deletion vectors"),
        ("primary keys", {"bucket": "1"}, ["dt", "user_id"], None, r"primary keys \(dt, user_id\)"),
        ("row tracking", {"row-tracking.enabled": "true"}, None, None, "row tracking"),
        ("branch", {}, None, "branch/branch-dev/schema/schema-0", "branches"),
        ("changelog", {}, None, "changelog/changelog-1", "changelog files"),
    ],
)
def test_tables_the_port_cannot_maintain_are_refused_before_any_write(
    lake: PaimonLake,
    feature: str,
    options: dict[str, str],
    primary_keys: list[str] | None,
    stray_file: str | None,
    message: str,
) -> None:
    spec = TableSpec(
        "odd",
        TIMED,
        ["dt"],
        {
            "snapshot.num-retained.min": "1",
            "snapshot.time-retained": "1 ms",
            "partition.expiration-time": "1 d",
            **options,
        },
    )
    if primary_keys:
        from pypaimon import Schema

        schema = Schema.from_pyarrow_schema(
            TIMED, partition_keys=["dt"], primary_keys=primary_keys, options=spec.all_options()
        )
        lake.catalog().create_table(lake.identifier("odd"), schema, ignore_if_exists=False)
    else:
        lake.ensure_table(spec)
    if not primary_keys:
        _fill(lake, "odd", commits=6)  # enough for every step to have work
    metadata = lake.metadata("odd")
    if stray_file:
        metadata.table.file_io.write_file(f"{metadata.path}/{stray_file}", "{}", overwrite=True)
    before = {f.path: f.modified for f in metadata.list_directory(metadata.path, recursive=True)}

    for operation, run in _every_entry_point(lake, "odd").items():
        with pytest.raises(UnsupportedTable, match=f"{operation} refuses .*{message}"):
            run()

    after = {f.path: f.modified for f in metadata.list_directory(metadata.path, recursive=True)}
    assert after == before, f"{feature}: nothing written or deleted"


def _timed_table(lake: PaimonLake, commits: int, **options: str) -> None:
    lake.ensure_table(
        TableSpec("timed", TIMED, ["dt"], {"snapshot.num-retained.min": "1", **options})
    )
    for batch in range(commits):
        _fill_one(lake, batch)
        time.sleep(0.05)  # distinct commit times


def _fill_one(lake: PaimonLake, batch: int) -> None:
    table = lake.table("timed")
    rows = _timed_rows([HOUR + dt.timedelta(minutes=batch)], batch * 10)
    entries = write_rows(table, rows, FILE_SOURCE_APPEND)
    commit_entries(table, lake.create_if_absent(), "APPEND", lambda _s: entries)


def test_time_retained_keeps_the_snapshot_time_travel_to_now_minus_retention_needs(
    lake: PaimonLake,
) -> None:
    """Java 2.x `ExpireSnapshotsImpl#expire`: snapshot `id` may go only once `id + 1` is
    older than `now - snapshot.time-retained`, since time travel to an instant between
    them reads snapshot `id`."""
    _timed_table(lake, commits=5)
    metadata = lake.metadata("timed")
    t2, t3 = metadata.snapshot(2).time_millis, metadata.snapshot(3).time_millis
    instant = (t2 + t3) // 2  # now - time-retained falls between snapshots 2 and 3
    table = lake.table("timed")
    at_instant = read_pypaimon(table, **{"scan.timestamp-millis": str(instant)}).num_rows
    assert at_instant == 2

    now = dt.datetime.fromtimestamp(instant / 1000, dt.UTC) + dt.timedelta(hours=1)
    report = expire_snapshots(lake.metadata("timed"), now=now)

    assert report.expired_snapshot_ids == [1], "snapshot 2 is what the instant reads"
    assert read_pypaimon(table, **{"scan.timestamp-millis": str(instant)}).num_rows == 2


def test_expiry_starts_at_the_validated_earliest_hint_not_a_stale_file_below_a_gap(
    lake: PaimonLake,
) -> None:
    """Java `SnapshotManager#earliestSnapshotId` (`HintFileUtils#findEarliest`): a stale
    snapshot-1 below a gap wider than `snapshot.expire.limit` must not stall expiry."""
    _timed_table(
        lake, commits=10, **{"snapshot.expire.limit": "2", "snapshot.num-retained.min": "3"}
    )
    metadata = lake.metadata("timed")
    for snapshot_id in range(2, 7):  # an earlier expiry removed 1..6 but snapshot-1 stayed
        metadata.delete(metadata.snapshot_path(snapshot_id))
    metadata.write_hint("EARLIEST", 7)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)

    first = expire_snapshots(lake.metadata("timed"), now=later)
    second = expire_snapshots(lake.metadata("timed"), now=later)

    assert first.expired_snapshot_ids == [7], "the limit window starts at EARLIEST = 7"
    assert second.expired_snapshot_ids == [], "num-retained.min keeps 8, 9, 10"
    assert lake.metadata("timed").snapshot_ids() == [1, 8, 9, 10]
    assert lake.metadata("timed").read_hint("EARLIEST") == 8
    assert read_pypaimon(lake.table("timed")).num_rows == 10

    # Without a valid hint the listing decides, as in Java.
    lake.metadata("timed").delete(f"{metadata.snapshot_dir}/EARLIEST")
    assert lake.metadata("timed").earliest_snapshot_id() == 1


def _analyze(lake: PaimonLake, schema_id: int, properties: dict[str, str]) -> str:
    """What Java's `ANALYZE TABLE` leaves: a statistics file named by the latest snapshot
    (written here by hand: no engine of ours analyzes), plus snapshot properties."""
    metadata = lake.metadata("timed")
    latest = metadata.latest_snapshot()
    name = f"stat-{uuid.uuid4()}-0"
    stats = {"snapshotId": latest.id, "schemaId": schema_id, "mergedRecordCount": 3}
    file_io = metadata.table.file_io
    file_io.write_file(f"{metadata.path}/statistics/{name}", json.dumps(stats), overwrite=True)
    document = json.loads(file_io.read_file_utf8(metadata.snapshot_path(latest.id)))
    document.update({"statistics": name, "properties": properties})
    file_io.overwrite_file_utf8(metadata.snapshot_path(latest.id), json.dumps(document))
    return name


def test_commits_keep_statistics_and_manifest_merge_keeps_properties(lake: PaimonLake) -> None:
    """Java `FileStoreCommitImpl`: a commit inherits the previous snapshot's statistics
    when they were computed on the same schema; `compactManifestOnce` keeps statistics
    and properties."""
    _timed_table(lake, commits=3)
    name = _analyze(lake, schema_id=0, properties={"max-sequence-number": "7"})

    _fill_one(lake, 3)
    assert lake.metadata("timed").latest_snapshot().statistics == name
    report = merge_manifests(lake.metadata("timed"), lake.create_if_absent(), force=True)
    merged = lake.metadata("timed").latest_snapshot()
    assert report.snapshot_id == merged.id and merged.commit_kind == "COMPACT"
    assert merged.statistics == name

    # Statistics of another schema are not inherited (Java: "Schema changed, stats will
    # not be inherited").
    _analyze(lake, schema_id=99, properties={})
    _fill_one(lake, 4)
    assert lake.metadata("timed").latest_snapshot().statistics is None
    assert read_pypaimon(lake.table("timed")).num_rows == 5


def test_manifest_merge_keeps_the_snapshot_properties(lake: PaimonLake) -> None:
    _timed_table(lake, commits=3)
    _analyze(lake, schema_id=0, properties={"max-sequence-number": "7"})
    merge_manifests(lake.metadata("timed"), lake.create_if_absent(), force=True)
    merged = lake.metadata("timed").latest_snapshot()
    assert merged.commit_kind == "COMPACT"
    assert merged.properties == {"max-sequence-number": "7"}


def test_orphan_cleanup_lists_javas_folders_and_matches_file_names(lake: PaimonLake) -> None:
    """Java `OrphanFilesClean`: candidates only from manifest/, statistics/, index/ and
    bucket folders (plus non-snapshot files of snapshot/), an orphan is a candidate whose
    NAME nobody uses."""
    _timed_table(lake, commits=3)
    stats_name = _analyze(lake, schema_id=0, properties={})
    metadata = lake.metadata("timed")
    file_io = metadata.table.file_io
    live = metadata.live_entries(metadata.latest_snapshot())
    bucket_dir = metadata.data_file_path(live[0]).rsplit("/", 1)[0]
    partition_dir = bucket_dir.rsplit("/", 1)[0]
    not_paimons = [f"{partition_dir}/_SUCCESS", f"{metadata.path}/exports/part-0.csv"]
    orphans = [
        f"{bucket_dir}/data-{uuid.uuid4()}-0.parquet",
        f"{metadata.manifest_dir}/manifest-{uuid.uuid4()}-0",
        f"{metadata.path}/statistics/stat-{uuid.uuid4()}-0",
        f"{metadata.snapshot_dir}/.snapshot-9.{uuid.uuid4().hex}.tmp",
    ]
    for path in not_paimons + orphans:
        file_io.write_file(path, "x", overwrite=True)

    class OtherPathFormat(TableMetadata):
        """Metadata whose partition folders are spelled differently from the writer's (as
        escaping or a default partition name can differ between implementations)."""

        def data_file_path(self, entry):  # type: ignore[no-untyped-def]
            path = super().data_file_path(entry)
            return path.replace("/dt=", "/dt%3D")

    current = lake.metadata("timed")
    report = clean_orphan_files(
        OtherPathFormat(current.table, current.filesystem), older_than=dt.timedelta(0)
    )

    assert sorted(report.deleted) == sorted(orphans)
    assert all(file_io.exists(path) for path in not_paimons), "outside Java's folders"
    assert file_io.exists(f"{metadata.path}/statistics/{stats_name}"), "used statistics"
    assert all(file_io.exists(metadata.data_file_path(e)) for e in live), "live by name"
    assert read_pypaimon(lake.table("timed")).num_rows == 3
