"""Snapshot expiration, following Java Paimon's `ExpireSnapshotsImpl` + `SnapshotDeletion`.

Range: keep the newest `snapshot.num-retained.min`; expire anything beyond
`snapshot.num-retained.max`; in between expire only snapshots whose successor is older
than `snapshot.time-retained`; never reach a consumer's `nextSnapshot`; at most
`snapshot.expire.limit` per run. Tags do not shorten the range: a tagged snapshot's file
is expired too, but the files the tag still needs are kept.

Crash safety comes from the order: data files first, then manifests and manifest lists,
then the snapshot files in ascending order, then the EARLIEST hint. A crash at any point
leaves the snapshot files that define the range, so a re-run recomputes the same range
and repeats idempotent deletions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analytics_lib.paimon.files import ADD, DELETE, TableMetadata, partition_values
from analytics_lib.paimon.supported import require_supported

if TYPE_CHECKING:
    from pypaimon.snapshot.snapshot import Snapshot


@dataclass
class ExpireReport:
    expired_snapshot_ids: list[int] = field(default_factory=list)
    data_files_deleted: int = 0
    metadata_files_deleted: int = 0
    earliest: int | None = None
    latest: int | None = None
    blocked_by_consumer: int | None = None


def _no_hook(phase: str) -> None:
    return None


def expire_snapshots(
    metadata: TableMetadata,
    now: dt.datetime | None = None,
    after_phase: Callable[[str], None] = _no_hook,
) -> ExpireReport:
    require_supported(metadata, "snapshot expiry")
    options = metadata.options
    report = ExpireReport()
    ids = metadata.snapshot_ids()
    if not ids:
        return report
    earliest, latest = metadata.earliest_snapshot_id(ids) or ids[0], ids[-1]
    report.latest = latest
    now = now or dt.datetime.now(dt.UTC)
    older_than_ms = int((now - options.snapshot_time_retained).timestamp() * 1000)

    min_id = max(latest - options.snapshot_num_retained_max + 1, earliest)
    end = latest - options.snapshot_num_retained_min + 1
    consumer_next = metadata.min_consumer_next_snapshot()
    if consumer_next is not None and consumer_next < end:
        end = consumer_next
        report.blocked_by_consumer = consumer_next
    end = min(end, earliest + options.snapshot_expire_limit)
    # Java 2.x (`ExpireSnapshotsImpl#expire`): snapshot `id` is expired only once its
    # successor is older than `now - time-retained`; time travel to any instant within the
    # retention reads the latest snapshot at or before it, which may be `id` itself.
    for snapshot_id in range(min_id, end):
        successor = metadata.snapshot(snapshot_id + 1)
        if successor is not None and successor.time_millis >= older_than_ms:
            end = snapshot_id
            break
    report.earliest = _expire_until(metadata, earliest, end, report, after_phase)
    return report


def _expire_until(
    metadata: TableMetadata,
    earliest: int,
    end: int,
    report: ExpireReport,
    step: Callable[[str], None],
) -> int:
    if end <= earliest:
        if metadata.read_hint("EARLIEST") is None:
            metadata.write_hint("EARLIEST", earliest)
        return earliest
    # A crash may have deleted the first snapshot files already: start after the last gap.
    begin = earliest
    for snapshot_id in range(end - 1, earliest - 1, -1):
        if not metadata.exists(metadata.snapshot_path(snapshot_id)):
            begin = snapshot_id + 1
            break
    end_snapshot = metadata.snapshot(end)
    if end_snapshot is None:
        return earliest  # the retained boundary vanished: someone else is expiring
    tags = metadata.tagged_snapshots()

    # (1) data files deleted by the deltas of (begin, end]: dead from then on, unless the
    # nearest older tag still holds them.
    tag_files: dict[int, set[tuple]] = {}
    for snapshot_id in range(begin + 1, end + 1):
        snapshot = metadata.snapshot(snapshot_id)
        if snapshot is None:
            continue
        protected = _files_of_previous_tag(metadata, tags, snapshot_id, tag_files)
        report.data_files_deleted += _delete_dead_data_files(metadata, snapshot, protected)
    step("data")

    # (2) manifests and manifest lists of [begin, end) not used by the retained boundary
    # snapshot or by any tag from just before `begin` up to `end`.
    keep: set[str] = set(metadata.metadata_files_of(end_snapshot))
    for tag in _skipping_tags(tags, begin, end):
        keep |= metadata.metadata_files_of(tag)
    for snapshot_id in range(begin, end):
        snapshot = metadata.snapshot(snapshot_id)
        if snapshot is None:
            continue
        for path in sorted(_metadata_files_or_lists(metadata, snapshot) - keep):
            metadata.delete(path)
            report.metadata_files_deleted += 1
            keep.add(path)  # deleted once is enough
    step("manifests")

    # (3) the snapshot files, oldest first, and finally the hint.
    for snapshot_id in range(begin, end):
        metadata.delete(metadata.snapshot_path(snapshot_id))
        report.expired_snapshot_ids.append(snapshot_id)
        step(f"snapshot-{snapshot_id}")
    metadata.write_hint("EARLIEST", end)
    return end


def _metadata_files_or_lists(metadata: TableMetadata, snapshot: Snapshot) -> set[str]:
    """A snapshot's manifests and lists; after a crash mid-expiry its lists may be gone
    already (their manifests were deleted before them), then just the list names."""
    try:
        return metadata.metadata_files_of(snapshot)
    except FileNotFoundError:
        names = [
            snapshot.base_manifest_list,
            snapshot.delta_manifest_list,
            snapshot.changelog_manifest_list,
        ]
        return {f"{metadata.manifest_dir}/{name}" for name in names if name}


def _delete_dead_data_files(
    metadata: TableMetadata, snapshot: Snapshot, protected: set[tuple]
) -> int:
    """Files a snapshot's delta DELETEd (and did not re-ADD) are unreferenced once every
    older snapshot is gone. An unreadable manifest means: delete nothing for this one."""
    try:
        entries = [
            e
            for meta in metadata.manifest_list(snapshot.delta_manifest_list)
            for e in metadata.manifest(meta.file_name)
        ]
    except (OSError, ValueError):
        return 0
    dead: dict[tuple, object] = {}
    for entry in entries:
        key = (partition_values(entry), entry.bucket, entry.file.file_name)
        if entry.kind == ADD:
            dead.pop(key, None)
        elif entry.kind == DELETE:
            dead[key] = entry
    deleted = 0
    for key, entry in dead.items():
        if key in protected:
            continue
        path = metadata.data_file_path(entry)  # type: ignore[arg-type]
        metadata.delete(path)
        directory = path.rsplit("/", 1)[0]
        for extra in entry.file.extra_files:  # type: ignore[attr-defined]
            metadata.delete(f"{directory}/{extra}")
        deleted += 1
    return deleted


def _files_of_previous_tag(
    metadata: TableMetadata,
    tags: list[Snapshot],
    snapshot_id: int,
    cache: dict[int, set[tuple]],
) -> set[tuple]:
    """The live files of the last tag older than `snapshot_id` (Java
    `createDataFileSkipperForTags`): each file is added once and deleted once, so the
    nearest older tag is the only one that can still need a file this delta deleted."""
    previous = [tag for tag in tags if tag.id < snapshot_id]
    if not previous:
        return set()
    tag = previous[-1]
    if tag.id not in cache:
        cache[tag.id] = {
            (partition_values(e), e.bucket, e.file.file_name) for e in metadata.live_entries(tag)
        }
    return cache[tag.id]


def _skipping_tags(tags: list[Snapshot], begin: int, end: int) -> list[Snapshot]:
    """Tags from the last one at or before `begin` to the last one before `end`."""
    at_or_before = [i for i, tag in enumerate(tags) if tag.id <= begin]
    start = at_or_before[-1] if at_or_before else 0
    return [tag for tag in tags[start:] if tag.id < end]
