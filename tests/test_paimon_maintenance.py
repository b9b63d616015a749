"""Paimon maintenance against the invariants that matter, each read back through three
independent readers (pypaimon, chDB's Paimon reader and Java Paimon, the reader Flink and
StarRocks embed) and the files on disk."""

import datetime as dt
import time

import pyarrow as pa
import pytest

from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.paimon.commit import CommitConflict, commit_entries
from analytics_lib.paimon.compaction import compact, plan_bucket
from analytics_lib.paimon.datafiles import deletes_for, write_rows
from analytics_lib.paimon.expire import expire_snapshots
from analytics_lib.paimon.files import TableMetadata, partition_values
from analytics_lib.paimon.manifests import merge_manifests
from analytics_lib.paimon.options import MaintenanceOptions
from analytics_lib.paimon.orphans import clean_orphan_files
from analytics_lib.paimon.partition_expire import expire_partitions, partition_time
from analytics_lib.paimon.table_spec import TableSpec
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

LATER = dt.timedelta(days=2)  # "now" for expiry: every snapshot is older than time-retained


def spec(**options: str) -> TableSpec:
    return TableSpec(
        "events",
        EVENTS_SCHEMA,
        ["dt"],
        {"bucket": "2", "bucket-key": "user_id", "snapshot.num-retained.min": "3", **options},
    )


def fill(lake: PaimonLake, days: list[str], batches: int, **options: str) -> None:
    lake.ensure_table(spec(**options))
    for batch in range(batches):
        for day in days:
            append_events(lake, day, batch)


def both_readers(lake: PaimonLake, clickhouse) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The table's summary, the same through pypaimon, chDB and Java Paimon."""
    via_pypaimon = summary(read_pypaimon(lake.table("events")), "amount")
    via_chdb = summary_chdb(clickhouse, "amount", location=lake.table_location("events"))
    via_java = java_summary(lake)
    assert via_pypaimon == via_chdb == via_java, (via_pypaimon, via_chdb, via_java)
    return via_pypaimon


def java_summary(lake: PaimonLake, **scan: str) -> dict[str, object]:
    return summary_java(lake.catalog_options(), "ods.events", "amount", **scan)


def planned_against(snapshot, lake: PaimonLake) -> TableMetadata:  # type: ignore[no-untyped-def]
    """Table metadata that still sees `snapshot` as latest: a maintenance run that planned
    before another commit landed."""

    class StaleView(TableMetadata):
        def latest_snapshot(self):  # type: ignore[no-untyped-def]
            return snapshot

    current = lake.metadata("events")
    return StaleView(current.table, current.filesystem)


def assert_referenced_files_exist(lake: PaimonLake, from_snapshot: int = 0) -> None:
    """Every file of every snapshot (from `from_snapshot` on) and of every tag exists."""
    metadata = lake.metadata("events")
    missing = sorted(p for p in referenced_files(metadata, from_snapshot) if not metadata.exists(p))
    assert not missing, missing[:5]


def test_options_follow_java_defaults_and_reject_bad_values() -> None:
    defaults = MaintenanceOptions.from_table_options({})
    assert (defaults.snapshot_num_retained_min, defaults.snapshot_expire_limit) == (10, 50)
    assert defaults.snapshot_time_retained == dt.timedelta(hours=1)
    assert defaults.target_file_size == 256 << 20 and defaults.compaction_file_size == 187904815
    parsed = MaintenanceOptions.from_table_options(
        {
            "snapshot.time-retained": "30 min",
            "target-file-size": "8mb",
            "partition.expiration-time": "7 d",
        }
    )
    assert parsed.snapshot_time_retained == dt.timedelta(minutes=30)
    assert parsed.target_file_size == 8 << 20
    assert parsed.partition_expiration_time == dt.timedelta(days=7)
    with pytest.raises(ValueError, match=r"snapshot\.num-retained\.max must be >="):
        MaintenanceOptions.from_table_options(
            {"snapshot.num-retained.min": "5", "snapshot.num-retained.max": "2"}
        )
    with pytest.raises(ValueError, match="not a duration"):
        MaintenanceOptions.from_table_options({"snapshot.time-retained": "soon"})


def test_compaction_plan_is_javas_sliding_window() -> None:
    class File:
        def __init__(self, size: int, seq: int) -> None:
            self.file_size, self.min_sequence_number = size, seq
            self.creation_time, self.file_name = None, f"f{seq}"

    class Entry:
        def __init__(self, size: int, seq: int) -> None:
            self.file = File(size, seq)

    options = MaintenanceOptions(
        target_file_size=100, compaction_min_file_num=3, compaction_max_file_num=4
    )
    sizes = [10, 10, 10, 500, 10, 10, 10, 10, 10]
    groups = plan_bucket([Entry(s, i) for i, s in enumerate(sizes)], options)  # type: ignore[arg-type]
    # Java 1.x: the window reaches max-file-num at the big file and takes it along; the next
    # four small files merge into a still-small output that goes back to the queue front,
    # and with one file after it the window never reaches min-file-num again.
    assert [[e.file.min_sequence_number for e in g] for g in groups] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_compaction_keeps_every_row_for_both_readers(lake: PaimonLake, clickhouse) -> None:  # type: ignore[no-untyped-def]
    fill(lake, ["2025-03-01", "2025-03-02"], batches=8)
    before = both_readers(lake, clickhouse)
    files_before = len(
        lake.metadata("events").live_entries(lake.metadata("events").latest_snapshot())
    )

    report = compact(lake.metadata("events"), lake.create_if_absent())

    metadata = lake.metadata("events")
    latest = metadata.latest_snapshot()
    assert latest is not None and latest.commit_kind == "COMPACT" and latest.delta_record_count == 0
    assert report.commits == 2 and report.files_rewritten > report.files_written
    assert len(metadata.live_entries(latest)) < files_before
    assert both_readers(lake, clickhouse) == before
    assert_referenced_files_exist(lake)
    # Idempotent: nothing left to pick, no new snapshot.
    assert compact(lake.metadata("events"), lake.create_if_absent()).commits == 0
    assert lake.metadata("events").latest_snapshot().id == latest.id


def test_manifest_merge_collapses_manifests_and_changes_nothing(
    lake: PaimonLake, clickhouse
) -> None:  # type: ignore[no-untyped-def]
    fill(lake, ["2025-03-01"], batches=12)
    before = both_readers(lake, clickhouse)
    compact(lake.metadata("events"), lake.create_if_absent())  # leaves DELETE entries behind
    metadata = lake.metadata("events")
    assert len(metadata.manifests_of(metadata.latest_snapshot())) > 10

    report = merge_manifests(metadata, lake.create_if_absent(), force=True)

    metadata = lake.metadata("events")
    latest = metadata.latest_snapshot()
    assert report.mode == "full" and report.manifests_after == 1
    assert latest.id == report.snapshot_id and latest.commit_kind == "COMPACT"
    entries = [e for m in metadata.manifests_of(latest) for e in metadata.manifest(m.file_name)]
    assert all(e.kind == 0 for e in entries), "a full merge resolves every DELETE"
    assert both_readers(lake, clickhouse) == before
    # Default thresholds (30 manifests, 16 MB) leave a merged table alone.
    assert merge_manifests(lake.metadata("events"), lake.create_if_absent()).snapshot_id is None


def test_expiry_keeps_retained_snapshots_and_tags_readable_and_leaves_no_garbage(
    lake: PaimonLake,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    fill(lake, ["2025-03-01", "2025-03-02"], batches=6)
    table = lake.table("events")
    table.create_tag("before_compaction", snapshot_id=7)
    compact(lake.metadata("events"), lake.create_if_absent())
    merge_manifests(lake.metadata("events"), lake.create_if_absent(), force=True)
    for batch in range(6, 9):
        append_events(lake, "2025-03-02", batch)
    current = both_readers(lake, clickhouse)
    ids = lake.metadata("events").snapshot_ids()
    retained = ids[-3:]
    time_travel = {
        i: summary(read_pypaimon(table, **{"scan.snapshot-id": str(i)}), "amount") for i in retained
    }
    tagged = summary(read_pypaimon(table, **{"scan.tag-name": "before_compaction"}), "amount")

    report = expire_snapshots(lake.metadata("events"), now=dt.datetime.now(dt.UTC) + LATER)

    metadata = lake.metadata("events")
    assert metadata.snapshot_ids() == retained
    assert report.expired_snapshot_ids == ids[:-3] and report.earliest == retained[0]
    assert metadata.read_hint("EARLIEST") == retained[0]
    assert both_readers(lake, clickhouse) == current
    for i in retained:
        assert (
            summary(read_pypaimon(table, **{"scan.snapshot-id": str(i)}), "amount")
            == time_travel[i]
        )
        assert java_summary(lake, snapshot_id=str(i)) == time_travel[i], f"snapshot {i}"
    assert (
        summary(read_pypaimon(table, **{"scan.tag-name": "before_compaction"}), "amount") == tagged
    )
    assert java_summary(lake, tag_name="before_compaction") == tagged
    assert_referenced_files_exist(lake)
    assert report.data_files_deleted > 0, "compacted-away files nobody needs are gone"
    # Expiry alone is exact: nothing unreferenced is left for the orphan cleaner.
    assert stored_files(metadata) - referenced_files(metadata) == set()


def test_consumers_and_retention_bound_expiry(lake: PaimonLake) -> None:
    fill(lake, ["2025-03-01"], batches=10, **{"snapshot.expire.limit": "4"})
    from pypaimon.consumer.consumer import Consumer

    lake.table("events").consumer_manager().reset_consumer("flink-job", Consumer(next_snapshot=3))
    report = expire_snapshots(lake.metadata("events"), now=dt.datetime.now(dt.UTC) + LATER)
    assert report.expired_snapshot_ids == [1, 2] and report.blocked_by_consumer == 3

    lake.table("events").consumer_manager().delete_consumer("flink-job")
    report = expire_snapshots(lake.metadata("events"), now=dt.datetime.now(dt.UTC) + LATER)
    assert report.expired_snapshot_ids == [3, 4, 5, 6], "snapshot.expire.limit bounds one run"
    # Young snapshots are kept by snapshot.time-retained (1 h by default).
    assert expire_snapshots(lake.metadata("events")).expired_snapshot_ids == []
    assert lake.metadata("events").snapshot_ids() == [7, 8, 9, 10]


@pytest.mark.parametrize("crash_after", ["data", "manifests", "snapshot-2"])
def test_expiry_interrupted_at_any_step_converges_on_rerun(
    lake: PaimonLake,
    clickhouse,
    crash_after: str,  # type: ignore[no-untyped-def]
) -> None:
    fill(lake, ["2025-03-01"], batches=6)
    compact(lake.metadata("events"), lake.create_if_absent())
    for batch in range(6, 9):
        append_events(lake, "2025-03-01", batch)
    current = both_readers(lake, clickhouse)

    class Crash(Exception):
        pass

    def crash(phase: str) -> None:
        if phase == crash_after:
            raise Crash(phase)

    later = dt.datetime.now(dt.UTC) + LATER
    with pytest.raises(Crash):
        expire_snapshots(lake.metadata("events"), now=later, after_phase=crash)
    # Mid-expiry, the snapshots being expired may already miss files (as in Java); the
    # retained ones and the latest state must be whole.
    retained = lake.metadata("events").snapshot_ids()[-3]
    assert both_readers(lake, clickhouse) == current
    assert_referenced_files_exist(lake, from_snapshot=retained)

    expire_snapshots(lake.metadata("events"), now=later)
    clean_orphan_files(lake.metadata("events"), older_than=dt.timedelta(0))
    metadata = lake.metadata("events")
    assert len(metadata.snapshot_ids()) == 3
    assert both_readers(lake, clickhouse) == current
    assert_referenced_files_exist(lake)
    assert stored_files(metadata) - referenced_files(metadata) == set()


def test_orphan_cleanup_removes_only_old_unreferenced_files(lake: PaimonLake, clickhouse) -> None:  # type: ignore[no-untyped-def]
    fill(lake, ["2025-03-01"], batches=3)
    table = lake.table("events")
    # A writer that crashed after writing its files but before committing.
    stray = write_rows(
        table,
        pa.table({"user_id": ["x"], "amount": [1], "dt": ["2025-03-01"]}, schema=EVENTS_SCHEMA),
        0,
    )
    metadata = lake.metadata("events")
    stray_path = metadata.data_file_path(stray[0])
    assert metadata.exists(stray_path)
    current = both_readers(lake, clickhouse)

    young = clean_orphan_files(metadata)  # default guard: one day
    assert young.deleted == [] and metadata.exists(stray_path)
    dry = clean_orphan_files(metadata, older_than=dt.timedelta(0), dry_run=True)
    assert dry.deleted == [stray_path] and metadata.exists(stray_path)
    done = clean_orphan_files(lake.metadata("events"), older_than=dt.timedelta(0))
    assert done.deleted == [stray_path] and not metadata.exists(stray_path)
    assert both_readers(lake, clickhouse) == current
    assert_referenced_files_exist(lake)


def test_partition_expiration_drops_old_days_keeps_new_and_time_travel(
    lake: PaimonLake, clickhouse
) -> None:  # type: ignore[no-untyped-def]
    today = dt.datetime.now(dt.UTC).date()
    days = [str(today - dt.timedelta(days=n)) for n in (10, 8, 2, 0)]
    fill(
        lake,
        days,
        batches=2,
        **{"partition.expiration-time": "7 d", "partition.timestamp-formatter": "yyyy-MM-dd"},
    )
    before_id = lake.metadata("events").latest_snapshot().id
    before = summary(read_pypaimon(lake.table("events")), "amount")

    report = expire_partitions(lake.metadata("events"), lake.create_if_absent())

    assert sorted(report.expired) == [f"dt={days[0]}", f"dt={days[1]}"]
    after = both_readers(lake, clickhouse)
    assert set(after["per_partition"]) == set(days[2:])
    assert lake.metadata("events").latest_snapshot().commit_kind == "OVERWRITE"
    travel = summary(
        read_pypaimon(lake.table("events"), **{"scan.snapshot-id": str(before_id)}), "amount"
    )
    assert travel == before, "dropped partitions stay readable in older snapshots"
    assert java_summary(lake, snapshot_id=str(before_id)) == before
    assert expire_partitions(lake.metadata("events"), lake.create_if_absent()).expired == []


def test_partition_time_parsing_matches_java_extractor() -> None:
    assert partition_time(["dt"], ("2025-03-01",), None, None) == dt.datetime(
        2025, 3, 1, tzinfo=dt.UTC
    )
    assert partition_time(
        ["dt", "hr"], ("20250301", "07"), "$dt $hr:00:00", "yyyyMMdd HH:mm:ss"
    ) == dt.datetime(2025, 3, 1, 7, tzinfo=dt.UTC)
    assert partition_time(["dt"], ("not-a-date",), None, None) is None
    assert partition_time(["dt"], (None,), None, None) is None


def test_compaction_racing_a_partition_drop_fails_cleanly_and_loses_nothing(
    lake: PaimonLake,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    fill(lake, ["2025-03-01", "2025-03-02"], batches=6)
    metadata = lake.metadata("events")
    stale = metadata.latest_snapshot()
    # The partition is dropped after compaction planned against `stale`.
    live = metadata.live_entries(stale)
    commit_entries(
        lake.table("events"),
        lake.create_if_absent(),
        "OVERWRITE",
        lambda _s: deletes_for([e for e in live if partition_values(e) == ("2025-03-01",)]),
    )
    expected = both_readers(lake, clickhouse)
    files_before = stored_files(lake.metadata("events"))

    report = compact(planned_against(stale, lake), lake.create_if_absent())

    assert report.partitions_skipped_for_conflict == ["2025-03-01"]
    assert report.commits == 1, "the untouched partition is still compacted"
    assert both_readers(lake, clickhouse) == expected
    assert_referenced_files_exist(lake)
    metadata = lake.metadata("events")
    leftovers = stored_files(metadata) - referenced_files(metadata) - files_before
    assert leftovers == set(), "the refused compaction's new files were removed"


def test_compaction_racing_an_append_keeps_both(lake: PaimonLake, clickhouse) -> None:  # type: ignore[no-untyped-def]
    fill(lake, ["2025-03-01"], batches=6)
    metadata = lake.metadata("events")
    stale = metadata.latest_snapshot()
    append_events(lake, "2025-03-01", 99)  # lands between planning and commit
    expected = both_readers(lake, clickhouse)

    report = compact(planned_against(stale, lake), lake.create_if_absent())
    assert report.commits == 1 and not report.partitions_skipped_for_conflict
    assert both_readers(lake, clickhouse) == expected


def test_concurrent_committers_never_lose_a_commit(lake: PaimonLake, clickhouse) -> None:  # type: ignore[no-untyped-def]
    """pypaimon's rename commit lost commits under concurrency; the atomic create does not."""
    from concurrent.futures import ThreadPoolExecutor

    lake.ensure_table(spec())
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda batch: append_events(lake, "2025-03-01", batch), range(18)))
    result = both_readers(lake, clickhouse)
    assert result["rows"] == 18 * 20
    assert lake.metadata("events").snapshot_ids() == list(range(1, 19))


def test_commit_of_a_stale_delete_is_refused(lake: PaimonLake) -> None:
    fill(lake, ["2025-03-01"], batches=6)
    metadata = lake.metadata("events")
    live = metadata.live_entries(metadata.latest_snapshot())
    compact(metadata, lake.create_if_absent())
    with pytest.raises(CommitConflict):
        commit_entries(
            lake.table("events"), lake.create_if_absent(), "OVERWRITE", lambda _s: deletes_for(live)
        )


@pytest.fixture(scope="module")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.support.servers import local_flink

    with local_flink(tmp_path_factory.mktemp("flink")) as cluster:
        yield cluster


def test_java_paimon_maintenance_on_flink_keeps_every_invariant(  # type: ignore[no-untyped-def]
    lake: PaimonLake, clickhouse, flink_cluster
) -> None:
    """The same invariants, with Java Paimon's own procedures doing the work (one Flink
    submission: full compaction, manifest compaction, partition expiry, snapshot expiry,
    orphan removal): readers agree before and after, retained snapshots and the tag
    time-travel to what they held, the expired day is gone, no referenced file is missing
    and nothing unreferenced is left."""
    fill(
        lake,
        ["2025-03-01", "2025-03-02", dt.date.today().isoformat()],
        batches=4,
        **{
            "partition.expiration-time": "7 d",
            "partition.timestamp-formatter": "yyyy-MM-dd",
            "snapshot.time-retained": "1 s",
        },
    )
    table = lake.table("events")
    table.create_tag("kept", snapshot_id=5)
    tagged = summary(read_pypaimon(table, **{"scan.tag-name": "kept"}), "amount")
    orphan = lake.table_location("events") + "/dt=2025-03-02/bucket-0/data-orphan-0.parquet"
    with open(orphan, "wb") as handle:
        handle.write(b"left by a killed writer")
    before = both_readers(lake, clickhouse)
    ids_before = lake.metadata("events").snapshot_ids()
    time.sleep(1.5)  # past time-retained, and the orphan older than the run's cut-off

    run = lake.maintain_with_flink(
        "events",
        flink_cluster.rest_url,
        ["compact", "merge_manifests", "expire_partitions", "expire_snapshots", "clean_orphans"],
        orphan_older_than=dt.timedelta(0),
    )

    assert set(run.steps) == {
        "compact",
        "merge_manifests",
        "expire_partitions",
        "expire_snapshots",
        "clean_orphans",
    }, run
    after = both_readers(lake, clickhouse)
    today = dt.date.today().isoformat()
    assert after["per_partition"] == {today: before["per_partition"][today]}  # type: ignore[index]
    metadata = lake.metadata("events")
    ids = metadata.snapshot_ids()
    assert len(ids) <= 3 + 3 and ids[0] > ids_before[0], (ids_before, ids)  # min retained 3
    live = metadata.live_entries(metadata.snapshot(ids[-1]))
    assert len(live) <= 2, [e.file.file_name for e in live]  # one file per bucket of today
    assert java_summary(lake, tag_name="kept") == tagged
    assert summary(read_pypaimon(table, **{"scan.tag-name": "kept"}), "amount") == tagged
    assert_referenced_files_exist(lake)
    assert not metadata.exists(orphan)


CALLS_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("job", "flink/jobs/paimon_maintenance.py")
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
settings, options = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    print(json.dumps([statement for _step, statement in job.calls(settings, options)]))
except ValueError as exc:
    print(json.dumps(str(exc)))
"""


def test_flink_procedure_arguments_are_shape_checked_literals() -> None:
    """Flink's CALL has no bound parameters: each argument is checked against its shape and
    quoted, so a table name or option that could end the literal is refused."""
    import json
    import subprocess

    from analytics_lib.flink_cluster.cluster import FlinkInstallation
    from analytics_lib.project import PROJECT_ROOT

    def calls(settings: dict, options: dict) -> object:
        result = subprocess.run(
            [str(FlinkInstallation().python), "-c", CALLS_PROBE, json.dumps(settings),
             json.dumps(options)],
            capture_output=True, text=True, cwd=PROJECT_ROOT, check=True, timeout=120,
        )  # fmt: skip
        return json.loads(result.stdout)

    settings = {
        "table": "ods.events",
        "steps": ["compact", "expire_partitions", "clean_orphans"],
        "compact_strategy": "full",
        "full_compact_where": "dt < '2025-03-02'",
        "orphan_older_than": "2025-03-01 00:00:00",
    }
    options = {"partition.expiration-time": "7 d", "partition.timestamp-pattern": "$dt"}
    assert calls(settings, options) == [
        "CALL paimon.sys.compact(`table` => 'ods.events', compact_strategy => 'full', "
        "`where` => 'dt < ''2025-03-02''')",
        "CALL paimon.sys.expire_partitions(`table` => 'ods.events', expiration_time => '7 d', "
        "timestamp_pattern => '$dt')",
        "CALL paimon.sys.remove_orphan_files(`table` => 'ods.events', "
        "older_than => '2025-03-01 00:00:00', dry_run => false)",
    ]
    refused = calls({**settings, "table": "ods.x') --"}, options)
    assert isinstance(refused, str) and "refusing table argument" in refused
    refused = calls(settings, {"partition.expiration-time": "7 d'); CALL x('"})
    assert isinstance(refused, str) and "refusing option argument" in refused
